package avrocompat

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxFixedSize bounds the size of a fixed type. hamba/avro allocates a value
// of that size for a fixed default, so an unbounded size lets one request
// allocate without limit; real fixed types are far smaller.
const maxFixedSize = 1 << 20

var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

var complexKeywords = map[string]bool{
	"record": true, "error": true, "enum": true, "fixed": true, "array": true, "map": true,
}

// validator walks a schema's decoded JSON as hamba/avro will parse it and
// reports mistakes with their location. It mirrors hamba/avro's namespace
// rules, so that what it accepts hamba/avro resolves the same way, and it is
// stricter where the Avro specification (and the Java implementation behind
// the Confluent registry) is: type names only resolve by full name, not by
// alias; a union holds each unnamed type once; defaults of simple types
// must match.
type validator struct {
	known    map[string]bool   // declared by the references
	declared map[string]bool   // declared so far by this text
	all      map[string]bool   // declared anywhere in this text
	fallback map[string]string // namespace-qualified name -> reference type in the null namespace
	// rewritten is set when the validator changed the decoded text for
	// hamba/avro, which reads less than Java does: a field's order in
	// upper case (lowered), and "namespace": "" inside a namespace, which
	// the Avro specification and Java read as the null namespace and
	// hamba/avro as the enclosing one (the name gets a leading dot).
	// parseOne then hands hamba the rewritten text.
	rewritten bool
}

// where is a location in the schema text.
type where struct {
	path   string // JSON pointer
	record string // enclosing record's full name
	field  string // enclosing field's name
}

func (w where) at(seg string) where {
	w.path += "/" + seg
	return w
}

func (w where) describe() string {
	switch {
	case w.field != "" && w.record != "":
		return fmt.Sprintf("field %q of record %s", w.field, w.record)
	case w.record != "":
		return "record " + w.record
	}
	return ""
}

func (v *validator) fail(w where, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if d := w.describe(); d != "" {
		msg = d + ": " + msg
	}
	return &SchemaError{Path: w.path, Msg: msg}
}

// typ checks a type and returns a key naming it for union uniqueness: the
// primitive's name, "array", "map", "union" or a named type's full name.
func (v *validator) typ(t any, ns string, w where) (string, error) {
	switch t := t.(type) {
	case string:
		return v.name(t, ns, w)
	case map[string]any:
		return v.object(t, ns, w)
	case []any:
		return "union", v.union(t, ns, w)
	case nil:
		return "", v.fail(w, `a type cannot be JSON null; write the null type as the string "null"`)
	}
	return "", v.fail(w, "a type must be a type name, an object or a union (array), not %s", jsonText(t))
}

// name checks a reference to a type by name.
func (v *validator) name(s, ns string, w where) (string, error) {
	if primitives[s] {
		return s, nil
	}
	if complexKeywords[s] {
		return "", v.fail(w, `%q is not a type by itself; write an object such as {"type": %q, ...}`, s, s)
	}
	full := qualify(s, ns)
	if v.declared[full] || v.known[full] {
		return full, nil
	}
	if !strings.Contains(s, ".") && ns != "" {
		// The Java implementation falls back to the null namespace for an
		// unqualified name; hamba/avro does not, so map the qualified name
		// to the reference's type in its cache.
		if v.known[s] && !v.all[full] {
			v.fallback[full] = s
			return s, nil
		}
		if v.declared[s] {
			return "", v.fail(w, "type %q is declared in the null namespace and cannot be referred to from namespace %q of the same schema, where it means %q; give it a namespace", s, ns, full)
		}
	}
	if v.all[full] {
		return "", v.fail(w, "type %q is used before it is declared; declare a named type where it is first used and refer to it by name afterwards", s)
	}
	if full != s {
		return "", v.fail(w, "unknown type %q (looked up as %q); declare it or add a reference", s, full)
	}
	return "", v.fail(w, "unknown type %q; declare it or add a reference", s)
}

