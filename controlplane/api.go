package controlplane

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/policy"
)

// OpenAPI is the API's OpenAPI 3 document, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// routes are the API's own (each is in openapi.json; a test holds them to
// it) and the mounted ones.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for pattern, h := range s.ownRoutes() {
		mux.HandleFunc(pattern, s.guard(pattern, h))
	}
	for _, m := range s.mounts {
		mux.Handle(m.pattern, s.guardMount(m.h))
	}
	return mux
}

func (s *Server) ownRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /openapi.json":      s.openAPI,
		"GET /v1/sites":          s.getSites,
		"GET /v1/links":          s.getLinks,
		"GET /v1/topics":         s.getTopics,
		"GET /v1/topics/{topic}": s.getTopic,
		"GET /v1/interest":       s.getInterest,
		"POST /v1/interest":      s.postInterest,
		"DELETE /v1/interest":    s.deleteInterest,
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, Error{Error: fmt.Sprintf(format, args...)})
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}

// Documented is implemented by an attached service that documents its
// routes: its OpenAPI paths (and component schemas) join the control
// plane's /openapi.json.
type Documented interface {
	OpenAPI() (paths, schemas map[string]any)
}

// openAPIDoc is OpenAPI with the paths of the attached services that
// document theirs.
func openAPIDoc(attached []service.HTTPService) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		return nil, err
	}
	paths := doc["paths"].(map[string]any)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, a := range attached {
		d, ok := a.(Documented)
		if !ok {
			continue
		}
		ps, ss := d.OpenAPI()
		for k, v := range ps {
			if _, dup := paths[k]; dup {
				return nil, fmt.Errorf("controlplane: an attached service documents %s, a path the control plane has", k)
			}
			paths[k] = v
		}
		maps.Copy(schemas, ss)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (s *Server) current(w http.ResponseWriter) *snapshot {
	snap := s.snap.Load()
	if snap == nil {
		writeError(w, http.StatusServiceUnavailable, "the control plane has not gathered the mesh yet; try again in a few seconds")
	}
	return snap
}

func (s *Server) getSites(w http.ResponseWriter, _ *http.Request) {
	if snap := s.current(w); snap != nil {
		writeJSON(w, http.StatusOK, map[string]any{"sites": snap.sites, "gathered": snap.at})
	}
}

func (s *Server) getLinks(w http.ResponseWriter, _ *http.Request) {
	if snap := s.current(w); snap != nil {
		links := snap.links
		if links == nil {
			links = []Link{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"links": links, "gathered": snap.at})
	}
}

func (s *Server) getTopics(w http.ResponseWriter, _ *http.Request) {
	snap := s.current(w)
	if snap == nil {
		return
	}
	out := []TopicSummary{}
	for _, name := range slices.Sorted(maps.Keys(snap.topics)) {
		t := snap.topics[name]
		sum := TopicSummary{Name: name, Origins: t.Origins, Sites: []string{}}
		for _, st := range t.Sites {
			sum.Sites = append(sum.Sites, st.Site)
			sum.Partitions = max(sum.Partitions, st.Partitions)
		}
		if t.Schema != nil {
			sum.Subject = t.Schema.Subject
		}
		out = append(out, sum)
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": out, "gathered": snap.at})
}

func (s *Server) getTopic(w http.ResponseWriter, r *http.Request) {
	snap := s.current(w)
	if snap == nil {
		return
	}
	name := r.PathValue("topic")
	t, ok := snap.topics[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no topic %q at any site of the mesh (as gathered at %s); %s",
			name, snap.at.Format(time.RFC3339), known("its topics are", slices.Sorted(maps.Keys(snap.topics))))
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// known lists names for an error message, at most 20 of them.
func known(intro string, names []string) string {
	switch {
	case len(names) == 0:
		return "it has none yet"
	case len(names) > 20:
		return intro + " " + strings.Join(names[:20], ", ") + fmt.Sprintf(" and %d more (GET /v1/topics lists them)", len(names)-20)
	}
	return intro + " " + strings.Join(names, ", ")
}

func (s *Server) getInterest(w http.ResponseWriter, r *http.Request) {
	snap := s.current(w)
	if snap == nil {
		return
	}
	site := r.URL.Query().Get("site")
	if site != "" {
		if _, ok := snap.mesh.Site(site); !ok {
			writeError(w, http.StatusNotFound, "no site %q in the mesh; its sites are %s", site, strings.Join(snap.mesh.SiteNames(), ", "))
			return
		}
	}
	out := []Lease{}
	for _, l := range snap.leases {
		if site == "" || l.Site == site {
			out = append(out, l)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"leases": out, "gathered": snap.at})
}

// interestRequest reads and checks the body of POST and DELETE
// /v1/interest, and returns the lease it names, its ttl and a Kafka
// configuration of its site.
func (s *Server) interestRequest(w http.ResponseWriter, r *http.Request) (interest.Lease, time.Duration, kafkaclient.Config, bool) {
	var req InterestRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be JSON like {"site": "west", "topic": "shop.order.created"} (optional: pattern, name, ttl, resume): %v`, err)
		return interest.Lease{}, 0, kafkaclient.Config{}, false
	}
	if req.Site == "" || req.Topic == "" {
		writeError(w, http.StatusBadRequest, `site and topic are required, as in {"site": "west", "topic": "shop.order.created"}`)
		return interest.Lease{}, 0, kafkaclient.Config{}, false
	}
	if s.authz != nil && s.refused(w, r, policy.ActionInterest, interestResource(req)) {
		return interest.Lease{}, 0, kafkaclient.Config{}, false
	}
	kc, ok := s.siteKafka(req.Site)
	if !ok {
		writeError(w, http.StatusNotFound, "no site %q in the mesh; its sites are %s", req.Site, strings.Join(s.watcher.Mesh().SiteNames(), ", "))
		return interest.Lease{}, 0, kafkaclient.Config{}, false
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d != 0 && d < time.Second {
			writeError(w, http.StatusBadRequest, "ttl %q: want a duration of at least 1s, like 24h, or 0 (until removed)", req.TTL)
			return interest.Lease{}, 0, kafkaclient.Config{}, false
		}
		ttl = d
	}
	resume, at, err := interest.ParseResume(cmp.Or(req.Resume, "checkpoint"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return interest.Lease{}, 0, kafkaclient.Config{}, false
	}
	l := interest.Lease{Site: req.Site, Topic: req.Topic, Pattern: req.Pattern, Kind: interest.KindDeclared,
		SourceID: cmp.Or(req.Name, DefaultDeclarationName), Resume: resume, ResumeAt: at}
	return l, ttl, kc, true
}

// DefaultDeclarationName is the name of declarations made without one.
const DefaultDeclarationName = "meshctl"

func (s *Server) postInterest(w http.ResponseWriter, r *http.Request) {
	l, ttl, kc, ok := s.interestRequest(w, r)
	if !ok {
		return
	}
	probe := l
	probe.Since = time.Now()
	if err := probe.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*s.cfg.Timeout)
	defer cancel()
	cl, current, ok := siteLeases(ctx, w, kc, l.Site)
	if !ok {
		return
	}
	defer cl.Close()
	held, err := interest.Declare(ctx, cl, l, ttl, current)
	if err != nil {
		writeError(w, http.StatusBadGateway, "declaring at site %s: %v", l.Site, err)
		return
	}
	view := leaseView(held, time.Now())
	s.noteLease(held.Key(), &view)
	writeJSON(w, http.StatusOK, view)
}

// siteLeases connects to site's Kafka and reads its current leases; on
// failure it answers the request and returns false.
func siteLeases(ctx context.Context, w http.ResponseWriter, kc kafkaclient.Config, site string) (*kgo.Client, interest.Leases, bool) {
	cl, err := kafkaclient.New(kc, "controlplane", site)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "site %s's Kafka: %v", site, err)
		return nil, nil, false
	}
	opts, _ := kc.Options("controlplane", site)
	current, err := interest.Read(ctx, opts)
	if err != nil {
		cl.Close()
		writeError(w, http.StatusBadGateway, "site %s's Kafka at %s: %v; check that it runs (GET /v1/sites)", site, strings.Join(kc.Brokers, ","), err)
		return nil, nil, false
	}
	return cl, current, true
}

func (s *Server) deleteInterest(w http.ResponseWriter, r *http.Request) {
	l, _, kc, ok := s.interestRequest(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*s.cfg.Timeout)
	defer cancel()
	cl, current, ok := siteLeases(ctx, w, kc, l.Site)
	if !ok {
		return
	}
	defer cl.Close()
	if err := interest.Withdraw(ctx, cl, l, current); err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, interest.ErrNotDeclared) {
			code = http.StatusNotFound
		}
		writeError(w, code, "%v", err)
		return
	}
	s.noteLease(l.Key(), nil)
	writeJSON(w, http.StatusOK, map[string]string{"removed": l.Key()})
}

// noteLease puts a lease just declared (or, nil, removed) into the
// snapshot's leases, so that the next read sees the write, and asks for a
// gathering, which brings the rest of the catalog along. A gathering that
// began before the write gets it too when it is stored (see store).
func (s *Server) noteLease(key string, l *Lease) {
	defer s.refreshSoon()
	s.writesMu.Lock()
	s.writes = append(s.writes, leaseWrite{key: key, lease: l, at: time.Now()})
	s.writesMu.Unlock()
	for {
		old := s.snap.Load()
		if old == nil {
			return
		}
		next := *old
		next.leases = withLease(old.leases, key, l)
		if s.snap.CompareAndSwap(old, &next) {
			return
		}
	}
}

// leaseWrite is a declaration or removal made through the API.
type leaseWrite struct {
	key   string
	lease *Lease // nil: removed
	at    time.Time
}

// withLease returns leases with the lease of key replaced by l (or
// removed, l nil).
func withLease(leases []Lease, key string, l *Lease) []Lease {
	out := make([]Lease, 0, len(leases)+1)
	for _, o := range leases {
		if leaseKey(o) != key {
			out = append(out, o)
		}
	}
	if l != nil {
		out = append(out, *l)
	}
	return out
}

// store makes snap, gathered from started on, the snapshot, with the
// writes made through the API since started (the gathering may have read
// the interest before them); older writes are forgotten.
func (s *Server) store(snap *snapshot, started time.Time) {
	s.writesMu.Lock()
	defer s.writesMu.Unlock()
	keep := s.writes[:0]
	for _, w := range s.writes {
		if w.at.After(started) {
			snap.leases = withLease(snap.leases, w.key, w.lease)
			keep = append(keep, w)
		}
	}
	s.writes = keep
	s.snap.Store(snap)
}

// leaseKey is the interest record key of a lease's view.
func leaseKey(l Lease) string {
	kind, err := interest.ParseKind(l.Kind)
	if err != nil {
		return ""
	}
	return interest.Lease{Site: l.Site, Topic: l.Topic, Pattern: l.Pattern, Kind: kind, SourceID: l.Source}.Key()
}

// AuthRefusal is the body of an authentication refusal (service.Run's
// common auth section) in the API's error shape, so that meshctl shows
// its message.
func (s *Server) AuthRefusal(message string) any { return Error{Error: message} }

var _ service.AuthRefuser = (*Server)(nil)
