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
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	// ID and Version are int32, as Java's Integer: a larger number is
	// refused (422) rather than stored as an id no client can hold.
	ID       int32           `json:"id,omitempty"`
	Version  int32           `json:"version,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	RuleSet  json.RawMessage `json:"ruleSet,omitempty"`
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
		names := []string{}
		for _, s := range v.subjectNames(prefix, deleted) {
			if r.mayRead(req.Context(), s) {
				names = append(names, s)
			}
		}
		return page(req, names), nil
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
		return page(req, out), nil
	})
}

// findVersion resolves subject/version as Confluent does: "latest" (or
// -1) is the newest version that is not soft-deleted, whatever ?deleted
// says; a number is that version, a soft-deleted one only with deleted.
// Not found, it is 40401 when the subject has no versions (soft-deleted
// ones counted only with deleted), else 40402 naming the version (-1 for
// latest).
func (v *view) findVersion(subject, version string, deleted bool) (*versionEntry, error) {
	n, latest, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	if ve := v.version(subject, n, latest, deleted); ve != nil {
		return ve, nil
	}
	if len(v.versions(subject, deleted)) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if latest {
		n = -1
	}
	return nil, errVersionNotFound(n)
}

// version returns version n of subject (the newest live one when latest),
// or nil; a soft-deleted version only with deleted.
func (v *view) version(subject string, n int, latest, deleted bool) *versionEntry {
	all := v.history(subject)
	for i := len(all) - 1; i >= 0; i-- {
		ve := all[i]
		switch {
		case latest && !ve.deleted:
			return ve
		case !latest && ve.version == n:
			if ve.deleted && !deleted {
				return nil
			}
			return ve
		}
	}
	return nil
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
		ids := v.referencedBy(subject, ve.version, boolParam(req, "deleted"))
		if ids == nil {
			ids = []int{}
		}
		return page(req, ids), nil
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

// parse parses a request's schema against its references and returns it
// with its text as Confluent stores it (avrocompat.JavaString), which is
// also what tells two schemas apart: the same text with the same
// references is the same schema. With normalize, the request's text is
// first replaced by its normalized form, as ?normalize=true asks.
func (v *view) parse(sr *schemaRequest, normalize bool) (avro.Schema, string, error) {
	if sr.SchemaType != "" && !strings.EqualFold(sr.SchemaType, schemaTypeAvro) {
		return nil, "", apiErr(http.StatusUnprocessableEntity, codeInvalidSchema,
			"Invalid schema type %s: this registry supports AVRO only", sr.SchemaType)
	}
	if strings.TrimSpace(sr.Schema) == "" {
		return nil, "", errEmptySchema()
	}
	refs, err := v.resolveRefs(sr.References)
	if err != nil {
		return nil, "", err
	}
	if normalize {
		text, err := avrocompat.Normalize(sr.Schema, refs...)
		if err != nil {
			return nil, "", errInvalidSchema(err)
		}
		sr.Schema = text
	}
	s, err := avrocompat.Parse(sr.Schema, refs...)
	if err != nil {
		return nil, "", errInvalidSchema(err)
	}
	text, err := avrocompat.JavaString(sr.Schema, refs...)
	if err != nil {
		return nil, "", errInvalidSchema(err)
	}
	return s, text, nil
}

// parsedByID returns the parsed schema of a registered id and its key
// (its text as Confluent prints it), computed once and kept on the id's
// entry: an entry's text never changes, so the cache cannot go stale. A
// schema stored before texts were printed that way keeps its text and its
// id; its key is what lets a registration of the same schema find it.
func (v *view) parsedByID(id int) (*parsedSchema, error) {
	e := v.schemaOrGone(id)
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
	key, err := avrocompat.JavaString(e.schema, refs...)
	if err != nil {
		return nil, fmt.Errorf("registered schema id %d: %w", id, err)
	}
	p := &parsedSchema{schema: s, key: key}
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

// findEquivalent returns the newest version of subject holding the schema
// whose key (see parse) is key, with the same references.
func (v *view) findEquivalent(subject, key string, refs []Reference, deleted bool) *versionEntry {
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

// findID returns the lowest id holding the schema of key with the same
// references under any subject, hard-deleted ones included, so the same
// schema gets the same id everywhere and again after a hard delete.
func (v *view) findID(key string, refs []Reference) int {
	best := 0
	for _, entries := range []map[int]*schemaEntry{v.c.schemas, v.c.gone} {
		for id, e := range entries {
			if (best != 0 && id > best) || !sameRefs(e.refs, refs) {
				continue
			}
			if k, err := v.keyOf(id); err == nil && k == key {
				best = id
			}
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

// lookup answers POST /subjects/{s}: the version of subject holding the
// schema, found by its text as Confluent prints it, so a schema written
// differently (attribute order, spacing, {"type":"int"} for "int") is
// found; 40401 for a subject without versions, else 40403.
func (r *Registry) lookup(w http.ResponseWriter, req *http.Request) {
	subject := subjectOf(req)
	var sr schemaRequest
	if err := decodeBody(req, &sr); err != nil {
		writeErr(w, err)
		return
	}
	deleted, normalize := boolParam(req, "deleted"), boolParam(req, "normalize")
	r.answer(w, func(v *view) (any, error) {
		_, key, err := v.parse(&sr, normalize)
		if err != nil {
			return nil, err
		}
		ve := v.findEquivalent(subject, key, sr.References, deleted)
		if ve == nil {
			if len(v.versions(subject, deleted)) == 0 {
				return nil, errSubjectNotFound(subject)
			}
			return nil, errSchemaNotFound()
		}
		return v.subjectVersion(subject, ve), nil
	})
}
