package registry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/meshwork/meshwork/policy"
)

// Option configures a Registry.
type Option func(*Registry)

// WithAuthorizer takes every request's authorization decision through az
// (the mesh's policy); without it, or with a nil one, every request is
// allowed.
func WithAuthorizer(az *policy.Authorizer) Option { return func(r *Registry) { r.authz = az } }

// What each route asks of the policy, as Confluent's schema registry
// authorizes: reads (GETs, lookups, compatibility checks) need read on
// the subject, registering a version and changing a subject's config or
// mode need write on it, deleting needs delete. The global config and
// mode are subject:* (write to change them, read to see them). Some
// routes decide in their handler instead: the lists (GET /subjects, GET
// /schemas) leave out what the principal may not read, and a schema id is
// readable by whoever may read one of the subjects it is registered
// under. GET / (the instance's position, which follower registries ask)
// and GET /schemas/types reveal nothing and need no grant.
type access struct {
	action string
	global bool // the resource is subject:* (the global config or mode)
}

var routeAccess = map[string]access{
	"GET /subjects/{subject}/versions":                          {action: policy.ActionRead},
	"GET /subjects/{subject}/versions/{version}":                {action: policy.ActionRead},
	"GET /subjects/{subject}/versions/{version}/schema":         {action: policy.ActionRead},
	"GET /subjects/{subject}/versions/{version}/referencedby":   {action: policy.ActionRead},
	"POST /subjects/{subject}/versions":                         {action: policy.ActionWrite},
	"POST /subjects/{subject}":                                  {action: policy.ActionRead},
	"DELETE /subjects/{subject}":                                {action: policy.ActionDelete},
	"DELETE /subjects/{subject}/versions/{version}":             {action: policy.ActionDelete},
	"POST /compatibility/subjects/{subject}/versions/{version}": {action: policy.ActionRead},
	"POST /compatibility/subjects/{subject}/versions":           {action: policy.ActionRead},
	"GET /config":              {action: policy.ActionRead, global: true},
	"PUT /config":              {action: policy.ActionWrite, global: true},
	"DELETE /config":           {action: policy.ActionWrite, global: true},
	"GET /config/{subject}":    {action: policy.ActionRead},
	"PUT /config/{subject}":    {action: policy.ActionWrite},
	"DELETE /config/{subject}": {action: policy.ActionWrite},
	"GET /mode":                {action: policy.ActionRead, global: true},
	"PUT /mode":                {action: policy.ActionWrite, global: true},
	"GET /mode/{subject}":      {action: policy.ActionRead},
	"PUT /mode/{subject}":      {action: policy.ActionWrite},
	"DELETE /mode/{subject}":   {action: policy.ActionWrite},
}

// authorizing refuses, before anything else happens (a forward to the
// leader included), the requests of pattern the policy does not grant.
func (r *Registry) authorizing(pattern string, next http.Handler) http.Handler {
	acc, ok := routeAccess[pattern]
	if r.authz == nil || !ok {
		return next // no policy, or decided by its handler, or needs no grant
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		resource := allSubjects
		if !acc.global {
			resource = policy.Subject(subjectOf(req))
		}
		if err := r.authz.Allow(req.Context(), acc.action, resource); err != nil {
			writeErr(w, errDenied(err))
			return
		}
		next.ServeHTTP(w, req)
	})
}

// allSubjects is the global config's and mode's resource, and the test of
// a principal that may read every subject.
var allSubjects = policy.Subject("*")

// codeForbidden is Confluent's error code for a request its authorizer
// refused (HTTP 403).
const codeForbidden = 40301

// errDenied is a refusal in Confluent's words: "User is denied operation
// Write on Subject: orders-value".
func errDenied(err error) *APIError {
	var de *policy.DeniedError
	if !errors.As(err, &de) {
		return apiErr(http.StatusForbidden, codeForbidden, "User is denied operation: %v", err)
	}
	kind, name, _ := strings.Cut(de.Resource, ":")
	return apiErr(http.StatusForbidden, codeForbidden, "User is denied operation %s on %s: %s", title(de.Action), title(kind), name)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// mayRead reports whether the request's principal may read subject, for
// lists that leave out what it may not (no denial is logged).
func (r *Registry) mayRead(ctx context.Context, subject string) bool {
	return r.authz == nil || r.authz.Decide(ctx, policy.ActionRead, policy.Subject(subject)).Allowed
}

// allowSchemaRead decides a read of schema id: allowed to whoever may read
// every subject, or one subject the id is registered under (with its
// soft-deleted versions: a consumer reads old records), or, with
// ?subject=, that subject. Called under the state's read lock.
func (r *Registry) allowSchemaRead(ctx context.Context, v *view, id int, subject string) error {
	if r.authz == nil {
		return nil
	}
	if subject != "" {
		if err := r.authz.Allow(ctx, policy.ActionRead, policy.Subject(subject)); err != nil {
			return errDenied(err)
		}
		return nil
	}
	if r.authz.Decide(ctx, policy.ActionRead, allSubjects).Allowed {
		return nil
	}
	for _, subject := range r.subjectsOf(v, id) {
		if r.mayRead(ctx, subject) {
			return nil
		}
	}
	if err := r.authz.Allow(ctx, policy.ActionRead, "schema:"+strconv.Itoa(id)); err != nil {
		return errDenied(err)
	}
	return nil
}

// idSubjects maps each schema id to the subjects it is registered under
// (soft-deleted versions included), as of one state: the state's offset
// of the next record to apply. A read by id looks its subjects up in it;
// the first read after a change builds it anew (writes are rare, reads by
// id are what every consumer does).
type idSubjects struct {
	applied  int64
	subjects map[int][]string
}

// subjectsOf returns the subjects id is registered under. Called under the
// state's read lock.
func (r *Registry) subjectsOf(v *view, id int) []string {
	applied := v.nextOffset()
	if ix := r.idIndex.Load(); ix != nil && ix.applied == applied {
		return ix.subjects[id]
	}
	ix := &idSubjects{applied: applied, subjects: map[int][]string{}}
	for subject, vs := range v.c.subjects {
		for _, ve := range vs {
			if s := ix.subjects[ve.id]; len(s) == 0 || s[len(s)-1] != subject {
				ix.subjects[ve.id] = append(s, subject)
			}
		}
	}
	r.idIndex.Store(ix)
	return ix.subjects[id]
}
