package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
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
	client := &http.Client{Timeout: r.cfg.WriteTimeout}
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
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBodyBytes+1))
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
	r.metrics.forwarded.WithLabelValues("ok").Inc()
	if resp.StatusCode == http.StatusOK {
		r.awaitRegistered(req.Context(), respBody)
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// awaitRegistered gives a client that registered through this instance
// read-your-writes: when the leader answered with an id, it waits (bounded)
// until the schema log has brought that id here too.
func (r *Registry) awaitRegistered(ctx context.Context, body []byte) {
	var res struct {
		ID int `json:"id"`
	}
	if json.Unmarshal(body, &res) != nil || res.ID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	err := r.state.await(ctx, r.store.quit, func(v *view) bool { return v.schema(res.ID) != nil })
	if err != nil {
		r.logger.Warn("registered schema not yet replicated here", "id", res.ID, "timeout", r.cfg.WriteTimeout, "err", err)
	}
}
