package traceindex

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshwork/meshwork/trace"
)

// EventTrace is the answer of GET /v1/events/{id}/trace: the hops of the
// event in causal order. An id is unique per source only: when events of
// several sources share it, the first (by its first hop) is at the top and
// Events lists them all, each with its hops (?source= asks for one).
type EventTrace struct {
	ID      string      `json:"id"`
	TraceID string      `json:"trace_id"`
	Source  string      `json:"source"`
	Hops    []trace.Hop `json:"hops"`
	Events  []Group     `json:"events,omitempty"`
}

// Group is the hops of the event of one source.
type Group struct {
	Source  string      `json:"source"`
	TraceID string      `json:"trace_id"`
	Hops    []trace.Hop `json:"hops"`
}

// RecentTraces is the answer of GET /v1/traces.
type RecentTraces struct {
	Topic  string    `json:"topic"`
	Since  time.Time `json:"since"`
	Traces []Summary `json:"traces"`
}

// Summary is one recent event: where it entered first, and how far it
// went.
type Summary struct {
	ID      string    `json:"id"`
	TraceID string    `json:"trace_id"`
	Time    time.Time `json:"time"`
	Hops    int       `json:"hops"`
	Sites   []string  `json:"sites"`
	// Outcome is dlq when a hop went to a dead-letter topic, else ok.
	Outcome string `json:"outcome"`
}

// maxRecent bounds the events GET /v1/traces answers with.
const maxRecent = 1000

// Handler serves GET /v1/events/{id}/trace and GET /v1/traces (with
// ?topic=, and optional ?since= (RFC 3339, or a duration back from now
// like 15m; default 1h) and ?limit= (default 100)). Errors are JSON,
// {"error": "what happened and what to do"}.
func (ix *Index) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/events/{id}/trace", ix.getEventTrace)
	mux.HandleFunc("GET /v1/traces", ix.getTraces)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{fmt.Sprintf(format, args...)})
}

// Groups splits the hops of one id by source, each in causal order,
// ordered by their first hop. Hops without a source (written by a
// component before sources were recorded) join the one group there is,
// if there is one.
func Groups(hops []trace.Hop) []Group {
	var groups []Group
	var unsourced []trace.Hop
	at := map[string]int{}
	for _, h := range hops {
		if h.Source == "" {
			unsourced = append(unsourced, h)
			continue
		}
		i, ok := at[h.Source]
		if !ok {
			i = len(groups)
			at[h.Source] = i
			groups = append(groups, Group{Source: h.Source})
		}
		groups[i].Hops = append(groups[i].Hops, h)
	}
	switch {
	case len(unsourced) > 0 && len(groups) == 1:
		groups[0].Hops = append(groups[0].Hops, unsourced...)
		SortCausal(groups[0].Hops)
	case len(unsourced) > 0:
		groups = append(groups, Group{Hops: unsourced})
	}
	for i := range groups {
		for _, h := range groups[i].Hops {
			if groups[i].TraceID == "" {
				groups[i].TraceID = h.TraceID
			}
		}
	}
	return groups
}

func (ix *Index) getEventTrace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	hops, err := ix.Event(id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the trace index: %v; the control plane's log says more", err)
		return
	}
	groups := Groups(hops)
	if len(groups) == 0 {
		writeError(w, http.StatusNotFound, "no hops of event %q in the trace index: check the id (the ce_id header of the record); "+
			"events are traced at the components' trace.sample_rate, hops reach the index within seconds, and are kept for %s",
			id, ix.cfg.Retention)
		return
	}
	if src := r.URL.Query().Get("source"); src != "" {
		var kept []Group
		var sources []string
		for _, g := range groups {
			sources = append(sources, strconv.Quote(g.Source))
			if g.Source == src {
				kept = append(kept, g)
			}
		}
		if len(kept) == 0 {
			writeError(w, http.StatusNotFound, "event %q has no hops from source %q; its sources: %s", id, src, strings.Join(sources, ", "))
			return
		}
		groups = kept
	}
	out := EventTrace{ID: id, TraceID: groups[0].TraceID, Source: groups[0].Source, Hops: groups[0].Hops}
	if len(groups) > 1 {
		out.Events = groups
	}
	writeJSON(w, http.StatusOK, out)
}

func (ix *Index) getTraces(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topic := q.Get("topic")
	if topic == "" {
		writeError(w, http.StatusBadRequest, "give the topic: GET /v1/traces?topic=NAME&since=15m")
		return
	}
	now := ix.now()
	since := now.Add(-time.Hour)
	if s := q.Get("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			since = t
		} else {
			writeError(w, http.StatusBadRequest, "since=%q: want a time (RFC 3339, like 2026-03-01T10:00:00Z) or a duration back from now (like 15m)", s)
			return
		}
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxRecent {
			writeError(w, http.StatusBadRequest, "limit=%q: want a number from 1 to %d", s, maxRecent)
			return
		}
		limit = n
	}
	entries, err := ix.Recent(topic, since, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the trace index: %v; the control plane's log says more", err)
		return
	}
	out := RecentTraces{Topic: topic, Since: since.UTC(), Traces: []Summary{}}
	for _, e := range entries {
		s := Summary{ID: e.ID, TraceID: e.TraceID, Time: e.Time, Outcome: trace.OutcomeOK.String(), Sites: []string{}}
		if hops, err := ix.Event(e.ID); err == nil {
			s.Hops = len(hops)
			for _, h := range hops {
				if len(s.Sites) == 0 || s.Sites[len(s.Sites)-1] != h.Site {
					s.Sites = append(s.Sites, h.Site)
				}
				if h.Outcome == trace.OutcomeDLQ {
					s.Outcome = trace.OutcomeDLQ.String()
				}
			}
		}
		out.Traces = append(out.Traces, s)
	}
	writeJSON(w, http.StatusOK, out)
}
