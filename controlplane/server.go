package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/meshfile"
	"github.com/meshwork/meshwork/policy"
)

// Server is the control plane: a service.HTTPService (New, Start, Ready,
// Close, Handler).
type Server struct {
	cfg      Config
	log      *slog.Logger
	watcher  *meshfile.Watcher
	http     *http.Client // its transport is sites
	sites    *siteTransport
	mounts   []mount
	attached []service.HTTPService // started, checked and closed with the server
	handler  http.Handler
	openapi  []byte // the document /openapi.json serves
	m        *metrics
	authz    *policy.Authorizer // nil: no policy, everything allowed

	snap atomic.Pointer[snapshot]

	writesMu sync.Mutex
	writes   []leaseWrite // interest written through the API, for gatherings that began before

	admins adminClients // one per site, across gatherings

	samplesMu sync.Mutex
	samples   map[string]map[string]sample // by site and topic: the last producer samples
	refresh   chan struct{}                // asks for a gathering now (after a change of interest)

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// mount is a handler another package adds to the API.
type mount struct {
	pattern string
	h       http.Handler
}

// Option configures a Server.
type Option func(*Server)

// Mount serves h at pattern (net/http ServeMux syntax, e.g.
// "GET /v1/events/{id}/trace") on the control plane's API, beside its own
// routes.
func Mount(pattern string, h http.Handler) Option {
	return func(s *Server) { s.mounts = append(s.mounts, mount{pattern, h}) }
}

// Attach runs svc as part of the control plane (the trace index, say): it
// is started with it, its readiness is part of the control plane's, it is
// closed with it, and its Handler serves the patterns given (e.g.
// "/v1/events/" and "/v1/traces") on the control plane's API.
func Attach(svc service.HTTPService, patterns ...string) Option {
	return func(s *Server) {
		s.attached = append(s.attached, svc)
		for _, p := range patterns {
			s.mounts = append(s.mounts, mount{p, svc.Handler()})
		}
	}
}

// New builds the control plane from cfg, which it validates, reading the
// mesh file once.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("controlplane config: %w", err)
	}
	w, err := meshfile.NewWatcher(cfg.MeshFile, meshfile.WithLogger(logger), meshfile.WithMetrics(reg))
	if err != nil {
		return nil, err
	}
	sites := newSiteTransport()
	authed, err := cfg.SiteAuth.Transport(sites, "site_auth")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: logger, watcher: w, http: &http.Client{Timeout: cfg.Timeout, Transport: authed}, sites: sites,
		m: newMetrics(reg), refresh: make(chan struct{}, 1), samples: map[string]map[string]sample{}}
	for _, o := range opts {
		o(s)
	}
	if s.openapi, err = openAPIDoc(s.attached); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Start gathers the mesh's state once (so the API answers from the start
// with what could be seen), then follows the mesh file and gathers again
// every refresh_interval until Close.
func (s *Server) Start(ctx context.Context) error {
	for i, a := range s.attached {
		if err := a.Start(ctx); err != nil {
			for _, b := range s.attached[:i] {
				_ = b.Close(ctx)
			}
			s.attached = s.attached[i:] // closed by Close, as after a failed start
			return err
		}
	}
	s.snap.Store(s.gather(ctx, s.watcher.Mesh(), nil))
	life, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() {
		if err := s.watcher.Run(life); err != nil {
			s.log.Error("controlplane: cannot follow the mesh file; restart to read a change", "error", err)
		}
	})
	s.wg.Go(func() { s.run(life) })
	return nil
}

func (s *Server) run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.refresh:
		case <-s.watcher.Changes():
		}
		start := time.Now()
		snap := s.gather(ctx, s.watcher.Mesh(), s.snap.Load())
		if ctx.Err() != nil {
			return
		}
		s.store(snap, start)
		s.m.observe(snap, time.Since(start))
	}
}

// refreshSoon asks for a gathering now.
func (s *Server) refreshSoon() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Ready reports whether the control plane has gathered once; the mesh it
// reports on may be unhealthy; that is what it reports.
func (s *Server) Ready(ctx context.Context) error {
	if s.snap.Load() == nil {
		return errors.New("controlplane: the mesh not gathered yet")
	}
	if err := s.watcher.Err(); err != nil {
		return fmt.Errorf("controlplane: the mesh file is invalid, the last valid version stays in force: %w", err)
	}
	for _, a := range s.attached {
		if err := a.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops gathering and closes what is attached.
func (s *Server) Close(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
	s.admins.close()
	s.sites.close()
	var errs []error
	for _, a := range s.attached {
		errs = append(errs, a.Close(ctx))
	}
	return errors.Join(errs...)
}

// Handler serves the API (see openapi.json).
func (s *Server) Handler() http.Handler { return s.handler }

// Mesh returns the mesh file's version in force, for attached services
// that need the sites (their Kafka clusters) as the control plane sees them.
func (s *Server) Mesh() *meshfile.Mesh { return s.watcher.Mesh() }

// siteKafka returns the Kafka client configuration of the named site.
func (s *Server) siteKafka(site string) (kafkaclient.Config, bool) {
	ms, ok := s.watcher.Mesh().Site(site)
	return ms.Kafka, ok
}
