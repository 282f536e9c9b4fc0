package traceindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// Service runs an Index inside a service (the control plane): Start opens
// the store and follows _mesh.trace of the site's Kafka, Handler serves
// the API (503 until started), OpenAPI documents it, Close stops. It is a
// service.HTTPService.
type Service struct {
	cfg   Config
	kafka kafkaclient.Config
	site  string
	log   *slog.Logger

	ix   atomic.Pointer[Index]
	cl   *kgo.Client
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewService validates cfg and returns the service of the index of site,
// reading _mesh.trace of the cluster kafka; it does no I/O.
func NewService(cfg Config, kafka kafkaclient.Config, site string, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("trace index: %w", err)
	}
	return &Service{cfg: cfg, kafka: kafka, site: site, log: log}, nil
}

// Start opens the store and starts following _mesh.trace. ctx is not
// kept.
func (s *Service) Start(context.Context) error {
	ix, err := Open(s.cfg, s.log)
	if err != nil {
		return err
	}
	opts, err := ix.FollowOptions()
	if err == nil {
		s.cl, err = kafkaclient.New(s.kafka, "controlplane-traceindex", s.site, opts...)
	}
	if err != nil {
		_ = ix.Close()
		return err
	}
	life, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() { ix.Follow(life, s.cl) })
	s.ix.Store(ix)
	return nil
}

// Ready reports whether the index is open and followed.
func (s *Service) Ready(context.Context) error {
	if s.ix.Load() == nil {
		return errors.New("trace index: not started")
	}
	return nil
}

// Close stops following and closes the store.
func (s *Service) Close(context.Context) error {
	ix := s.ix.Swap(nil)
	if ix == nil {
		return nil
	}
	s.stop()
	s.wg.Wait()
	s.cl.Close()
	return ix.Close()
}

// Index is the open index; nil before Start and after Close.
func (s *Service) Index() *Index { return s.ix.Load() }

// Handler serves the index's API (see Index.Handler).
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ix := s.ix.Load()
		if ix == nil {
			writeError(w, http.StatusServiceUnavailable, "the trace index is not open (starting or stopping); try again in a few seconds")
			return
		}
		ix.Handler().ServeHTTP(w, r)
	})
}

// OpenAPI returns the paths and component schemas of the API (the
// fragment in openapi.json), for the control plane's /openapi.json.
func (s *Service) OpenAPI() (paths, schemas map[string]any) {
	var doc struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		panic("traceindex: openapi.json does not parse: " + err.Error()) // embedded; a test parses it
	}
	return doc.Paths, doc.Components.Schemas
}
