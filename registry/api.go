package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Content types the API accepts and answers with, as Confluent's does.
const (
	contentType    = "application/vnd.schemaregistry.v1+json"
	schemaTypeAvro = "AVRO"
	// maxSchemaID is the highest schema id: ids travel in 4 bytes of the
	// wire format and in Java clients' int, so 2^31-1.
	maxSchemaID = math.MaxInt32
)

// handle registers a route: its authorization (authz.go) first, then, for
// a write on an instance that does not lead, the forward to the leader,
// then h.
func (r *Registry) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.Handle(pattern, r.authorizing(pattern, r.forwarding(h)))
}

// routes registers every endpoint of the Confluent-compatible API.
func (r *Registry) routes(mux *http.ServeMux) {
	r.handle(mux, "GET /{$}", r.root)
	r.handle(mux, "GET /subjects", r.listSubjects)
	r.handle(mux, "GET /subjects/{subject}/versions", r.listVersions)
	r.handle(mux, "GET /subjects/{subject}/versions/{version}", r.withVersion(r.getVersion))
	r.handle(mux, "GET /subjects/{subject}/versions/{version}/schema", r.withVersion(r.getVersionSchema))
	r.handle(mux, "GET /subjects/{subject}/versions/{version}/referencedby", r.referencedByHandler)
	r.handle(mux, "POST /subjects/{subject}/versions", r.register)
	r.handle(mux, "POST /subjects/{subject}", r.lookup)
	r.handle(mux, "DELETE /subjects/{subject}", r.deleteSubject)
	r.handle(mux, "DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)

	r.handle(mux, "GET /schemas", r.listSchemas)
	r.handle(mux, "GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []string{schemaTypeAvro})
	})
	r.handle(mux, "GET /schemas/ids/{id}", r.withSchema(r.getSchemaByID))
	r.handle(mux, "GET /schemas/ids/{id}/schema", r.withSchema(r.getSchemaByIDRaw))
	r.handle(mux, "GET /schemas/ids/{id}/versions", r.withUses(r.getSchemaVersions))
	r.handle(mux, "GET /schemas/ids/{id}/subjects", r.withUses(r.getSchemaSubjects))

	r.handle(mux, "POST /compatibility/subjects/{subject}/versions/{version}", r.checkCompatibility)
	r.handle(mux, "POST /compatibility/subjects/{subject}/versions", r.checkCompatibility)

	r.handle(mux, "GET /config", compatibilitySetting.get(r))
	r.handle(mux, "PUT /config", r.putConfig)
	r.handle(mux, "DELETE /config", r.deleteConfig)
	r.handle(mux, "GET /config/{subject}", compatibilitySetting.get(r))
	r.handle(mux, "PUT /config/{subject}", r.putConfig)
	r.handle(mux, "DELETE /config/{subject}", r.deleteConfig)

	r.handle(mux, "GET /mode", modeSetting.get(r))
	r.handle(mux, "PUT /mode", r.putMode)
	r.handle(mux, "GET /mode/{subject}", modeSetting.get(r))
	r.handle(mux, "PUT /mode/{subject}", r.putMode)
	r.handle(mux, "DELETE /mode/{subject}", r.deleteMode)
}

// Handler returns the registry's HTTP API. Around the routes, in order: a
// cap on requests in flight and a deadline on each (limits.go), content
// negotiation, the body read under its own cap and deadline, Confluent's
// JSON errors for unknown paths and methods, then loading; each route
// then authorizes (authz.go) and forwards a write to the leader.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	r.routes(mux)
	inner := r.whenLoaded(mux)
	return r.limits.guard(negotiate(r.limits.readBody(routed(mux, inner))))
}

