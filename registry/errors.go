package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	codeIDInUse                   = 42207
	codeIncompatible              = 409
	codeStoreError                = 50001
	codeOperationTimeout          = 50002
	codeForwardError              = 50003
)

func errSubjectNotFound(s string) *APIError {
	return apiErr(http.StatusNotFound, codeSubjectNotFound, "Subject '%s' not found.", s)
}

func errVersionNotFound(s string, v string) *APIError {
	return apiErr(http.StatusNotFound, codeVersionNotFound, "Version %s not found for subject '%s'.", v, s)
}

func errSchemaNotFound(what string) *APIError {
	return apiErr(http.StatusNotFound, codeSchemaNotFound, "Schema %s not found.", what)
}

func errInvalidVersion(v string) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errInvalidSchema(err error) *APIError {
	return apiErr(http.StatusUnprocessableEntity, codeInvalidSchema, "Invalid schema: %v", err)
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
