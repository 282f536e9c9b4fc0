package registry

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// schemaByID is a schema as GET /schemas/ids/{id} answers it.
type schemaByID struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
}

// entryFor returns the schema of id, optionally only if registered under
// subject.
func (v *view) entryFor(id int, subject string) (*schemaEntry, error) {
	e := v.schema(id)
	if e == nil {
		return nil, errSchemaIDNotFound(strconv.Itoa(id))
	}
	if subject != "" {
		found := false
		for _, ve := range v.history(subject) {
			found = found || ve.id == id
		}
		if !found {
			return nil, errSchemaIDNotFound(strconv.Itoa(id))
		}
	}
	return e, nil
}

// withSchema resolves the {id} of a request (and its ?subject= filter) and
// answers with what h makes of it, all from one view of the state.
func (r *Registry) withSchema(h func(req *http.Request, v *view, e *schemaEntry) any) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id, err := intPath(req, "id")
		if err != nil {
			writeErr(w, err)
			return
		}
		subject := req.URL.Query().Get("subject")
		r.answer(w, func(v *view) (any, error) {
			e, err := v.entryFor(id, subject)
			if err != nil {
				return nil, err
			}
			if err := r.allowSchemaRead(req.Context(), v, id, subject); err != nil {
				return nil, err
			}
			return h(req, v, e), nil
		})
	}
}

func (r *Registry) getSchemaByID(_ *http.Request, _ *view, e *schemaEntry) any {
	out := schemaByID{Schema: e.schema, References: e.refs}
	if e.schemaType != schemaTypeAvro {
		out.SchemaType = e.schemaType
	}
	r.metrics.lookups.Inc()
	return out
}

func (r *Registry) getSchemaByIDRaw(_ *http.Request, _ *view, e *schemaEntry) any {
	r.metrics.lookups.Inc()
	return rawSchema(e.schema)
}

type subjectVersionRef struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// usesOf lists where id is registered.
func (v *view) usesOf(id int, deleted bool) []subjectVersionRef {
	var out []subjectVersionRef
	for subject, vs := range v.c.subjects {
		for _, ve := range vs {
			if ve.id == id && (deleted || !ve.deleted) {
				out = append(out, subjectVersionRef{subject, ve.version})
			}
		}
	}
	slices.SortFunc(out, func(a, b subjectVersionRef) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return out
}

// withUses answers GET /schemas/ids/{id}/versions and /subjects: where
// the id is registered (soft-deleted versions with ?deleted=true), paged
// with offset and limit; an id not registered is Confluent's "Schema not
// found", without the id.
func (r *Registry) withUses(h func(req *http.Request, uses []subjectVersionRef) any) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id, err := intPath(req, "id")
		if err != nil {
			writeErr(w, errSchemaNotFound())
			return
		}
		deleted := boolParam(req, "deleted")
		r.answer(w, func(v *view) (any, error) {
			if v.schema(id) == nil {
				return nil, errSchemaNotFound()
			}
			if err := r.allowSchemaRead(req.Context(), v, id, ""); err != nil {
				return nil, err
			}
			var uses []subjectVersionRef
			for _, u := range v.usesOf(id, deleted) {
				if r.mayRead(req.Context(), u.Subject) {
					uses = append(uses, u)
				}
			}
			return h(req, uses), nil
		})
	}
}

func (r *Registry) getSchemaVersions(req *http.Request, uses []subjectVersionRef) any {
	if uses == nil {
		uses = []subjectVersionRef{}
	}
	return page(req, uses)
}

func (r *Registry) getSchemaSubjects(req *http.Request, uses []subjectVersionRef) any {
	out := []string{}
	for _, u := range uses {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	return page(req, out)
}

// listSchemas answers GET /schemas with Confluent's filters: subjectPrefix,
// deleted, latestOnly, offset and limit.
func (r *Registry) listSchemas(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	deleted, latestOnly := boolParam(req, "deleted"), boolParam(req, "latestOnly")
	r.answer(w, func(v *view) (any, error) {
		out := []subjectVersion{}
		for _, subject := range v.subjectNames(q.Get("subjectPrefix"), deleted) {
			if !r.mayRead(req.Context(), subject) {
				continue
			}
			vs := v.versions(subject, deleted)
			if latestOnly {
				vs = vs[len(vs)-1:]
			}
			for _, ve := range vs {
				out = append(out, v.subjectVersion(subject, ve))
			}
		}
		return page(req, out), nil
	})
}
