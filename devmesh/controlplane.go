package devmesh

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/controlplane/traceindex"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/meshfile"
)

// MeshFile is the mesh.yaml Start writes: the dev mesh's sites, as its
// replicators and control plane read them.
func (m *Mesh) MeshFile() string { return filepath.Join(m.cfg.Dir, "mesh.yaml") }

// writeMeshFile writes the mesh's mesh.yaml: every site's Kafka and
// registry, the admin URLs of its adapters (their readiness on the dev
// mesh's admin server, which it starts listening on now) and of its
// replicator (on a listener of its own, returned per site for the
// replicator to serve on). The links are a full mesh, the first site is
// the schemas' primary.
func (m *Mesh) writeMeshFile(primary string) (_ []net.Listener, err error) {
	var lns []net.Listener
	defer func() {
		if err != nil {
			closeAll(lns)
		}
	}()
	adminURL := ""
	if m.cfg.AdminPort >= 0 {
		if m.adminLn, err = telemetry.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(m.cfg.AdminPort))); err != nil {
			return nil, fmt.Errorf("dev mesh admin: %w", err)
		}
		adminURL = schemeOf(m.sec) + m.adminLn.Addr().String()
	}
	mf := meshfile.Mesh{Policies: meshfile.Policies{SchemasPrimary: primary}}
	for _, s := range m.sites {
		ln, err := telemetry.Listen("127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dev mesh: site %s replicator: %w", s.name, err)
		}
		lns = append(lns, ln)
		ms := meshfile.Site{Name: s.name, Kafka: kafkaclient.Config{Brokers: []string{s.endpoints.Kafka}}, Registry: s.endpoints.Registry,
			Replicators: []meshfile.Endpoint{{Name: unitReplicator, Admin: s.scheme() + ln.Addr().String()}}}
		if m.sec != nil {
			// The replicators reach the other sites' Kafka, and the
			// control plane every site's, by this file: as the replicator.
			m.sec.kafka(&ms.Kafka, principalReplicator)
			ms.TLS = m.sec.clientTLS()
		}
		if adminURL != "" {
			for _, u := range s.units {
				if u.name != unitRegistry {
					ms.Adapters = append(ms.Adapters, meshfile.Endpoint{Name: u.name, Admin: adminURL + unitPath(s.name, u.name)})
				}
			}
		}
		mf.Sites = append(mf.Sites, ms)
	}
	var buf bytes.Buffer
	buf.WriteString("# The dev mesh's topology, written by meshd dev at each start; its replicators\n# and control plane read it. See meshfile/ for the format.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(mf); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	tmp := m.MeshFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, fmt.Errorf("dev mesh: %w", err)
	}
	if err := os.Rename(tmp, m.MeshFile()); err != nil {
		return nil, fmt.Errorf("dev mesh: %w", err)
	}
	m.endpoints.MeshFile = m.MeshFile()
	return lns, nil
}

// unitPath is where the admin server serves the readiness of one unit, at
// <path>/readyz: the admin URL of an adapter in mesh.yaml.
func unitPath(site, unit string) string { return "/units/" + site + "/" + unit }

// serveUnitReadiness serves each adapter's readiness and rules on its own
// path, as its own command serves /readyz and /v1/rules, so the control
// plane checks and catalogs each.
func (m *Mesh) serveUnitReadiness(srv *telemetry.Server) {
	for _, s := range m.sites {
		for _, u := range s.units {
			srv.Handle("GET "+unitPath(s.name, u.name)+"/readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, cancel := context.WithTimeout(r.Context(), telemetry.CheckTimeout)
				defer cancel()
				w.Header().Set("Content-Type", "application/json")
				if err := u.svc.Ready(ctx); err != nil {
					w.WriteHeader(http.StatusServiceUnavailable)
					fmt.Fprintf(w, "{\"status\":\"not ready\",\"error\":%q}\n", err.Error())
					return
				}
				fmt.Fprintln(w, `{"status":"ready"}`)
			}))
			// The adapter's rules, where the control plane reads them
			// (<admin URL>/v1/rules).
			if rr, ok := u.svc.(adapters.RulesReporter); ok {
				srv.Handle("GET "+unitPath(s.name, u.name)+adapters.RulesPath, http.StripPrefix(unitPath(s.name, u.name), adapters.RulesHandler(rr.Rules)))
			}
		}
	}
}

// startControlPlane runs the mesh's control plane at the first site on
// the configured port, reading the mesh file.
func (m *Mesh) startControlPlane(ctx context.Context, reg prometheus.Registerer) error {
	ln, err := telemetry.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(m.cfg.ControlPlanePort)))
	if err != nil {
		return fmt.Errorf("dev mesh control plane: %w", err)
	}
	cfg := controlplane.DefaultConfig()
	cfg.Site, cfg.Listen, cfg.MeshFile = m.sites[0].name, ln.Addr().String(), m.MeshFile()
	cfg.Kafka.Brokers = nil // the site's, from the mesh file
	secureServiceConfig(&cfg.Common, m.sec, principalControlPlane)
	if m.sec != nil {
		cfg.Kafka.Brokers = []string{m.sites[0].endpoints.Kafka}
		cfg.SiteAuth = m.sec.credentials(principalControlPlane) // to the sites' registries and admin URLs
	}
	if ln, err = serveTLS(ln, cfg.Common, m.logger); err != nil {
		return fmt.Errorf("dev mesh control plane: %w", err)
	}
	cfg.RefreshInterval = 2 * time.Second
	// The trace index follows the first site's _mesh.trace, where the
	// replicators bring every site's hops.
	cfg.TraceIndex.Dir = filepath.Join(m.cfg.Dir, "traceindex")
	kc := kafkaclient.Defaults()
	kc.Brokers = []string{m.sites[0].endpoints.Kafka}
	if m.sec != nil {
		m.sec.kafka(&kc, principalControlPlane)
	}
	ix, err := traceindex.NewService(cfg.TraceIndex, kc, cfg.Site, m.logger.With("service", "traceindex"))
	if err != nil {
		ln.Close()
		return fmt.Errorf("dev mesh trace index: %w", err)
	}
	cp, err := controlplane.New(cfg, m.logger.With("service", "controlplane"), reg,
		controlplane.Attach(ix, "GET /v1/events/{id}/trace", "GET /v1/traces"), controlplane.WithAuthorizer(m.sec.authorizer()))
	if err != nil {
		ln.Close()
		return fmt.Errorf("dev mesh control plane: %w", err)
	}
	u, err := startUnit(ctx, unitControlPlane, cp, ln, m.sec, m.logger)
	if err != nil {
		return fmt.Errorf("dev mesh: %w", err)
	}
	m.controlPlane = u
	m.endpoints.ControlPlane = schemeOf(m.sec) + ln.Addr().String()
	return nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
