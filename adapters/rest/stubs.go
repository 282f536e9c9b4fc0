package rest

import (
	"context"
	"net/http"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

func (a *Adapter) handleOpenAPI(w http.ResponseWriter, r *http.Request) {}
func (a *Adapter) consumerRoutes(mux *http.ServeMux)                    {}

type idempotency struct{}

func newIdempotency(*Adapter) *idempotency                                           { return &idempotency{} }
func (i *idempotency) start(context.Context, context.Context, *sync.WaitGroup) error { return nil }
func (i *idempotency) ready() error                                                  { return nil }
func (i *idempotency) close()                                                        {}

type txProducer struct{}

func (t *txProducer) produce(ctx context.Context, recs []*kgo.Record) []produced { return nil }

func (a *Adapter) idempotent(w http.ResponseWriter, r *http.Request, body []byte, fn func(context.Context, *txProducer) (int, any, error), ct string) {
	status, resp, err := fn(r.Context(), nil)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, ct, resp)
}