func (v *validator) object(m map[string]any, ns string, w where) (string, error) {
	t, ok := m["type"]
	if !ok {
		return "", v.fail(w, `an object type needs a "type"`)
	}
	var s string
	switch t := t.(type) {
	case string:
		s = t
	case []any:
		// hamba/avro reads {"type": [...]} as the union; accept it too.
		return "union", v.union(t, ns, w.at("type"))
	default:
		return "", v.fail(w, `"type" must be a string, not %s`, jsonText(t))
	}
	switch s {
	case "record", "error":
		return v.record(m, ns, w)
	case "enum":
		return v.enum(m, ns, w)
	case "fixed":
		return v.fixed(m, ns, w)
	case "array":
		items, ok := m["items"]
		if !ok {
			return "", v.fail(w, `an array needs "items", the type of its elements`)
		}
		_, err := v.typ(items, ns, w.at("items"))
		return "array", err
	case "map":
		values, ok := m["values"]
		if !ok {
			return "", v.fail(w, `a map needs "values", the type of its values`)
		}
		_, err := v.typ(values, ns, w.at("values"))
		return "map", err
	}
	if primitives[s] {
		if lt, ok := m["logicalType"]; ok {
			if _, ok := lt.(string); !ok {
				return "", v.fail(w, `"logicalType" must be a string, not %s`, jsonText(lt))
			}
		}
		return s, nil
	}
	return v.name(s, ns, w.at("type"))
}

// named checks the name, namespace, aliases and doc of a named type and
// declares it; it returns the full name and the namespace its children use.
func (v *validator) named(m map[string]any, ns, kind string, w where) (full, childNS string, err error) {
	n, ok := m["name"].(string)
	if !ok || n == "" {
		return "", "", v.fail(w, `a %s needs a "name", a non-empty string`, kind)
	}
	switch x := m["namespace"].(type) {
	case string:
		if x == "" && ns != "" && !strings.Contains(n, ".") {
			delete(m, "namespace")
			m["name"] = "." + n
			v.rewritten = true
		}
		ns = x
	case nil:
	default:
		return "", "", v.fail(w.at("namespace"), `"namespace" must be a string, not %s`, jsonText(x))
	}
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		ns, n = n[:i], n[i+1:]
	}
	full = n
	if ns != "" {
		full = ns + "." + n
	}
	if err := checkFullName(full); err != nil {
		return "", "", v.fail(w.at("name"), "%s %q: %v", kind, full, err)
	}
	if err := checkAliases(m["aliases"]); err != nil {
		return "", "", v.fail(w.at("aliases"), "%s %s: %v", kind, full, err)
	}
	if d, ok := m["doc"]; ok && d != nil {
		if _, ok := d.(string); !ok {
			return "", "", v.fail(w.at("doc"), `"doc" of %s %s must be a string`, kind, full)
		}
	}
	switch {
	case v.known[full]:
		return "", "", v.fail(w.at("name"), "type %q is already declared by a reference; refer to it by name instead of declaring it again", full)
	case v.declared[full]:
		return "", "", v.fail(w.at("name"), "type %q is declared twice; declare it once and refer to it by name afterwards", full)
	}
	v.declared[full] = true
	return full, ns, nil
}

func (v *validator) record(m map[string]any, ns string, w where) (string, error) {
	full, rns, err := v.named(m, ns, "record", w)
	if err != nil {
		return "", err
	}
	w.record, w.field = full, ""
	fields, ok := m["fields"].([]any)
	if !ok {
		return "", v.fail(w, `a record needs "fields", an array (which may be empty)`)
	}
	names := make(map[string]bool, len(fields))
	for i, f := range fields {
		fw := w.at("fields").at(strconv.Itoa(i))
		fm, ok := f.(map[string]any)
		if !ok {
			return "", v.fail(fw, "field %d must be an object, not %s", i, jsonText(f))
		}
		name, ok := fm["name"].(string)
		if !ok || name == "" {
			return "", v.fail(fw, `field %d needs a "name", a non-empty string`, i)
		}
		if err := checkName(name); err != nil {
			return "", v.fail(fw.at("name"), "field %q: %v", name, err)
		}
		fw.field = name
		if names[name] {
			return "", v.fail(fw, "the record has two fields named %q", name)
		}
		names[name] = true
		if err := checkAliases(fm["aliases"]); err != nil {
			return "", v.fail(fw.at("aliases"), "%v", err)
		}
		if d, ok := fm["doc"]; ok && d != nil {
			if _, ok := d.(string); !ok {
				return "", v.fail(fw.at("doc"), `"doc" must be a string`)
			}
		}
		if o, ok := fm["order"]; ok {
			// Java reads the order in any case (Order.valueOf of its upper case)
			s, _ := o.(string)
			if !slices.Contains([]string{"ascending", "descending", "ignore"}, strings.ToLower(s)) {
				return "", v.fail(fw.at("order"), `"order" must be "ascending", "descending" or "ignore", not %s`, jsonText(o))
			}
			if s != strings.ToLower(s) {
				fm["order"] = strings.ToLower(s)
				v.rewritten = true
			}
		}
		t, ok := fm["type"]
		if !ok {
			return "", v.fail(fw, `the field needs a "type"`)
		}
		if _, err := v.typ(t, rns, fw.at("type")); err != nil {
			return "", err
		}
		if def, ok := fm["default"]; ok {
			if msg := v.checkDefault(t, def); msg != "" {
				return "", v.fail(fw.at("default"), "%s", msg)
			}
		}
	}
	return full, nil
}

