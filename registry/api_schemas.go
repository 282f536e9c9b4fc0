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
// subject. Call with the state read-locked.
func (r *Registry) entryFor(req *http.Request) (*schemaEntry, error) {
	id, err := intPath(req, "id")
	if err != nil {
		return nil, err
	}
	e := r.state.schemas[id]
	if e == nil {
		return nil, errSchemaNotFound(strconv.Itoa(id))
	}
	if subject := req.URL.Query().Get("subject"); subject != "" {
		found := false
		for _, ve := range r.state.subjects[subject] {
			found = found || ve.id == id
		}
		if !found {
			return nil, errSchemaNotFound(strconv.Itoa(id) + " in subject '" + subject + "'")
		}
	}
	return e, nil
}

// withSchema resolves the {id} of a request (and its ?subject= filter)
// under the state's read lock, then calls h.
func (r *Registry) withSchema(h func(http.ResponseWriter, *http.Request, *schemaEntry)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		e, err := r.entryFor(req)
		if err != nil {
			writeErr(w, err)
			return
		}
		h(w, req, e)
	}
}

func (r *Registry) getSchemaByID(w http.ResponseWriter, req *http.Request, e *schemaEntry) {
	out := schemaByID{Schema: e.schema, References: e.refs}
	if e.schemaType != schemaTypeAvro {
		out.SchemaType = e.schemaType
	}
	r.metrics.lookups.Inc()
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) getSchemaByIDRaw(w http.ResponseWriter, req *http.Request, e *schemaEntry) {
	r.metrics.lookups.Inc()
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write([]byte(e.schema))
}

type subjectVersionRef struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// usesOf lists where id is registered. Call with the state read-locked.
func (r *Registry) usesOf(id int, deleted bool) []subjectVersionRef {
	var out []subjectVersionRef
	for subject, vs := range r.state.subjects {
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

func (r *Registry) getSchemaVersions(w http.ResponseWriter, req *http.Request, e *schemaEntry) {
	out := r.usesOf(e.id, boolParam(req, "deleted"))
	if out == nil {
		out = []subjectVersionRef{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *Registry) getSchemaSubjects(w http.ResponseWriter, req *http.Request, e *schemaEntry) {
	out := []string{}
	for _, u := range r.usesOf(e.id, boolParam(req, "deleted")) {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// listSchemas answers GET /schemas with Confluent's filters: subjectPrefix,
// deleted, latestOnly, offset and limit.
func (r *Registry) listSchemas(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	deleted, latestOnly := boolParam(req, "deleted"), boolParam(req, "latestOnly")
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	out := []subjectVersion{}
	for _, subject := range r.state.subjectNames(q.Get("subjectPrefix"), deleted) {
		vs := r.state.versions(subject, deleted)
		if latestOnly {
			vs = vs[len(vs)-1:]
		}
		for _, ve := range vs {
			out = append(out, r.state.subjectVersion(subject, ve))
		}
	}
	if offset > 0 {
		out = out[min(offset, len(out)):]
	}
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	writeJSON(w, http.StatusOK, out)
}
