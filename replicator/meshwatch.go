package replicator

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/meshfile"
)

// meshWatch follows the mesh file the replicator took its sites, links and
// policies from. They are built into the replicator at start (a client
// per source site, the topology), so a change takes effect at the next
// restart: the watch says so, in the log, in
// meshwork_replicator_mesh_file_restart_needed and in /v1/status, rather
// than letting the file and the running replicator disagree silently.
type meshWatch struct {
	r           *Replicator
	w           *meshfile.Watcher
	ownDeclared int                    // how many of cfg.Interest.Declared are the replicator file's (the rest are the mesh file's)
	applied     []Declared             // the declarations published; only run's goroutine touches it
	pending     atomic.Pointer[string] // what changed; nil when the file matches
	gauge       prometheus.Gauge
}

func newMeshWatch(r *Replicator, reg prometheus.Registerer) (*meshWatch, error) {
	w, err := meshfile.NewWatcher(r.cfg.MeshFile, meshfile.WithLogger(r.log))
	if err != nil {
		return nil, err
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshwork", Subsystem: "replicator", Name: "mesh_file_restart_needed",
		Help:        "1 when the mesh file's sites, links or policies changed since the replicator started: they take effect at its restart.",
		ConstLabels: prometheus.Labels{"site": r.cfg.Site}})
	reg.MustRegister(g)
	own := len(r.cfg.Interest.Declared)
	if site, ok := w.Mesh().Site(r.cfg.Site); ok {
		own -= len(site.Interest)
	}
	return &meshWatch{r: r, w: w, gauge: g, ownDeclared: max(0, own), applied: r.cfg.Interest.Declared}, nil
}

// run follows the file until ctx ends.
func (m *meshWatch) run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.w.Run(ctx); err != nil {
			m.r.log.Warn("replicator: cannot follow the mesh file; a change will not be noticed", "error", err)
		}
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.w.Changes():
			m.check(ctx, m.w.Mesh())
		}
	}
}

// check compares the file's new version with what the replicator runs,
// and applies a change of the site's interest.
func (m *meshWatch) check(ctx context.Context, mf *meshfile.Mesh) {
	base := m.r.cfg
	base.meshRead, base.Sites, base.Links = false, nil, nil
	base.Interest.Declared = m.r.cfg.Interest.Declared[:m.ownDeclared]
	now, err := base.withMeshOf(mf)
	if err == nil && !reflect.DeepEqual(now.Interest.Declared, m.applied) {
		if err := m.r.interest.redeclare(ctx, now.Interest.Declared); err != nil {
			m.r.log.Warn("replicator: publishing the mesh file's interest failed; the next change of the file tries again", "error", err)
		} else {
			m.applied = now.Interest.Declared
			m.r.log.Info("replicator: the mesh file's interest of this site changed; declared", "declared", len(now.Interest.Declared))
		}
	}
	var diff string
	switch {
	case err != nil:
		diff = err.Error()
	case !sameSites(now.Sites, m.r.cfg.Sites):
		diff = "its sites changed"
	case !reflect.DeepEqual(now.Links, m.r.cfg.Links):
		diff = fmt.Sprintf("its links changed (%v, running %v)", now.Links, m.r.cfg.Links)
	case now.Mode != m.r.cfg.Mode || now.SchemasPrimary != m.r.cfg.SchemasPrimary:
		diff = "its policies changed"
	}
	if diff == "" {
		m.pending.Store(nil)
		m.gauge.Set(0)
		return
	}
	m.pending.Store(&diff)
	m.gauge.Set(1)
	m.r.log.Warn("replicator: the mesh file changed; restart the replicator to apply it", "file", m.r.cfg.MeshFile, "change", diff)
}

// restartNeeded says what changed in the mesh file since the start, or "".
func (m *meshWatch) restartNeeded() string {
	if m == nil {
		return ""
	}
	if p := m.pending.Load(); p != nil {
		return *p
	}
	return ""
}

func sameSites(a, b []Site) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !reflect.DeepEqual(a[i].Kafka, b[i].Kafka) {
			return false
		}
	}
	return true
}