func (v *validator) enum(m map[string]any, ns string, w where) (string, error) {
	full, _, err := v.named(m, ns, "enum", w)
	if err != nil {
		return "", err
	}
	syms, ok := m["symbols"].([]any)
	if !ok || len(syms) == 0 {
		return "", v.fail(w.at("symbols"), `enum %s needs "symbols", a non-empty array of names`, full)
	}
	seen := make(map[string]bool, len(syms))
	for i, s := range syms {
		name, ok := s.(string)
		if !ok {
			return "", v.fail(w.at("symbols").at(strconv.Itoa(i)), "enum %s: symbol %s is not a string", full, jsonText(s))
		}
		if err := checkName(name); err != nil {
			return "", v.fail(w.at("symbols").at(strconv.Itoa(i)), "enum %s: symbol %q: %v", full, name, err)
		}
		if seen[name] {
			return "", v.fail(w.at("symbols"), "enum %s lists symbol %q twice", full, name)
		}
		seen[name] = true
	}
	if d, ok := m["default"]; ok && d != nil {
		if s, _ := d.(string); !seen[s] {
			return "", v.fail(w.at("default"), "enum %s: default %s is not one of its symbols", full, jsonText(d))
		}
	}
	return full, nil
}

func (v *validator) fixed(m map[string]any, ns string, w where) (string, error) {
	full, _, err := v.named(m, ns, "fixed", w)
	if err != nil {
		return "", err
	}
	size, ok := m["size"]
	if !ok {
		return "", v.fail(w, `fixed %s needs "size", its length in bytes`, full)
	}
	n, ok := integer(size)
	if !ok || n < 0 || n > maxFixedSize {
		return "", v.fail(w.at("size"), "fixed %s: size must be a whole number from 0 to %d, not %s", full, maxFixedSize, jsonText(size))
	}
	return full, nil
}

func (v *validator) union(branches []any, ns string, w where) error {
	seen := make(map[string]bool, len(branches))
	for i, b := range branches {
		bw := w.at(strconv.Itoa(i))
		if _, ok := b.([]any); ok {
			return v.fail(bw, "a union cannot contain another union directly")
		}
		key, err := v.typ(b, ns, bw)
		if err != nil {
			return err
		}
		if seen[key] {
			return v.fail(bw, "the union has two branches of type %q; a union holds each type once (named types once per name)", key)
		}
		seen[key] = true
	}
	return nil
}

// checkDefault checks def against type t where t is simple enough to tell
// here (primitives, and arrays, maps and unions of them, enums declared in
// place); hamba/avro checks the others. It returns a message or "".
func (v *validator) checkDefault(t, def any) string {
	if u, ok := t.([]any); ok {
		if len(u) == 0 {
			return "a field of the empty union cannot have a default"
		}
		if ok, want := defaultMatches(u[0], def); !ok {
			return fmt.Sprintf("default %s does not match the union's first branch, %s; a union field's default must match its first branch: list the matching type first or change the default", jsonText(def), want)
		}
		return ""
	}
	if ok, want := defaultMatches(t, def); !ok {
		return fmt.Sprintf("default %s is not a valid %s", jsonText(def), want)
	}
	return ""
}

