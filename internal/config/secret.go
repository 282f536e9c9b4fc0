package config

import (
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
)

// SecretRef is one secret as a configuration gives it, in one of three
// forms, exactly one set: inline (Value, the field itself, e.g. password),
// in a file kept out of the configuration (File, the field's _file
// sibling, e.g. password_file: a mounted Kubernetes or Docker secret) or in
// an environment variable (Env, the _env sibling, e.g. password_env).
//
// A struct holding a secret declares the three fields side by side, the
// inline one tagged `secret:"true"` and `json:"-"`, so that InlineSecrets
// finds it and no JSON dump (a /config endpoint) shows it. Resolve reads the
// secret when it is used, so a file replaced on disk (a rotated secret) is
// read anew at the next connection.
type SecretRef struct {
	// Field is the YAML path of the inline form, relative to the struct
	// being validated (password) or absolute (kafka.sasl.password) when
	// resolving; the other forms are Field+"_file" and Field+"_env".
	Field string
	// Value, File and Env are the three forms; at most one is set.
	Value, File, Env string
}

// Set reports whether any form is given.
func (s SecretRef) Set() bool { return s.Value != "" || s.File != "" || s.Env != "" }

// Check reports a FieldError when more than one form is set, or, if
// required, none: a Validate method's part for this secret.
func (s SecretRef) Check(required bool) error {
	n := 0
	for _, v := range []string{s.Value, s.File, s.Env} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return Errorf(s.Field, "set one of %s_file, %s_env or %s, not several", s.Field, s.Field, s.Field)
	case n == 0 && required:
		return Errorf(s.Field+"_file", "required: set %s_file (a file holding the secret), %s_env (an environment variable holding it) or %s", s.Field, s.Field, s.Field)
	}
	return nil
}

// Resolve returns the secret: the inline value, the file's content (read
// now, its trailing newline dropped) or the environment variable's value.
// An unreadable or empty file, an unset or empty variable, is an error
// naming the field and the file or variable, never the secret. No form set
// resolves to "".
func (s SecretRef) Resolve() (string, error) {
	return s.resolve(os.LookupEnv)
}

func (s SecretRef) resolve(lookup func(string) (string, bool)) (string, error) {
	if err := s.Check(false); err != nil {
		return "", err
	}
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			// The *PathError names the file and what went wrong; its
			// content is never part of it.
			return "", fmt.Errorf("%s_file: %w", s.Field, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s_file: %s is empty; write the secret in it", s.Field, s.File)
		}
		return v, nil
	case s.Env != "":
		v, ok := lookup(s.Env)
		switch {
		case !ok:
			return "", fmt.Errorf("%s_env: environment variable %s is not set", s.Field, s.Env)
		case v == "":
			return "", fmt.Errorf("%s_env: environment variable %s is empty", s.Field, s.Env)
		}
		return v, nil
	}
	return s.Value, nil
}

// Secret returns a secret that a configuration gives inline (value) or in a
// file (file, read now, with its trailing newline dropped); field names the
// file's field in errors, e.g. kafka sasl.password_file. SecretRef is the
// fuller form, which also reads environment variables and is what new
// fields use.
func Secret(value, file, field string) (string, error) {
	return SecretRef{Field: strings.TrimSuffix(field, "_file"), Value: value, File: file}.Resolve()
}

// InlineSecrets returns the YAML paths of the secrets that cfg (a config
// struct or a pointer to one) holds inline: every non-empty string field
// tagged `secret:"true"`, in nested structs, lists and maps. A service warns
// about each at start (naming the field, never the value): an inline secret
// is in the file, its backups and its version control.
func InlineSecrets(cfg any) []string {
	var out []string
	inlineSecrets(reflect.ValueOf(cfg), "", &out, 0)
	return out
}

// inlineSecrets walks v; depth bounds it against pointer cycles, which no
// configuration has.
func inlineSecrets(v reflect.Value, path string, out *[]string, depth int) {
	if depth > 32 {
		return
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			name, inline := yamlName(f)
			p := path
			if !inline {
				p = joinPath(path, name)
			}
			fv := v.Field(i)
			if f.Tag.Get("secret") == "true" && fv.Kind() == reflect.String {
				if fv.String() != "" {
					*out = append(*out, p)
				}
				continue
			}
			inlineSecrets(fv, p, out, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			inlineSecrets(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out, depth+1)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		slices.Sort(names)
		for _, k := range names {
			inlineSecrets(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())), joinPath(path, k), out, depth+1)
		}
	}
}

// yamlName is a struct field's YAML key, and whether it is inlined.
func yamlName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if name == "" {
		return strings.ToLower(f.Name), false
	}
	return name, false
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Redacted stands for a secret in what a String or LogValue method shows.
const Redacted = "[redacted]"

// Redact returns Redacted for a set secret and "" for an unset one, so
// that a printed configuration still shows which form is used.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	return Redacted
}

// RedactURL returns raw, a URL from a configuration, fit for a log or an
// error: a password in it (amqp://user:pass@host) is replaced by xxxxx,
// and a URL that does not parse is not shown at all when it may hold one.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return "(a URL not shown: it may hold a password)"
		}
		return raw
	}
	return u.Redacted()
}
