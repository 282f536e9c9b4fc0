package devmesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/registry"
	"github.com/meshwork/meshwork/replicator"
)

// Mesh is a running dev mesh.
type Mesh struct {
	cfg       Config
	sec       *security // nil: an open dev mesh
	logger    *slog.Logger
	sites     []*site
	lock      *os.File
	endpoints Endpoints

	adminLn      net.Listener
	controlPlane *unit
	cancel       context.CancelFunc
	adminDone    chan error
}

// Start starts every site of the mesh and, unless disabled, the admin server.
// It fails with a clear error if another dev mesh holds the same directory
// or a port is taken. The mesh runs until Close.
func Start(ctx context.Context, cfg Config) (_ *Mesh, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("dev mesh: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	m := &Mesh{cfg: cfg, logger: logger, lock: lock, endpoints: Endpoints{Sites: map[string]SiteEndpoints{}}}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if cfg.Secure {
		if m.sec, err = setupSecurity(cfg.Dir, logger); err != nil {
			return nil, err
		}
		m.endpoints.TLSCA = m.sec.certs.CA
		m.endpoints.SASLMechanism = SASLMechanism
		m.endpoints.Credentials = filepath.Join(cfg.Dir, CredentialsFile)
		m.endpoints.Policy = filepath.Join(cfg.Dir, PolicyFile)
	}
	reg := telemetry.NewRegistry()
	if m.sec != nil {
		if err := m.sec.startPolicy(ctx, logger, reg); err != nil {
			return nil, err
		}
	}
	for _, sc := range cfg.Sites {
		s, err := startSite(ctx, sc, cfg.MQTT, filepath.Join(cfg.Dir, sc.Name), m.sec, logger.With("site", sc.Name))
		if err != nil {
			return nil, err
		}
		m.sites = append(m.sites, s)
		reg.MustRegister(s.collectors()...)
	}
	// The services of every site, each as its own command runs it. The
	// first site is the primary: its registry writes the schema log.
	var primary *site
	for i, s := range m.sites {
		log := logger.With("site", s.name)
		ln, err := telemetry.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Sites[i].Ports[ServiceRegistry])))
		if err != nil {
			return nil, fmt.Errorf("dev mesh: site %s registry: %w", s.name, err)
		}
		s.endpoints.Registry = s.scheme() + ln.Addr().String()
		rc := s.registryConfig(ln.Addr().String(), primary)
		if ln, err = serveTLS(ln, rc.Common, log); err != nil {
			return nil, fmt.Errorf("dev mesh: site %s registry: %w", s.name, err)
		}
		r, err := registry.New(rc, log.With("service", unitRegistry), reg, registry.WithAuthorizer(m.sec.authorizer()))
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("dev mesh: site %s registry: %w", s.name, err)
		}
		if err := s.start(ctx, unitRegistry, r, ln, log); err != nil {
			return nil, err
		}
		if i == 0 {
			primary = s
		}
	}
	// The primary's registry must have loaded the schema log and know its
	// leader before the others can. They are ready once their site's
	// replicator, started below, has brought them the log; the wait for
	// every service at the end covers them.
	if err := waitReady(ctx, primary.name+" registry", primary.unit(unitRegistry).svc.Ready, 60*time.Second); err != nil {
		return nil, err
	}
	for i, s := range m.sites {
		log := logger.With("site", s.name)
		if err := s.createTopics(ctx, MQTTIngressTopic, MQTTEgressTopic); err != nil {
			return nil, err
		}
		a, err := mqtt.New(s.adapterConfig(), log.With("service", unitAdapter), reg)
		if err != nil {
			return nil, fmt.Errorf("dev mesh: site %s mqtt adapter: %w", s.name, err)
		}
		if err := s.start(ctx, unitAdapter, a, nil, log); err != nil {
			return nil, err
		}
		if sc := cfg.Sites[i]; sc.AMQP != "" {
			if err := s.startAMQP(ctx, sc.AMQP, log, reg); err != nil {
				return nil, err
			}
		}
		if err := s.startREST(ctx, cfg.Sites[i].Ports[ServiceHTTP], reg, log); err != nil {
			return nil, err
		}
		m.endpoints.Sites[s.name] = s.endpoints
	}
	// The replicators serve their status (link health) on listeners of
	// their own, which mesh.yaml names; they read their sites from it.
	replLns, err := m.writeMeshFile(primary.name)
	if err != nil {
		return nil, err
	}
	for i, s := range m.sites {
		log := logger.With("site", s.name)
		rc := s.replicatorConfig(m.MeshFile(), replLns[i].Addr().String(), cfg.InterestTTL)
		ln, err := serveTLS(replLns[i], rc.Common, log)
		if err != nil {
			closeAll(replLns[i+1:])
			return nil, fmt.Errorf("dev mesh: site %s replicator: %w", s.name, err)
		}
		r, err := replicator.New(rc, log.With("service", unitReplicator), reg)
		if err != nil {
			ln.Close()
			closeAll(replLns[i+1:])
			return nil, fmt.Errorf("dev mesh: site %s replicator: %w", s.name, err)
		}
		if err := s.start(ctx, unitReplicator, r, ln, log); err != nil {
			closeAll(replLns[i+1:])
			return nil, err
		}
	}
	for _, s := range m.sites {
		for _, u := range s.units {
			if err := waitReady(ctx, s.name+" "+u.name, u.svc.Ready, 60*time.Second); err != nil {
				return nil, err
			}
		}
	}
	if cfg.AdminPort >= 0 {
		if err := m.startAdmin(ctx, reg); err != nil {
			return nil, err
		}
	}
	if cfg.ControlPlanePort >= 0 {
		if err := m.startControlPlane(ctx, reg); err != nil {
			return nil, err
		}
	}
	if err := m.endpoints.WriteFile(m.EndpointsFile()); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mesh) startAdmin(ctx context.Context, reg *prometheus.Registry) error {
	ln := m.adminLn
	srv := telemetry.NewServer(reg, m.logger)
	for _, s := range m.sites {
		srv.AddCheck(s.name+".kafka", s.kafkaReady)
		srv.AddCheck(s.name+".mqtt", s.mqttReady)
		for _, u := range s.units {
			srv.AddCheck(s.name+"."+u.name, u.svc.Ready)
		}
	}
	m.serveUnitReadiness(srv)
	m.endpoints.Admin = schemeOf(m.sec) + ln.Addr().String()
	ln, err := serveTLS(ln, m.adminCommon(), m.logger)
	if err != nil {
		return fmt.Errorf("dev mesh admin: %w", err)
	}
	handler, closeAuth, err := m.sec.protect(srv.Handler(), nil, m.logger)
	if err != nil {
		ln.Close()
		return fmt.Errorf("dev mesh admin: %w", err)
	}
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.adminLn = ln
	m.adminDone = make(chan error, 1)
	go func() {
		defer closeAuth()
		m.adminDone <- telemetry.ServeHTTP(ctx, ln, handler, m.logger)
	}()
	return nil
}

