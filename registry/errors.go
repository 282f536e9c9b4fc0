package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIError is an error answered in Confluent's shape,
// {"error_code": N, "message": "..."}, with the same codes, so that existing
// clients recognise them.
type APIError struct {
	Status  int    `json:"-"`
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

func apiErr(status, code int, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Confluent's error codes.
const (
	codeSubjectNotFound           = 40401
	codeVersionNotFound           = 40402
	codeSchemaNotFound            = 40403
	codeSubjectSoftDeleted        = 40404
	codeSubjectNotSoftDeleted     = 40405
	codeSchemaVersionSoftDeleted  = 40406
	codeVersionNotSoftDeleted     = 40407
	codeSubjectLevelCompatNotSet  = 40408
	codeSubjectLevelModeNotSet    = 40409
	codeInvalidSchema             = 42201
	codeInvalidVersion            = 42202
	codeInvalidCompatibilityLevel = 42203
	codeInvalidMode               = 42204
	codeOperationNotPermitted     = 42205
	codeReferenceExists           = 42206
	codeInvalidSubject            = 42208
	codeSchemaTooLarge            = 42209
	codeIncompatible              = 40901
	codeStoreError                = 50001
	codeOperationTimeout          = 50002
	codeForwardError              = 50003
)

// The messages below are Confluent's own strings (its rest/exceptions
// package), spaces and all: clients and their tests match on them.

func errSubjectNotFound(s string) *APIError {
	return apiErr(http.StatusNotFound, codeSubjectNotFound, "Subject '%s' not found.", s)
}

// errVersionNotFound names the version as Confluent does: the number, or
// -1 for "latest".
func errVersionNotFound(version int) *APIError {
	return apiErr(http.StatusNotFound, codeVersionNotFound, "Version %d not found.", version)
}

// errSchemaNotFound is the lookup's answer, with no id to name.
func errSchemaNotFound() *APIError {
	return apiErr(http.StatusNotFound, codeSchemaNotFound, "Schema not found")
}

func errSchemaIDNotFound(id string) *APIError {
	return apiErr(http.StatusNotFound, codeSchemaNotFound, "Schema %s not found", id)
}

func errSubjectSoftDeleted(s string) *APIError {
	return apiErr(http.StatusNotFound, codeSubjectSoftDeleted,
		"Subject '%s' was soft deleted.Set permanent=true to delete permanently", s)
}

func errSubjectNotSoftDeleted(s string) *APIError {
	return apiErr(http.StatusNotFound, codeSubjectNotSoftDeleted,
		"Subject '%s' was not deleted first before being permanently deleted", s)
}

func errVersionSoftDeleted(s string, version int) *APIError {
	return apiErr(http.StatusNotFound, codeSchemaVersionSoftDeleted,
		"Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", s, version)
}

func errVersionNotSoftDeleted(s string, version int) *APIError {
	return apiErr(http.StatusNotFound, codeVersionNotSoftDeleted,
		"Subject '%s' Version %d was not deleted first before being permanently deleted", s, version)
}

func errSubjectLevelNotSet(code int, s, what string) *APIError {
	return apiErr(http.StatusNotFound, code, "Subject '%s' does not have subject-level %s configured", s, what)
}

func errInvalidVersion(v string) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errInvalidSubject(s string) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidSubject, "The specified subject '%s' is not a valid.", s)
}

// errInvalidSchema is a schema that does not parse, worded as Confluent
// wraps its parser's message.
func errInvalidSchema(err error) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidSchema, "Invalid schema of type AVRO, details: %v", err)
}

// errEmptySchema is a registration without a schema text and no earlier
// version to take it from.
func errEmptySchema() *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidSchema, "Empty schema")
}

func errInvalidCompatibility() *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidCompatibilityLevel,
		"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

func errInvalidMode() *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidMode,
		"Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")
}

func errSchemaTooLarge() *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeSchemaTooLarge, "Register operation failed because schema is too large")
}

func errReadOnly(subject string) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeOperationNotPermitted, "Subject %s in context . is in read-only mode", subject)
}

// errReferenceExists names the referenced version as Confluent prints its
// SchemaKey.
func errReferenceExists(subject string, version int) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeReferenceExists,
		"One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, version)
}

func errIncompatible(subject string, messages []string) *APIError {
	return apiErr(http.StatusConflict, codeIncompatible,
		"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(messages, ", "))
}

func errUnsupportedMediaType() *APIError {
	return apiErr(http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType, "HTTP 415 Unsupported Media Type")
}

func errBadRequest(err error) *APIError {
	return apiErr(http.StatusBadRequest, 400, "Malformed request body: %v", err)
}

func errStore(err error) *APIError {
	if errors.Is(err, errNotLeader) {
		return apiErr(http.StatusInternalServerError, codeForwardError, "Error while forwarding the request to the leader: %v", err)
	}
	return apiErr(http.StatusInternalServerError, codeStoreError, "Error in the backend data store: %v", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = errStore(err)
	}
	writeJSON(w, ae.Status, ae)
}
