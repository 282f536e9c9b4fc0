package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/meshwork/meshwork/registry/avrocompat"
)

// schemaRequest is the body of register, lookup and compatibility requests.
// Fields Meshwork does not interpret (metadata, ruleSet) are kept verbatim.
type schemaRequest struct {
	Schema     string          `json:"schema"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	ID         int             `json:"id,omitempty"`
	Version    int             `json:"version,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
}

// subjectVersion is a schema as GET /subjects/{s}/versions/{v} answers it.
type subjectVersion struct {
	Subject    string          `json:"subject"`
	Version    int             `json:"version"`
	ID         int             `json:"id"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Schema     string          `json:"schema"`
	Deleted    bool            `json:"deleted,omitempty"`
}

func (s *state) subjectVersion(subject string, ve *versionEntry) subjectVersion {
	e := s.schemas[ve.id]
	sv := subjectVersion{Subject: subject, Version: ve.version, ID: ve.id, Metadata: ve.metadata, RuleSet: ve.ruleSet, Deleted: ve.deleted}
	if e != nil {
		sv.Schema, sv.References = e.schema, e.refs
		if e.schemaType != schemaTypeAvro {
			sv.SchemaType = e.schemaType
		}
	}
	return sv
}

func (r *Registry) listSubjects(w http.ResponseWriter, req *http.Request) {
	r.state.mu.RLock()
	names := r.state.subjectNames(req.URL.Query().Get("subjectPrefix"), boolParam(req, "deleted"))
	r.state.mu.RUnlock()
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, names)
}

func (r *Registry) listVersions(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	r.state.mu.RLock()
	vs := r.state.versions(subject, boolParam(req, "deleted"))
	r.state.mu.RUnlock()
	if len(vs) == 0 {
		writeErr(w, errSubjectNotFound(subject))
		return
	}
	out := make([]int, len(vs))
	for i, ve := range vs {
		out[i] = ve.version
	}
	writeJSON(w, http.StatusOK, out)
}

// findVersion resolves subject/version, honouring ?deleted=true. Call with
// the state read-locked.
func (r *Registry) findVersion(subject, version string, deleted bool) (*versionEntry, error) {
	n, latest, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	all := r.state.subjects[subject]
	vs := r.state.versions(subject, deleted)
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if latest {
		return vs[len(vs)-1], nil
	}
	for _, ve := range vs {
		if ve.version == n {
			return ve, nil
		}
	}
	for _, ve := range all {
		if ve.version == n {
			return nil, apiErr(http.StatusNotFound, codeVersionNotFound,
				"Version %d of subject '%s' was soft deleted; add ?deleted=true to read it.", n, subject)
		}
	}
	return nil, errVersionNotFound(subject, version)
}

// withVersion resolves {subject} and {version} (honouring ?deleted=true)
// under the state's read lock, then calls h.
func (r *Registry) withVersion(h func(http.ResponseWriter, *http.Request, string, *versionEntry)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		subject := subjectOf(req)
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		ve, err := r.findVersion(subject, req.PathValue("version"), boolParam(req, "deleted"))
		if err != nil {
			writeErr(w, err)
			return
		}
		h(w, req, subject, ve)
	}
}

func (r *Registry) getVersion(w http.ResponseWriter, req *http.Request, subject string, ve *versionEntry) {
	writeJSON(w, http.StatusOK, r.state.subjectVersion(subject, ve))
}

func (r *Registry) getVersionSchema(w http.ResponseWriter, req *http.Request, subject string, ve *versionEntry) {
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write([]byte(r.state.schemas[ve.id].schema))
}

func (r *Registry) referencedByHandler(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	ve, err := r.findVersion(subject, req.PathValue("version"), true)
	if err != nil {
		writeErr(w, err)
		return
	}
	ids := r.state.referencedBy(subject, ve.version)
	if ids == nil {
		ids = []int{}
	}
	writeJSON(w, http.StatusOK, ids)
}

// resolveRefs returns the schema texts a schema's references need,
// transitively, dependencies first. Call with the state read-locked.
func (r *Registry) resolveRefs(refs []Reference) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var visit func(refs []Reference, depth int) error
	visit = func(refs []Reference, depth int) error {
		if depth > 32 {
			return errInvalidSchema(fmt.Errorf("references nest deeper than 32 levels; is there a cycle?"))
		}
		for _, ref := range refs {
			key := ref.Subject + "/" + strconv.Itoa(ref.Version)
			if seen[key] {
				continue
			}
			seen[key] = true
			if ref.Name == "" || ref.Subject == "" {
				return errInvalidSchema(fmt.Errorf("a reference needs a name, a subject and a version, got %+v", ref))
			}
			ve, err := r.findVersion(ref.Subject, strconv.Itoa(ref.Version), true)
			if err != nil {
				return errInvalidSchema(fmt.Errorf("reference %q: subject %q version %d is not registered", ref.Name, ref.Subject, ref.Version))
			}
			e := r.state.schemas[ve.id]
			if err := visit(e.refs, depth+1); err != nil {
				return err
			}
			out = append(out, e.schema)
		}
		return nil
	}
	return out, visit(refs, 0)
}

// parse parses a request's schema against its references; with normalize,
// it first replaces the request's text by its normalized form, as
// ?normalize=true asks. Call with the state read-locked.
func (r *Registry) parse(sr *schemaRequest, normalize bool) (avro.Schema, error) {
	if sr.SchemaType != "" && !strings.EqualFold(sr.SchemaType, schemaTypeAvro) {
		return nil, apiErr(http.StatusUnprocessableEntity, codeInvalidSchema,
			"Invalid schema type %q: this registry supports AVRO only", sr.SchemaType)
	}
	if strings.TrimSpace(sr.Schema) == "" {
		return nil, errInvalidSchema(fmt.Errorf("the request has no \"schema\""))
	}
	refs, err := r.resolveRefs(sr.References)
	if err != nil {
		return nil, err
	}
	if normalize {
		text, err := avrocompat.Normalize(sr.Schema, refs...)
		if err != nil {
			return nil, errInvalidSchema(err)
		}
		sr.Schema = text
	}
	s, err := avrocompat.Parse(sr.Schema, refs...)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	return s, nil
}

// parsedByID returns the parsed schema of a registered id, parsing it once:
// an id's schema never changes, so the cache cannot go stale. Call with the
// state read-locked.
func (r *Registry) parsedByID(id int) (avro.Schema, error) {
	if s, ok := r.parsed.Load(id); ok {
		return s.(avro.Schema), nil
	}
	e := r.state.schemas[id]
	if e == nil {
		return nil, fmt.Errorf("schema id %d is not registered", id)
	}
	refs, err := r.resolveRefs(e.refs)
	if err != nil {
		return nil, err
	}
	s, err := avrocompat.Parse(e.schema, refs...)
	if err != nil {
		return nil, fmt.Errorf("registered schema id %d does not parse: %w", id, err)
	}
	r.parsed.Store(id, s)
	return s, nil
}

// keyOf returns the equivalence key of a registered id, computed once: an
// id's schema never changes. Call with the state read-locked.
func (r *Registry) keyOf(id int) (string, error) {
	if k, ok := r.keys.Load(id); ok {
		return k.(string), nil
	}
	p, err := r.parsedByID(id)
	if err != nil {
		return "", err
	}
	k := avrocompat.EquivalenceKey(p)
	r.keys.Store(id, k)
	return k, nil
}

// findEquivalent returns the version of subject holding a schema equivalent
// to s with the same references. Call with the state read-locked.
func (r *Registry) findEquivalent(subject string, s avro.Schema, refs []Reference, deleted bool) *versionEntry {
	key := avrocompat.EquivalenceKey(s)
	vs := r.state.versions(subject, deleted)
	for i := len(vs) - 1; i >= 0; i-- {
		e := r.state.schemas[vs[i].id]
		if e == nil || !sameRefs(e.refs, refs) {
			continue
		}
		if k, err := r.keyOf(vs[i].id); err == nil && k == key {
			return vs[i]
		}
	}
	return nil
}

// findID returns the lowest existing id holding an equivalent schema under
// any subject, so the same schema gets the same id everywhere.
func (r *Registry) findID(s avro.Schema, refs []Reference) int {
	key := avrocompat.EquivalenceKey(s)
	best := 0
	for id, e := range r.state.schemas {
		if (best != 0 && id > best) || !sameRefs(e.refs, refs) {
			continue
		}
		if k, err := r.keyOf(id); err == nil && k == key {
			best = id
		}
	}
	return best
}

func sameRefs(a, b []Reference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (r *Registry) lookup(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		writeErr(w, err)
		return
	}
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	deleted := boolParam(req, "deleted")
	if len(r.state.versions(subject, deleted)) == 0 {
		writeErr(w, errSubjectNotFound(subject))
		return
	}
	s, err := r.parse(&sr, boolParam(req, "normalize"))
	if err != nil {
		writeErr(w, err)
		return
	}
	ve := r.findEquivalent(subject, s, sr.References, deleted)
	if ve == nil {
		writeErr(w, errSchemaNotFound("in subject '"+subject+"'"))
		return
	}
	writeJSON(w, http.StatusOK, r.state.subjectVersion(subject, ve))
}

// compatibilityMessages formats incompatibilities for Confluent clients.
func compatibilityMessages(ins []avrocompat.Incompatibility) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.Message
	}
	return out
}