// adminCommon is the common block of the dev mesh's own listener (its
// admin server): secured as the dev mesh's principal.
func (m *Mesh) adminCommon() service.Common {
	c := service.DefaultCommon("", kafkaclient.Config{})
	secureServiceConfig(&c, m.sec, principalDevMesh)
	return c
}

// Endpoints returns how to reach every service of the mesh.
func (m *Mesh) Endpoints() Endpoints { return m.endpoints }

// EndpointsFile is where Start wrote the endpoints.
func (m *Mesh) EndpointsFile() string { return filepath.Join(m.cfg.Dir, "endpoints.json") }

// Close stops every site, flushing Kafka data to disk, and releases the
// directory. It is safe to call more than once.
func (m *Mesh) Close() error {
	var errs []error
	if m.controlPlane != nil {
		errs = append(errs, m.controlPlane.close())
		m.controlPlane = nil
	}
	if m.cancel == nil && m.adminLn != nil {
		m.adminLn.Close() // listened, never served
	}
	if m.cancel != nil {
		m.cancel()
		if err := <-m.adminDone; err != nil {
			errs = append(errs, err)
		}
		m.cancel = nil
	}
	for i := len(m.sites) - 1; i >= 0; i-- {
		errs = append(errs, m.sites[i].close())
	}
	m.sites = nil
	m.sec.close()
	if m.lock != nil {
		_ = os.Remove(m.EndpointsFile())
		errs = append(errs, m.lock.Close())
		m.lock = nil
	}
	return errors.Join(errs...)
}

// waitReady waits until check passes, so that the endpoints Start prints
// are ready to use.
func waitReady(ctx context.Context, what string, check func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dev mesh: %s not ready after %s: %w", what, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockDir takes an exclusive lock on dir, so two dev meshes never share (and
// corrupt) the same state.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dev mesh: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("dev mesh: %s is in use by another running dev mesh; stop it first or pass another -dir", dir)
	}
	return f, nil
}

// probe dials addr, for readiness checks.
func probe(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
