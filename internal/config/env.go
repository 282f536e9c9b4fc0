package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
)

// envRef matches ${NAME} and its escape $${NAME}.
var envRef = regexp.MustCompile(`\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces every ${NAME} of data with lookup(NAME), and $${ with
// ${; an unset variable is an Error at its line. A file without ${ is
// returned as it is.
func expandEnv(name string, data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	if !bytes.Contains(data, []byte("${")) {
		return data, nil
	}
	var errs []error
	var out bytes.Buffer
	last := 0
	for _, m := range envRef.FindAllSubmatchIndex(data, -1) {
		out.Write(data[last:m[0]])
		last = m[1]
		ref := data[m[0]:m[1]]
		if bytes.HasPrefix(ref, []byte("$$")) {
			out.Write(ref[1:]) // the escape: a literal ${NAME}
			continue
		}
		v, ok := lookup(string(data[m[2]:m[3]]))
		if !ok {
			errs = append(errs, &Error{File: name, Line: 1 + bytes.Count(data[:m[0]], []byte("\n")),
				Msg: fmt.Sprintf("environment variable %s is not set (write $${%s} for the text itself)", data[m[2]:m[3]], data[m[2]:m[3]])})
		}
		out.WriteString(v)
	}
	out.Write(data[last:])
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out.Bytes(), nil
}
