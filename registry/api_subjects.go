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

func (v *view) subjectVersion(subject string, ve *versionEntry) subjectVersion {
	e := v.schema(ve.id)
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
	prefix, deleted := req.URL.Query().Get("subjectPrefix"), boolParam(req, "deleted")
	r.answer(w, func(v *view) (any, error) {
		names := v.subjectNames(prefix, deleted)
		if names == nil {
			names = []string{}
		}
		return names, nil
	})
}

func (r *Registry) listVersions(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	deleted := boolParam(req, "deleted")
	r.answer(w, func(v *view) (any, error) {
		vs := v.versions(subject, deleted)
		if len(vs) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		out := make([]int, len(vs))
		for i, ve := range vs {
			out[i] = ve.version
		}
		return out, nil
	})
}

// findVersion resolves subject/version, honouring ?deleted=true.
func (v *view) findVersion(subject, version string, deleted bool) (*versionEntry, error) {
	n, latest, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	vs := v.versions(subject, deleted)
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
	for _, ve := range v.history(subject) {
		if ve.version == n {
			return nil, apiErr(http.StatusNotFound, codeVersionNotFound,
				"Version %d of subject '%s' was soft deleted; add ?deleted=true to read it.", n, subject)
		}
	}
	return nil, errVersionNotFound(subject, version)
}

// withVersion resolves {subject} and {version} (honouring ?deleted=true)
// and answers with what h makes of them, all from one view of the state.
func (r *Registry) withVersion(h func(v *view, subject string, ve *versionEntry) any) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		subject, version, deleted := subjectOf(req), req.PathValue("version"), boolParam(req, "deleted")
		r.answer(w, func(v *view) (any, error) {
			ve, err := v.findVersion(subject, version, deleted)
			if err != nil {
				return nil, err
			}
			return h(v, subject, ve), nil
		})
	}
}

func (r *Registry) getVersion(v *view, subject string, ve *versionEntry) any {
	return v.subjectVersion(subject, ve)
}

func (r *Registry) getVersionSchema(v *view, _ string, ve *versionEntry) any {
	return rawSchema(v.schema(ve.id).schema)
}

func (r *Registry) referencedByHandler(w http.ResponseWriter, req *http.Request) {
	subject, version := subjectOf(req), req.PathValue("version")
	r.answer(w, func(v *view) (any, error) {
		ve, err := v.findVersion(subject, version, true)
		if err != nil {
			return nil, err
		}
		ids := v.referencedBy(subject, ve.version)
		if ids == nil {
			ids = []int{}
		}
		return ids, nil
	})
}

// resolveRefs returns the schema texts a schema's references need,
// transitively, dependencies first.
func (v *view) resolveRefs(refs []Reference) ([]string, error) {
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
			ve, err := v.findVersion(ref.Subject, strconv.Itoa(ref.Version), true)
			if err != nil {
				return errInvalidSchema(fmt.Errorf("reference %q: subject %q version %d is not registered", ref.Name, ref.Subject, ref.Version))
			}
			e := v.schema(ve.id)
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
// ?normalize=true asks.
func (v *view) parse(sr *schemaRequest, normalize bool) (avro.Schema, error) {
	if sr.SchemaType != "" && !strings.EqualFold(sr.SchemaType, schemaTypeAvro) {
		return nil, apiErr(http.StatusUnprocessableEntity, codeInvalidSchema,
			"Invalid schema type %q: this registry supports AVRO only", sr.SchemaType)
	}
	if strings.TrimSpace(sr.Schema) == "" {
		return nil, errInvalidSchema(fmt.Errorf("the request has no \"schema\""))
	}
	refs, err := v.resolveRefs(sr.References)
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

// parsedByID returns the parsed schema of a registered id and its
// equivalence key, computed once and kept on the id's entry: an entry's
// text never changes, so the cache cannot go stale.
func (v *view) parsedByID(id int) (*parsedSchema, error) {
	e := v.schema(id)
	if e == nil {
		return nil, fmt.Errorf("schema id %d is not registered", id)
	}
	if p := e.parsed.Load(); p != nil {
		return p, nil
	}
	refs, err := v.resolveRefs(e.refs)
	if err != nil {
		return nil, err
	}
	s, err := avrocompat.Parse(e.schema, refs...)
	if err != nil {
		return nil, fmt.Errorf("registered schema id %d does not parse: %w", id, err)
	}
	p := &parsedSchema{schema: s, key: avrocompat.EquivalenceKey(s)}
	e.parsed.Store(p)
	return p, nil
}

// keyOf returns the equivalence key of a registered id.
func (v *view) keyOf(id int) (string, error) {
	p, err := v.parsedByID(id)
	if err != nil {
		return "", err
	}
	return p.key, nil
}

// findEquivalent returns the version of subject holding a schema equivalent
// to s with the same references.
func (v *view) findEquivalent(subject string, s avro.Schema, refs []Reference, deleted bool) *versionEntry {
	key := avrocompat.EquivalenceKey(s)
	vs := v.versions(subject, deleted)
	for i := len(vs) - 1; i >= 0; i-- {
		e := v.schema(vs[i].id)
		if e == nil || !sameRefs(e.refs, refs) {
			continue
		}
		if k, err := v.keyOf(vs[i].id); err == nil && k == key {
			return vs[i]
		}
	}
	return nil
}

// findID returns the lowest existing id holding an equivalent schema under
// any subject, so the same schema gets the same id everywhere.
func (v *view) findID(s avro.Schema, refs []Reference) int {
	key := avrocompat.EquivalenceKey(s)
	best := 0
	for id, e := range v.c.schemas {
		if (best != 0 && id > best) || !sameRefs(e.refs, refs) {
			continue
		}
		if k, err := v.keyOf(id); err == nil && k == key {
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
	deleted, normalize := boolParam(req, "deleted"), boolParam(req, "normalize")
	r.answer(w, func(v *view) (any, error) {
		if len(v.versions(subject, deleted)) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		s, err := v.parse(&sr, normalize)
		if err != nil {
			return nil, err
		}
		ve := v.findEquivalent(subject, s, sr.References, deleted)
		if ve == nil {
			return nil, errSchemaNotFound("in subject '" + subject + "'")
		}
		return v.subjectVersion(subject, ve), nil
	})
}

// compatibilityMessages formats incompatibilities for Confluent clients.
func compatibilityMessages(ins []avrocompat.Incompatibility) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.Message
	}
	return out
}
