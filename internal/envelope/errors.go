package envelope

import (
	"errors"
	"fmt"
)

// ErrMalformed is matched (with errors.Is) by every error about a malformed or
// missing envelope attribute.
var ErrMalformed = errors.New("malformed event envelope")

var errBadEscape = errors.New("bad percent-encoding")

// AttributeError says which attribute (as named by the protocol it was read
// from: a Kafka header, an HTTP header, a user property) is wrong and why.
type AttributeError struct {
	// Name is the attribute's name in the protocol it was read from.
	Name string
	// Value is the offending value, truncated for display; empty if missing.
	Value string
	// Reason says what is wrong and, where it helps, what is expected.
	Reason string
}

func (e *AttributeError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("envelope: %s: %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("envelope: %s=%q: %s", e.Name, e.Value, e.Reason)
}

// Unwrap makes every AttributeError match ErrMalformed.
func (e *AttributeError) Unwrap() error { return ErrMalformed }

func attrErr(name, value, reason string) *AttributeError {
	const maxShown = 64
	if len(value) > maxShown {
		value = value[:maxShown] + "…"
	}
	return &AttributeError{Name: name, Value: value, Reason: reason}
}
