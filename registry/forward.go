package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// forwardedHeader marks a request forwarded once, so that two instances that
// each believe the other leads never bounce a request between them.
const forwardedHeader = "X-Meshwork-Forwarded"

// isWrite reports whether a request changes the registry. Lookups and
// compatibility checks are POSTs that only read.
func isWrite(req *http.Request) bool {
	switch req.Method {
	case http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPost:
		return strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/versions") && !strings.HasPrefix(req.URL.Path, "/compatibility/")
	}
	return false
}

// forwarding sends writes to the leader when this instance is not it: on
// the primary site, to the instance announced in the schema log; on other
// sites, to the primary site's registry.
func (r *Registry) forwarding(next http.Handler) http.Handler {
	client := r.peers
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !isWrite(req) || r.store.isWriter() {
			next.ServeHTTP(w, req)
			return
		}
		target := r.leaderURL()
		if target == "" || target == r.cfg.advertised() || req.Header.Get(forwardedHeader) != "" {
			r.metrics.forwarded.WithLabelValues("no_leader").Inc()
			writeErr(w, apiErr(http.StatusInternalServerError, codeForwardError,
				"Error while forwarding the request to the leader: no leader is available (elected: %q); retry shortly", target))
			return
		}
		r.forward(w, req, client, target)
	})
}

func (r *Registry) leaderURL() string {
	if r.cfg.Primary != nil {
		return r.cfg.Primary.URL
	}
	var url string
	r.state.read(func(v *view) { url = v.leaderURL() })
	return url
}

func (r *Registry) forward(w http.ResponseWriter, req *http.Request, client *http.Client, target string) {
	body, err := io.ReadAll(req.Body) // read and bounded by limits.readBody
	if err != nil {
		writeErr(w, errBadRequest(err))
		return
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, strings.TrimSuffix(target, "/")+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeErr(w, apiErr(http.StatusInternalServerError, codeForwardError, "Error while forwarding the request to the leader: %v", err))
		return
	}
	out.Header = req.Header.Clone()
	out.Header.Set(forwardedHeader, r.cfg.advertised())
	resp, err := client.Do(out)
	if err != nil {
		r.metrics.forwarded.WithLabelValues("unreachable").Inc()
		writeErr(w, apiErr(http.StatusBadGateway, codeForwardError,
			"Error while forwarding the request to the leader at %s: %v; reads still work, writes need the leader", target, err))
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		writeErr(w, apiErr(http.StatusBadGateway, codeForwardError, "Error reading the leader's answer: %v", err))
		return
	}
	if resp.StatusCode == http.StatusOK {
		if err := r.awaitApplied(req.Context(), resp.Header, respBody); err != nil {
			if req.Context().Err() != nil {
				return // the client went away
			}
			r.metrics.forwarded.WithLabelValues("not_applied").Inc()
			r.logger.Warn("write done by the leader but not applied here in time; answering 50002",
				"leader", target, "path", req.URL.Path, "answer", string(bytes.TrimSpace(respBody)),
				"position", resp.Header.Get(positionHeader), "timeout", r.cfg.WriteTimeout, "err", err)
			writeErr(w, apiErr(http.StatusInternalServerError, codeOperationTimeout,
				"Operation timed out: the leader at %s did the write (its answer: %s), but this instance has not read it from its schema log within %s (write_timeout), "+
					"so reads here do not show it yet. Retry the read shortly: do not repeat a delete, while registering the same schema again is safe and answers the same id. %s",
				target, bytes.TrimSpace(respBody), r.cfg.WriteTimeout, r.logHint()))
			return
		}
	}
	r.metrics.forwarded.WithLabelValues("ok").Inc()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// awaitApplied gives a client that wrote through this instance
// read-your-writes: it returns once this instance's state has applied the
// leader's answer, at most write_timeout later. The answer names its
// position (positionHeader): that of the write, or, for a write that
// changed nothing (a schema registered before), that of the state the
// leader answered from. This instance may read another copy of the log
// than the leader (the replicator's, at another site), with other offsets,
// but the same positions (see writeMark). From a leader that names no
// position (a version before positions), it waits for a registered id
// only, as before.
func (r *Registry) awaitApplied(ctx context.Context, h http.Header, body []byte) error {
	var cond func(v *view) bool
	if position, _ := strconv.ParseInt(h.Get(positionHeader), 10, 64); position > 0 {
		cond = func(v *view) bool { return v.position() >= position }
	} else {
		var res struct {
			ID int `json:"id"`
		}
		if json.Unmarshal(body, &res) != nil || res.ID == 0 {
			return nil
		}
		cond = func(v *view) bool { return v.schema(res.ID) != nil }
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	return r.state.await(ctx, r.store.quit, cond)
}

// positionHeader carries, on the answer to a write, the position of the
// write or of the state the answer was decided from (see store.update), so
// that an instance that forwarded the write can wait until it has applied
// it (awaitApplied).
const positionHeader = "X-Meshwork-Registry-Position"

// written answers a write that succeeded: its position in positionHeader,
// then v.
func written(w http.ResponseWriter, position int64, v any) {
	w.Header().Set(positionHeader, strconv.FormatInt(position, 10))
	writeJSON(w, http.StatusOK, v)
}
