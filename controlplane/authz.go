package controlplane

import (
	"errors"
	"net/http"
	"strings"

	"github.com/meshwork/meshwork/policy"
)

// WithAuthorizer takes every request's authorization decision through az
// (the mesh's policy); without it, or with a nil one, every request is
// allowed.
func WithAuthorizer(az *policy.Authorizer) Option { return func(s *Server) { s.authz = az } }

// routeAccess is what each of the API's own routes asks of the policy.
// Views of the mesh (sites, links, the catalog, interest) are read on
// mesh, a topic's view is read on topic:<t>; declaring or withdrawing
// interest is decided in its handler, once the body names the topic
// (interest on topic:<t>; on mesh for a pattern, which may cover any
// topic). /openapi.json needs no grant. Mounted routes (the trace
// index's) are read on mesh for GET, config on mesh otherwise.
var routeAccess = map[string]struct {
	action   string
	resource func(*http.Request) string
}{
	"GET /v1/sites":          {policy.ActionRead, meshResource},
	"GET /v1/links":          {policy.ActionRead, meshResource},
	"GET /v1/topics":         {policy.ActionRead, meshResource},
	"GET /v1/topics/{topic}": {policy.ActionRead, func(r *http.Request) string { return policy.Topic(r.PathValue("topic")) }},
	"GET /v1/interest":       {policy.ActionRead, meshResource},
}

func meshResource(*http.Request) string { return policy.Mesh }

// guard wraps an own route's handler with its access check, if it has one.
func (s *Server) guard(pattern string, h http.HandlerFunc) http.HandlerFunc {
	acc, ok := routeAccess[pattern]
	if s.authz == nil || !ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if s.refused(w, r, acc.action, acc.resource(r)) {
			return
		}
		h(w, r)
	}
}

// guardMount wraps a mounted handler: read on mesh for GET and HEAD,
// config on mesh for anything else.
func (s *Server) guardMount(h http.Handler) http.Handler {
	if s.authz == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := policy.ActionConfig
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			action = policy.ActionRead
		}
		if s.refused(w, r, action, policy.Mesh) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refused answers 403 and returns true unless the request's principal may
// take action on resource.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, action, resource string) bool {
	err := s.authz.Allow(r.Context(), action, resource)
	if err == nil {
		return false
	}
	var de *policy.DeniedError
	if errors.As(err, &de) {
		writeError(w, http.StatusForbidden, "forbidden: %s", de.Error())
	} else {
		writeError(w, http.StatusForbidden, "forbidden: %v", err)
	}
	return true
}

// interestResource is what declaring interest in req touches.
func interestResource(req InterestRequest) string {
	if req.Pattern || strings.ContainsAny(req.Topic, "*") {
		return policy.Mesh
	}
	return policy.Topic(req.Topic)
}
