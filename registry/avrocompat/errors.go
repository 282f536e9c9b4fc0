package avrocompat

import "errors"

// ErrInvalidSchema is wrapped by every error of Parse and Normalize. A
// registry answers it with error code 42201 (invalid schema).
var ErrInvalidSchema = errors.New("invalid Avro schema")

// ErrInvalidLevel is wrapped by the error of ParseLevel. A registry answers
// it with error code 42203 (invalid compatibility level).
var ErrInvalidLevel = errors.New("invalid compatibility level")

// SchemaError is the error of Parse and Normalize. Its message is written
// for the schema's author: it names the record and field concerned and says
// what is wrong, without an "invalid schema" prefix (callers add their own).
// It matches ErrInvalidSchema with errors.Is.
type SchemaError struct {
	// Path locates the problem in the schema's JSON as a JSON pointer, such
	// as /fields/1/type; empty when the text is not JSON at all.
	Path string
	// Reference is the 1-based index of the reference whose text is at
	// fault, or 0 when the schema itself is.
	Reference int
	// Msg is the full message.
	Msg string
}

func (e *SchemaError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrInvalidSchema) hold.
func (e *SchemaError) Unwrap() error { return ErrInvalidSchema }
