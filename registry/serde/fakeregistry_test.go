package serde

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// fakeRegistry speaks the part of Confluent Schema Registry's HTTP API that
// serde uses, with Confluent's bodies and error codes:
//
//	GET  /schemas/ids/{id}
//	POST /subjects/{subject}/versions      register
//	POST /subjects/{subject}               look up
//	GET  /subjects/{subject}/versions/{v}  v a number or "latest"
//
// Schemas are compared by exact text and references; an id is shared by
// every subject that registers the same schema, as in Confluent's registry.
type fakeRegistry struct {
	srv *httptest.Server

	mu       sync.Mutex
	nextID   int
	byID     map[int]fakeSchema
	subjects map[string][]int // subject -> ids by version (index 0 is version 1)
	conflict map[string]bool  // subjects whose registrations fail with 409
	requests map[string]int   // "METHOD pattern" -> count
}

type fakeSchema struct {
	text string
	refs []sr.SchemaReference
}

func (s fakeSchema) same(o fakeSchema) bool {
	return s.text == o.text && slices.Equal(s.refs, o.refs)
}

func newFakeRegistry(t testing.TB) *fakeRegistry {
	f := &fakeRegistry{
		nextID:   1,
		byID:     make(map[int]fakeSchema),
		subjects: make(map[string][]int),
		conflict: make(map[string]bool),
		requests: make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /schemas/ids/{id}", f.schemaByID)
	mux.HandleFunc("POST /subjects/{subject}/versions", f.registerHandler)
	mux.HandleFunc("POST /subjects/{subject}", f.lookup)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", f.version)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.count(r)
		writeErr(w, http.StatusNotFound, 404, "HTTP 404 Not Found")
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a registry client for the fake.
func (f *fakeRegistry) client(t testing.TB) *sr.Client {
	cl, err := sr.NewClient(sr.URLs(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func (f *fakeRegistry) count(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.Pattern
	if key == "" {
		key = r.Method + " " + r.URL.Path
	}
	f.requests[key]++
}

// calls returns how many requests matched pattern, like
// "GET /schemas/ids/{id}".
func (f *fakeRegistry) calls(pattern string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[pattern]
}

func (f *fakeRegistry) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

// register registers a schema directly, as an operator would; it returns
// the schema's id and its version under subject.
func (f *fakeRegistry) register(subject, text string, refs ...sr.SchemaReference) (id, version int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registerLocked(subject, fakeSchema{text: text, refs: refs})
}

func (f *fakeRegistry) registerLocked(subject string, s fakeSchema) (id, version int) {
	for v, id := range f.subjects[subject] {
		if f.byID[id].same(s) {
			return id, v + 1
		}
	}
	id = 0
	for known, ks := range f.byID {
		if ks.same(s) {
			id = known
		}
	}
	if id == 0 {
		id = f.nextID
		f.nextID++
		f.byID[id] = s
	}
	f.subjects[subject] = append(f.subjects[subject], id)
	return id, len(f.subjects[subject])
}

func (f *fakeRegistry) setNextID(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID = id
}

func (f *fakeRegistry) rejectAsIncompatible(subject string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conflict[subject] = true
}

func (f *fakeRegistry) hasSubject(subject string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subjects[subject]) > 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"error_code": code, "message": msg})
}

type schemaBody struct {
	Schema     string               `json:"schema"`
	SchemaType string               `json:"schemaType,omitempty"`
	References []sr.SchemaReference `json:"references,omitempty"`
}

type subjectSchemaBody struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	schemaBody
}

func (f *fakeRegistry) readBody(w http.ResponseWriter, r *http.Request) (fakeSchema, bool) {
	var body schemaBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, 400, "Unrecognized request body: "+err.Error())
		return fakeSchema{}, false
	}
	if body.SchemaType != "" && body.SchemaType != "AVRO" {
		writeErr(w, http.StatusUnprocessableEntity, 42201, "Invalid schema type "+body.SchemaType)
		return fakeSchema{}, false
	}
	if body.Schema == "" {
		writeErr(w, http.StatusUnprocessableEntity, 42201, "Empty schema")
		return fakeSchema{}, false
	}
	return fakeSchema{text: body.Schema, refs: body.References}, true
}

func (f *fakeRegistry) schemaByID(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	id, err := strconv.Atoi(r.PathValue("id"))
	f.mu.Lock()
	s, ok := f.byID[id]
	f.mu.Unlock()
	if err != nil || !ok {
		writeErr(w, http.StatusNotFound, 40403, fmt.Sprintf("Schema %s not found", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, schemaBody{Schema: s.text, References: s.refs})
}

func (f *fakeRegistry) registerHandler(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	s, ok := f.readBody(w, r)
	if !ok {
		return
	}
	subject := r.PathValue("subject")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conflict[subject] {
		writeErr(w, http.StatusConflict, 409, "Schema being registered is incompatible with an earlier schema for subject \""+subject+"\"")
		return
	}
	id, _ := f.registerLocked(subject, s)
	writeJSON(w, http.StatusOK, map[string]int{"id": id})
}

func (f *fakeRegistry) lookup(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	s, ok := f.readBody(w, r)
	if !ok {
		return
	}
	subject := r.PathValue("subject")
	f.mu.Lock()
	defer f.mu.Unlock()
	ids, ok := f.subjects[subject]
	if !ok {
		writeErr(w, http.StatusNotFound, 40401, "Subject '"+subject+"' not found.")
		return
	}
	for v, id := range ids {
		if f.byID[id].same(s) {
			writeJSON(w, http.StatusOK, subjectSchemaBody{Subject: subject, Version: v + 1, ID: id,
				schemaBody: schemaBody{Schema: s.text, References: s.refs}})
			return
		}
	}
	writeErr(w, http.StatusNotFound, 40403, "Schema not found")
}

func (f *fakeRegistry) version(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	subject := r.PathValue("subject")
	f.mu.Lock()
	defer f.mu.Unlock()
	ids, ok := f.subjects[subject]
	if !ok {
		writeErr(w, http.StatusNotFound, 40401, "Subject '"+subject+"' not found.")
		return
	}
	v := len(ids)
	if vs := r.PathValue("version"); vs != "latest" {
		n, err := strconv.Atoi(vs)
		if err != nil || n < 1 || n > len(ids) {
			writeErr(w, http.StatusNotFound, 40402, "Version "+vs+" not found.")
			return
		}
		v = n
	}
	id := ids[v-1]
	s := f.byID[id]
	writeJSON(w, http.StatusOK, subjectSchemaBody{Subject: subject, Version: v, ID: id,
		schemaBody: schemaBody{Schema: s.text, References: s.refs}})
}
