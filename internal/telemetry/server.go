package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors registered. Each service owns one; nothing registers globally.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Check reports whether one dependency is ready; it must honour ctx.
type Check func(ctx context.Context) error

// Server serves /metrics, /healthz and /readyz, and any handler a service
// mounts next to them.
type Server struct {
	mux    *http.ServeMux
	logger *slog.Logger

	mu     sync.Mutex
	checks map[string]Check
}

// CheckTimeout bounds each readiness check.
const CheckTimeout = 2 * time.Second

// NewServer returns a server exposing reg's metrics (none when reg is nil:
// they are served elsewhere, see MetricsHandler).
func NewServer(reg *prometheus.Registry, logger *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), logger: logger, checks: make(map[string]Check)}
	if reg != nil {
		s.mux.Handle("GET /metrics", MetricsHandler(reg))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	return s
}

// MetricsHandler serves reg's metrics in Prometheus' formats.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// AddCheck adds a readiness check under name; /readyz answers 503 while any
// check fails.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handle mounts h at pattern (net/http ServeMux syntax).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's routes, e.g. for httptest.
func (s *Server) Handler() http.Handler { return s.mux }

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		names = append(names, n)
		checks[n] = c
	}
	s.mu.Unlock()
	slices.Sort(names)

	res := readiness{Status: "ready", Checks: make(map[string]string, len(names))}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
			defer cancel()
			msg := "ok"
			if err := checks[n](ctx); err != nil {
				msg = err.Error()
			}
			mu.Lock()
			res.Checks[n] = msg
			mu.Unlock()
		})
	}
	wg.Wait()
	code := http.StatusOK
	for _, msg := range res.Checks {
		if msg != "ok" {
			res.Status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen binds addr, so that a port conflict is reported at start-up with
// the address, before the service does anything else.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another process using the port?)", addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully, giving
// in-flight requests up to five seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return ServeHTTP(ctx, ln, s.mux, s.logger)
}

// ServeHTTP serves h on ln until ctx ends, then shuts down gracefully.
// A client has ReadHeaderTimeout to send a request's headers and a kept-
// alive connection closes after IdleTimeout without a request; bodies and
// answers are bounded by each service's handler, which knows how long its
// requests may take (the registry's limits).
//
// A connection that has sent no request yet counts as in flight for
// net/http's Shutdown until it is five seconds old (a client's transport
// may dial one it then does not use); when the grace period ends with no
// request in progress, such connections are closed and the stop is clean.
func ServeHTTP(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	var active atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			active.Add(1)
			defer active.Add(-1)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		if n := active.Load(); n > 0 || !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("http server on %s: shutdown with %d requests in progress: %w", ln.Addr(), n, err)
		}
		logger.Debug("http server: closed connections that had sent no request at shutdown", "listen", ln.Addr().String())
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
