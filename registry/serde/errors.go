package serde

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/sr"
)

// Sentinel errors, matched with errors.Is. Errors that come from a registry
// response also wrap the *sr.ResponseError (match it with errors.As to read
// the HTTP status and Confluent error code).
var (
	// ErrNotFramed: the bytes are not in the Confluent wire format: fewer
	// than HeaderSize bytes, or a first byte other than MagicByte. Returned
	// by ParseHeader and everything that decodes.
	ErrNotFramed = errors.New("not in the Confluent wire format")

	// ErrUnknownID: the registry does not know the schema id in a payload's
	// header (HTTP 404, error code 40403). Returned by Decode, DecodeAny,
	// DecodeJSON, Validate and SchemaByID.
	ErrUnknownID = errors.New("unknown schema id")

	// ErrNotRegistered: the schema is not registered under the subject
	// (error codes 40401 and 40403 on lookup, 40401 and 40402 when asking
	// for the latest version), and AutoRegister is off. Returned by Encode,
	// EncodeJSON and Writer.
	ErrNotRegistered = errors.New("schema not registered for subject")

	// ErrPayloadMismatch: the Avro payload does not match the schema it
	// names (decoding side, see *PayloadError), or a value or JSON document
	// does not match the writer schema (encoding side).
	ErrPayloadMismatch = errors.New("payload does not match schema")

	// ErrInvalidSchema: a schema does not parse, is not Avro, names a type
	// it neither declares nor references, cannot name a subject under the
	// configured strategy, or the registry rejected it (error codes 42201,
	// 42202).
	ErrInvalidSchema = errors.New("invalid schema")

	// ErrUnsafeTarget: Decode refused a Go type that lacks a field whose
	// schema type contains itself other than through a union: building the
	// decoder for it would overflow the stack in hamba/avro (v2.31.0) and
	// kill the process. DecodeAny and DecodeJSON are not affected.
	ErrUnsafeTarget = errors.New("the Go type cannot safely receive this schema")

	// ErrIncompatible: AutoRegister is on and the registry refused the
	// schema as incompatible with the subject's earlier versions (HTTP 409).
	ErrIncompatible = errors.New("schema incompatible with subject")
)

// PayloadError says where a payload stops matching its schema. It matches
// ErrPayloadMismatch with errors.Is.
type PayloadError struct {
	// ID is the schema id named in the payload's header.
	ID int
	// Offset is the byte offset into the Avro payload (after the
	// five-byte header) where the problem was found.
	Offset int
	// Path locates the value in the record, like ".items[2].sku"; empty
	// for the top-level value.
	Path string
	// Reason says what is wrong.
	Reason string
}

func (e *PayloadError) Error() string {
	where := e.Path
	if where == "" {
		where = "value"
	}
	return fmt.Sprintf("serde: schema id %d: %s at byte %d: %s", e.ID, where, e.Offset, e.Reason)
}

// Unwrap makes every PayloadError match ErrPayloadMismatch.
func (e *PayloadError) Unwrap() error { return ErrPayloadMismatch }

// registryCode returns the Confluent error code and HTTP status of a
// registry error response, or zeros if err is not one.
func registryCode(err error) (code, status int) {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode, re.StatusCode
	}
	return 0, 0
}

// Confluent error codes this package reacts to.
const (
	codeSubjectNotFound  = 40401
	codeVersionNotFound  = 40402
	codeSchemaNotFound   = 40403
	codeInvalidSchema    = 42201
	codeInvalidReference = 42202
)

// classifyIDError turns a failed GET /schemas/ids/{id} into an error that
// matches ErrUnknownID when the registry said the id does not exist.
func classifyIDError(id int, err error) error {
	code, status := registryCode(err)
	if code == codeSchemaNotFound || (code == 0 && status == http.StatusNotFound) {
		return fmt.Errorf("serde: schema id %d: %w: registry said: %w", id, ErrUnknownID, err)
	}
	return fmt.Errorf("serde: looking up schema id %d: %w", id, err)
}

// classifySubjectError turns a failed request about a subject (what: the
// lookup POST /subjects/{s}, the registration POST /subjects/{s}/versions,
// or GET /subjects/{s}/versions/latest) into an error that matches
// ErrNotRegistered when the registry said it has no such schema, with hint
// saying what to do about it.
func classifySubjectError(subject, what, hint string, err error) error {
	code, status := registryCode(err)
	switch {
	case code == codeSubjectNotFound || code == codeVersionNotFound || code == codeSchemaNotFound ||
		(code == 0 && status == http.StatusNotFound):
		if hint != "" {
			what += "; " + hint
		}
		return fmt.Errorf("serde: subject %q: %w (%s): registry said: %w", subject, ErrNotRegistered, what, err)
	case code == codeInvalidSchema || code == codeInvalidReference:
		return fmt.Errorf("serde: subject %q: %w: registry said: %w", subject, ErrInvalidSchema, err)
	case status == http.StatusConflict:
		return fmt.Errorf("serde: subject %q: %w: registry said: %w", subject, ErrIncompatible, err)
	}
	return fmt.Errorf("serde: subject %q: %s: %w", subject, what, err)
}
