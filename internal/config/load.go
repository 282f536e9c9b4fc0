package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Validator is implemented by config structs that check themselves after
// decoding. Return FieldErrors (joined with errors.Join for several).
type Validator interface {
	Validate() error
}

// Load reads the YAML file at path into dst, a pointer to a struct already
// holding the defaults, then validates it. Every error names the file, and
// where it can, the line and field.
func Load(path string, dst any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, dst)
}

// Parse is Load for a document already in memory; name is used in errors.
func Parse(name string, data []byte, dst any) error {
	return parse(name, data, dst, os.LookupEnv)
}

// ParseEnv is Parse with the values of ${NAME} from lookup instead of
// the process's environment: for checking a file meant for another place
// (a Kubernetes ConfigMap, a compose service).
func ParseEnv(name string, data []byte, dst any, lookup func(string) (string, bool)) error {
	return parse(name, data, dst, lookup)
}

// parse is Parse with the environment's ${NAME} values from lookup.
func parse(name string, data []byte, dst any, lookup func(string) (string, bool)) error {
	data, err := expandEnv(name, data, lookup)
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return syntaxError(name, err)
	}
	idx := newIndex(&root)
	if len(root.Content) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
			return decodeErrors(name, idx, err)
		}
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			return validationErrors(name, idx, err)
		}
	}
	return nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "invalid YAML: " + msg}
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	cannotRE       = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// decodeErrors turns the decoder's type errors into Errors with fields.
func decodeErrors(name string, idx *index, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		// The yaml package reports some conversion errors (e.g. durations)
		// as plain errors with a line prefix.
		if m := lineRE.FindStringSubmatch(strings.TrimPrefix(err.Error(), "yaml: ")); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &Error{File: name, Line: line, Field: idx.fieldAt(line), Msg: m[2]}
		}
		return &Error{File: name, Msg: err.Error()}
	}
	var errs []error
	for _, msg := range te.Errors {
		line := 0
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		e := &Error{File: name, Line: line, Field: idx.fieldAt(line)}
		switch m1, m2 := unknownFieldRE.FindStringSubmatch(msg), cannotRE.FindStringSubmatch(msg); {
		case m1 != nil:
			e.Field = idx.keyAt(line, m1[1])
			e.Msg = fmt.Sprintf("unknown field %q (check its spelling and indentation)", m1[1])
		case m2 != nil:
			e.Msg = fmt.Sprintf("cannot use %s %q as %s", yamlKind(m2[1]), m2[2], goKind(m2[3]))
		default:
			e.Msg = msg
		}
		if pos, ok := idx.pos[e.Field]; ok {
			e.Column = pos.col
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func yamlKind(tag string) string {
	switch tag {
	case "str":
		return "text"
	case "int", "float":
		return "number"
	case "bool":
		return "boolean"
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	return tag
}

func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean (true or false)"
	case t == "string":
		return "text"
	case t == "time.Duration":
		return "a duration such as 5s or 1m30s"
	}
	if i := strings.LastIndex(t, "."); i >= 0 {
		t = t[i+1:]
	}
	return "a " + t + " (a mapping)"
}

// validationErrors locates each FieldError at the line of its field, or of
// its nearest enclosing field when the field is absent from the file.
func validationErrors(name string, idx *index, err error) error {
	var errs []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			errs = append(errs, &Error{File: name, Msg: e.Error()})
			continue
		}
		out := &Error{File: name, Field: fe.Field, Msg: fe.Msg}
		if pos, ok := idx.nearest(fe.Field); ok {
			out.Line, out.Column = pos.line, pos.col
		}
		errs = append(errs, out)
	}
	return errors.Join(errs...)
}
