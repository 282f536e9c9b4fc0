package replicator

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Status is what the replicator reports at GET /v1/status on its listen
// address: whether it can reach each site it reads from (the health of
// its links, as only it can see them) and what it copies. The control
// plane aggregates it across the mesh (GET /v1/links).
type Status struct {
	// Site is the site the replicator copies into.
	Site string `json:"site"`
	// Mode is exactly_once or at_least_once.
	Mode string `json:"mode"`
	// Ready is "ok", or what keeps the replicator from its job (/readyz).
	Ready string `json:"ready"`
	// Sources are the sites it reads from, one per link.
	Sources []SourceStatus `json:"sources"`
	// Copying lists what the running flows copy.
	Copying []Copying `json:"copying"`
	// RestartNeeded says what changed in the mesh file since the
	// replicator started; it takes effect at its restart.
	RestartNeeded string `json:"restart_needed,omitempty"`
}

// SourceStatus is the replicator's view of one link: can it reach the
// source site's cluster?
type SourceStatus struct {
	Site string `json:"site"`
	// Reachable is true when the site's cluster answered the last look
	// (a metadata request, every flow.plan_interval).
	Reachable bool `json:"reachable"`
	// Checked is when it last looked; zero before the first look.
	Checked time.Time `json:"checked,omitzero"`
	// Error says why the last look failed.
	Error string `json:"error,omitempty"`
}

// linkStates holds the result of the last look at each source site.
type linkStates struct {
	mu sync.Mutex
	m  map[string]SourceStatus
}

func (l *linkStates) set(site string, err error) {
	s := SourceStatus{Site: site, Reachable: err == nil, Checked: time.Now().UTC()}
	if err != nil {
		s.Error = err.Error()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]SourceStatus{}
	}
	l.m[site] = s
}

func (l *linkStates) get(site string) (SourceStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.m[site]
	return s, ok
}

// Status reports the replicator's links and flows.
func (r *Replicator) Status() Status {
	st := Status{Site: r.cfg.Site, Mode: r.cfg.Mode, Ready: "ok", Copying: r.Copying(), RestartNeeded: r.mesh.restartNeeded()}
	if err := r.Ready(context.Background()); err != nil {
		st.Ready = err.Error()
	}
	for _, n := range slices.Sorted(slices.Values(r.topo.Neighbors(r.cfg.Site))) {
		s, ok := r.links.get(n)
		if !ok {
			s = SourceStatus{Site: n, Error: "not looked at yet: the replicator looks once it has read the site's interest"}
		}
		st.Sources = append(st.Sources, s)
	}
	return st
}

// Handler serves GET /v1/status (Status as JSON) beside /metrics, /healthz
// and /readyz; it makes the replicator a service.HTTPService.
func (r *Replicator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Status())
	})
	return mux
}