// defaultMatches reports whether def is a valid value of t, and a
// description of t. Types it cannot judge here match.
func defaultMatches(t, def any) (bool, string) {
	var s string
	var m map[string]any
	switch t := t.(type) {
	case string:
		s = t
	case map[string]any:
		m = t
		s, _ = t["type"].(string)
	case []any:
		if len(t) == 0 {
			return false, "value of the empty union"
		}
		return defaultMatches(t[0], def)
	}
	switch s {
	case "null":
		return def == nil, "null"
	case "boolean":
		_, ok := def.(bool)
		return ok, "boolean"
	case "int":
		n, ok := integer(def)
		return ok && n >= math.MinInt32 && n <= math.MaxInt32, "int"
	case "long":
		_, ok := integer(def)
		return ok, "long"
	case "float":
		n, ok := def.(json.Number)
		f, err := n.Float64()
		// as a float32 rounds it: 3.4028235E38, Java's Float.MAX_VALUE as it
		// prints it, is a little above math.MaxFloat32 but rounds to it
		return ok && err == nil && !math.IsInf(float64(float32(f)), 0), "float"
	case "double":
		_, ok := def.(json.Number)
		return ok, "double"
	case "string":
		_, ok := def.(string)
		return ok, "string"
	case "bytes":
		str, ok := def.(string)
		return ok && bytesString(str), "bytes (a string of characters \\u0000 to \\u00ff)"
	case "enum":
		str, ok := def.(string)
		syms, _ := m["symbols"].([]any)
		return ok && slices.Contains(syms, any(str)), "symbol of the enum"
	case "array":
		arr, ok := def.([]any)
		if !ok {
			return false, "array"
		}
		for _, e := range arr {
			if ok, _ := defaultMatches(m["items"], e); !ok {
				return false, "array of the field's items type"
			}
		}
		return true, "array"
	case "map":
		obj, ok := def.(map[string]any)
		if !ok {
			return false, "map (a JSON object)"
		}
		for _, e := range obj {
			if ok, _ := defaultMatches(m["values"], e); !ok {
				return false, "map of the field's values type"
			}
		}
		return true, "map"
	}
	return true, ""
}

func bytesString(s string) bool {
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}

// integer returns the value of a JSON number that is a whole number and
// fits in an int64.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

func qualify(name, ns string) string {
	if ns == "" || strings.Contains(name, ".") {
		return name
	}
	return ns + "." + name
}

// checkName checks a simple name: a letter or _, then letters, digits or _.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("a name cannot be empty")
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return fmt.Errorf("%q is not a valid name: names start with a letter or _ and contain only letters, digits and _", s)
		}
	}
	return nil
}

func checkFullName(s string) error {
	for part := range strings.SplitSeq(s, ".") {
		if err := checkName(part); err != nil {
			if part == "" {
				return fmt.Errorf("a name or namespace has an empty part")
			}
			return err
		}
	}
	return nil
}

func checkAliases(a any) error {
	if a == nil {
		return nil
	}
	list, ok := a.([]any)
	if !ok {
		return fmt.Errorf(`"aliases" must be an array of names, not %s`, jsonText(a))
	}
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return fmt.Errorf("alias %s is not a string", jsonText(e))
		}
		if err := checkFullName(s); err != nil {
			return fmt.Errorf("alias %q: %v", s, err)
		}
	}
	return nil
}

// collectDeclared adds the full names t declares to out, leniently: the
// validator reports malformed parts.
func collectDeclared(t any, ns string, out map[string]bool) {
	switch t := t.(type) {
	case []any:
		for _, b := range t {
			collectDeclared(b, ns, out)
		}
	case map[string]any:
		switch kind, _ := t["type"].(string); kind {
		case "record", "error", "enum", "fixed":
			n, _ := t["name"].(string)
			if x, ok := t["namespace"].(string); ok {
				ns = x // "" is the null namespace
			}
			if i := strings.LastIndexByte(n, '.'); i >= 0 {
				ns, n = n[:i], n[i+1:]
			}
			out[qualify(n, ns)] = true
			if fields, ok := t["fields"].([]any); ok {
				for _, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						collectDeclared(fm["type"], ns, out)
					}
				}
			}
		case "array":
			collectDeclared(t["items"], ns, out)
		case "map":
			collectDeclared(t["values"], ns, out)
		}
		if u, ok := t["type"].([]any); ok {
			collectDeclared(u, ns, out)
		}
	}
}

// jsonText renders a JSON value for a message, shortened.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 60
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
