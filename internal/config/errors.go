package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a configuration file.
type Error struct {
	// File is the file's path as given to Load, or the name given to Parse.
	File string
	// Line and Column locate the problem, 1-based; 0 when unknown.
	Line, Column int
	// Field is the YAML path of the field concerned, e.g.
	// sites.east.kafka.brokers[0]; empty for a syntax error.
	Field string
	// Msg says what is wrong and what is expected.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldError is what a Validate method returns for one bad field. Field is
// the YAML path relative to the struct being validated; Nest prefixes it
// when a parent validates its children.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg // a section's own error, before Nest names the section
	}
	return e.Field + ": " + e.Msg
}

// Errorf returns a FieldError for field with a formatted message.
func Errorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Nest prefixes the field paths of every FieldError in err (which may be
// joined) with prefix, so that a nested struct's Validate can report paths
// relative to itself. Other errors are wrapped as a FieldError on prefix.
func Nest(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, &FieldError{Field: join(prefix, fe.Field), Msg: fe.Msg})
			continue
		}
		out = append(out, &FieldError{Field: prefix, Msg: e.Error()})
	}
	return errors.Join(out...)
}

func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

// flatten unpacks errors.Join trees into a flat list.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
