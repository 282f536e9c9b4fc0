package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// limits keeps the API's resources bounded whatever its clients do: a cap
// on requests in flight and a smaller one on request bodies being read
// (beyond either, 429 with Retry-After at once, rather than a queue that
// grows), a deadline to read a body and one to write the answer, and a
// body size matched to what one _schemas record can hold. Slow uploads
// take upload places only, so reads keep being served while they trickle.
type limits struct {
	requests chan struct{} // one place per request in flight
	uploads  chan struct{} // one place per body being read
	readTimeout,
	writeTimeout time.Duration
	// maxRecord is the largest _schemas record the log takes, in bytes;
	// Start sets it from the topic's max.message.bytes.
	maxRecord atomic.Int64
	rejected  func(reason string)
}

// producerBatchMaxBytes is the writer's largest record batch (franz-go's
// default, stated), which bounds a record as the topic's max.message.bytes
// does.
const producerBatchMaxBytes = 1000012

// defaultMaxRecord is the record size assumed until the topic says: the
// writer's batch limit (below Kafka's default max.message.bytes), less a
// record batch's overhead.
const defaultMaxRecord = producerBatchMaxBytes - recordOverhead

// recordOverhead is what a record batch adds to a record's key and value
// (batch header, record header, varints), rounded up.
const recordOverhead = 512

// bodySlack is what a request body may hold beside its schema text
// (references, metadata, rule sets) within the body limit.
const bodySlack = 64 << 10

func newLimits(cfg *Config, rejected func(reason string)) *limits {
	l := &limits{
		requests:     make(chan struct{}, cfg.MaxRequests),
		uploads:      make(chan struct{}, cfg.MaxUploads),
		readTimeout:  cfg.RequestTimeout,
		writeTimeout: 2*cfg.WriteTimeout + cfg.RequestTimeout,
		rejected:     rejected,
	}
	l.maxRecord.Store(defaultMaxRecord)
	return l
}

// maxBody is the largest request body read: a schema that fits a record,
// and what goes with it.
func (l *limits) maxBody() int64 { return l.maxRecord.Load() + bodySlack }

// guard admits a request if a place is free, else answers 429 at once,
// and gives the answer a deadline: a client that does not read it loses
// its connection instead of holding a goroutine.
func (l *limits) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case l.requests <- struct{}{}:
		default:
			l.tooMany(w, "requests")
			return
		}
		defer func() { <-l.requests }()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(l.writeTimeout))
		next.ServeHTTP(w, req)
	})
}

func (l *limits) tooMany(w http.ResponseWriter, what string) {
	l.rejected(what)
	w.Header().Set("Retry-After", "1")
	// Without reading a body the client may still be sending: close the
	// connection rather than drain it.
	w.Header().Set("Connection", "close")
	writeErr(w, apiErr(http.StatusTooManyRequests, http.StatusTooManyRequests,
		"Too many concurrent %s; retry after a second", what))
}

// readBody reads a request's body in full before the handler runs, under
// an upload place, within the body limit and the read deadline, and hands
// the handler the bytes read. A body larger than one _schemas record can
// hold is refused as Confluent refuses a schema too large (422, 42209)
// when it registers one, else with 413.
func (l *limits) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
			next.ServeHTTP(w, req)
			return
		}
		select {
		case l.uploads <- struct{}{}:
		default:
			l.tooMany(w, "uploads")
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(l.readTimeout))
		limit := l.maxBody()
		body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
		<-l.uploads
		_ = rc.SetReadDeadline(time.Time{})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.rejected("slow_body")
			w.Header().Set("Connection", "close")
			writeErr(w, apiErr(http.StatusRequestTimeout, http.StatusRequestTimeout,
				"The request body was not received within %s (request_timeout)", l.readTimeout))
			return
		case err != nil:
			writeErr(w, errBadRequest(err))
			return
		case int64(len(body)) > limit:
			l.rejected("too_large")
			w.Header().Set("Connection", "close")
			if isWrite(req) && req.Method == http.MethodPost {
				writeErr(w, errSchemaTooLarge())
				return
			}
			writeErr(w, apiErr(http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge,
				"Request body larger than %d bytes", limit))
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
		next.ServeHTTP(w, req)
	})
}

// checkRecord refuses a record larger than the log takes, before it is
// written, with Confluent's answer to a schema too large.
func (l *limits) checkRecord(key, value []byte) error {
	if n := int64(len(key) + len(value)); n > l.maxRecord.Load() {
		return fmt.Errorf("%w: a record of %d bytes, the schema log takes %d", errSchemaTooLarge(), n, l.maxRecord.Load())
	}
	return nil
}