// whenLoaded answers 503 (error code 50001) until the schema log is
// loaded: a state still being rebuilt would answer 404 for schemas that
// exist, and a forwarded write could not be read back here.
func (r *Registry) whenLoaded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := r.notLoaded(); err != nil {
			w.Header().Set("Retry-After", "1")
			writeErr(w, apiErr(http.StatusServiceUnavailable, codeStoreError, "Error in the backend data store: %v; retry shortly", err))
			return
		}
		next.ServeHTTP(w, req)
	})
}

// root answers GET / as Confluent's registry does, with {}, and names the
// position of this instance's state (positionHeader): a follower site asks
// its primary how far the log is when it loads (primaryPosition).
func (r *Registry) root(w http.ResponseWriter, _ *http.Request) {
	var position int64
	r.state.read(func(v *view) { position = v.position() })
	w.Header().Set(positionHeader, strconv.FormatInt(position, 10))
	writeJSON(w, http.StatusOK, struct{}{})
}

// rawSchema is an answer written as a schema's text itself, not as JSON.
type rawSchema string

// answer runs f under the state's read lock and writes what it returns,
// or its error, once the lock is released: a slow client never holds up
// the log's apply, nor the readers queued behind it.
func (r *Registry) answer(w http.ResponseWriter, f func(v *view) (any, error)) {
	var out any
	var err error
	r.state.read(func(v *view) { out, err = f(v) })
	if err != nil {
		writeErr(w, err)
		return
	}
	if s, ok := out.(rawSchema); ok {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(s))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeBody reads a JSON request body into dst, keeping unknown fields
// out of the way rather than rejecting them, as Confluent's clients send
// fields (metadata, ruleSet) that older registries do not know. The body
// was read, within its limit, by limits.readBody.
func decodeBody(req *http.Request, dst any) error {
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !acceptedContentType(mt) {
			return errUnsupportedMediaType()
		}
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return errBadRequest(err)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errBadRequest(fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se))
		case errors.As(err, &te):
			return apiErr(http.StatusUnprocessableEntity, 422, "Field %q must be %s, not JSON %s", te.Field, te.Type, te.Value)
		}
		return errBadRequest(err)
	}
	return nil
}

func acceptedContentType(mt string) bool {
	switch mt {
	case "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json", "application/octet-stream":
		return true
	}
	return false
}

// parseVersion reads a version path parameter: a number in [1, 2^31-1],
// or "latest" / "-1" for the newest.
func parseVersion(v string) (int, bool, error) {
	if v == "latest" || v == "-1" {
		return 0, true, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > math.MaxInt32 {
		return 0, false, errInvalidVersion(v)
	}
	return n, false, nil
}

// page applies Confluent's offset and limit query parameters to a list
// answer: skip offset, then at most limit (none when not positive).
func page[T any](req *http.Request, s []T) []T {
	q := req.URL.Query()
	if offset, _ := strconv.Atoi(q.Get("offset")); offset > 0 {
		s = s[min(offset, len(s)):]
	}
	if limit, _ := strconv.Atoi(q.Get("limit")); limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

func boolParam(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

func intPath(req *http.Request, name string) (int, error) {
	n, err := strconv.Atoi(req.PathValue(name))
	if err != nil || n < 1 {
		return 0, errSchemaIDNotFound(req.PathValue(name))
	}
	return n, nil
}

// subjectOf returns the {subject} of a request's path, as it is: not
// trimmed (a subject may begin or end with a space, as in Confluent's).
// Bytes that are not UTF-8 become U+FFFD, each on its own, as Java decodes
// the path: the subject is then the same in memory as in the _schemas
// record, whose JSON can only carry UTF-8.
func subjectOf(req *http.Request) string {
	s := req.PathValue("subject")
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(c) // utf8.RuneError for each invalid byte
		i += size
	}
	return b.String()
}

// validSubject reports whether a subject may be registered, as Confluent's
// QualifiedSubject.isValidSubject says: not empty, no control characters,
// not one of its reserved names.
func validSubject(s string) bool {
	if s == "" || s == "__GLOBAL" || s == "__EMPTY" {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}
