package avrocompat

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// form selects what a schema's text keeps.
type form int

const (
	// canonicalForm is the Avro specification's Parsing Canonical Form.
	canonicalForm form = iota
	// equivalenceForm is normalForm without doc.
	equivalenceForm
	// normalForm keeps everything hamba/avro parses.
	normalForm
)

// Canonical returns the Parsing Canonical Form of s, as the Avro
// specification defines it: full names, no namespace, doc, aliases,
// defaults, order, logical types or other properties, attributes in the
// order name, type, fields, symbols, items, values, size, and no
// whitespace. Two schemas with the same canonical form read and write the
// same bytes, but may still resolve differently against other schemas (for
// example when only a default differs); see Equivalent.
func Canonical(s avro.Schema) string {
	return render(s, canonicalForm, nil)
}

// Equivalent reports whether a and b are the same schema for a registry:
// equal once whitespace, attribute order, namespace spelling and doc
// strings are set aside. Unlike the canonical form it keeps what changes how
// a schema resolves or what its users see: defaults, aliases, field order
// attributes, enum defaults, logical types (with decimal precision and
// scale) and custom properties. So re-registering a schema that differs only
// in layout finds the existing one, while a schema that differs in a default
// is a new version.
func Equivalent(a, b avro.Schema) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return EquivalenceKey(a) == EquivalenceKey(b)
}

// EquivalenceKey returns a string that is equal for two schemas exactly
// when they are Equivalent, for callers that index schemas.
func EquivalenceKey(s avro.Schema) string {
	return render(s, equivalenceForm, nil)
}

// Normalize returns the normalized text of a schema, for ?normalize=true:
// compact JSON with full names, attributes in a fixed order (name, type,
// doc, aliases, then the type's own attributes, then custom properties
// sorted by key), primitive types without attributes written as plain
// strings, "order" only when not ascending, and no whitespace. Types that
// refs declare stay references by name, so the text still needs the same
// references. Normalizing is idempotent and keeps the schema Equivalent.
func Normalize(schema string, refs ...string) (string, error) {
	s, external, err := parseWithRefs(schema, refs)
	if err != nil {
		return "", err
	}
	return render(s, normalForm, external), nil
}

// render writes s in form f; the named types in external are written by
// name only.
func render(s avro.Schema, f form, external map[string]bool) string {
	r := &renderer{form: f, external: external, seen: map[string]bool{}}
	r.schema(s, "")
	return r.b.String()
}

type renderer struct {
	b        strings.Builder
	form     form
	external map[string]bool
	seen     map[string]bool
}

// schema writes s; ns is the namespace a parser of the output would apply
// to short names at this point.
// object writes m as a JSON object with its keys sorted, each value by val.
func (r *renderer) object(m map[string]any, val func(any)) {
	r.b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			r.b.WriteByte(',')
		}
		r.str(k)
		r.b.WriteByte(':')
		val(m[k])
	}
	r.b.WriteByte('}')
}

func (r *renderer) schema(s avro.Schema, ns string) {
	switch t := s.(type) {
	case *avro.RefSchema:
		r.named(t.Schema(), ns)
	case *avro.RecordSchema:
		r.named(t, ns)
	case *avro.EnumSchema:
		r.named(t, ns)
	case *avro.FixedSchema:
		r.named(t, ns)
	case *avro.NullSchema:
		r.primitive("null", nil, t.Props())
	case *avro.PrimitiveSchema:
		r.primitive(string(t.Type()), t.Logical(), t.Props())
	case *avro.ArraySchema:
		r.b.WriteString(`{"type":"array","items":`)
		r.schema(t.Items(), ns)
		r.props(t.Props())
		r.b.WriteByte('}')
	case *avro.MapSchema:
		r.b.WriteString(`{"type":"map","values":`)
		r.schema(t.Values(), ns)
		r.props(t.Props())
		r.b.WriteByte('}')
	case *avro.UnionSchema:
		r.b.WriteByte('[')
		for i, b := range t.Types() {
			if i > 0 {
				r.b.WriteByte(',')
			}
			r.schema(b, ns)
		}
		r.b.WriteByte(']')
	default:
		r.str(string(s.Type()))
	}
}

func (r *renderer) primitive(typ string, logical avro.LogicalSchema, props map[string]any) {
	if r.form == canonicalForm || (logical == nil && len(props) == 0) {
		r.str(typ)
		return
	}
	r.b.WriteString(`{"type":`)
	r.str(typ)
	r.logical(logical)
	r.props(props)
	r.b.WriteByte('}')
}

func (r *renderer) logical(l avro.LogicalSchema) {
	if l == nil {
		return
	}
	r.b.WriteString(`,"logicalType":`)
	r.str(string(l.Type()))
	if d, ok := l.(*avro.DecimalLogicalSchema); ok {
		r.b.WriteString(`,"precision":` + strconv.Itoa(d.Precision()))
		if d.Scale() != 0 {
			r.b.WriteString(`,"scale":` + strconv.Itoa(d.Scale()))
		}
	}
}

func (r *renderer) named(s avro.NamedSchema, ns string) {
	full := s.FullName()
	if r.seen[full] || r.external[full] {
		r.str(full)
		return
	}
	r.seen[full] = true
	r.b.WriteString(`{"name":`)
	if r.form != canonicalForm && s.Namespace() == "" && ns != "" {
		// A type of the null namespace inside another namespace: a
		// leading dot keeps a parser from putting the short name in ns.
		full = "." + full
	}
	r.str(full)
	r.b.WriteString(`,"type":`)
	switch t := s.(type) {
	case *avro.RecordSchema:
		if t.IsError() {
			r.str("error")
		} else {
			r.str("record")
		}
		r.doc(t.Doc())
		r.aliases(t.Aliases())
		r.b.WriteString(`,"fields":[`)
		for i, f := range t.Fields() {
			if i > 0 {
				r.b.WriteByte(',')
			}
			r.field(f, t.Namespace())
		}
		r.b.WriteByte(']')
		r.props(t.Props())
	case *avro.EnumSchema:
		r.str("enum")
		r.doc(t.Doc())
		r.aliases(t.Aliases())
		r.b.WriteString(`,"symbols":[`)
		for i, sym := range t.Symbols() {
			if i > 0 {
				r.b.WriteByte(',')
			}
			r.str(sym)
		}
		r.b.WriteByte(']')
		if r.form != canonicalForm && t.HasDefault() {
			r.b.WriteString(`,"default":`)
			r.str(t.Default())
		}
		r.props(t.Props())
	case *avro.FixedSchema:
		r.str("fixed")
		r.aliases(t.Aliases())
		r.b.WriteString(`,"size":` + strconv.Itoa(t.Size()))
		if r.form != canonicalForm {
			r.logical(t.Logical())
		}
		r.props(t.Props())
	}
	r.b.WriteByte('}')
}

func (r *renderer) field(f *avro.Field, ns string) {
	r.b.WriteString(`{"name":`)
	r.str(f.Name())
	r.b.WriteString(`,"type":`)
	r.schema(f.Type(), ns)
	if r.form == canonicalForm {
		r.b.WriteByte('}')
		return
	}
	r.doc(f.Doc())
	r.aliases(f.Aliases())
	if f.HasDefault() {
		r.b.WriteString(`,"default":`)
		r.value(f.Type(), f.Default())
	}
	if f.Order() != "" && f.Order() != avro.Asc {
		r.b.WriteString(`,"order":`)
		r.str(string(f.Order()))
	}
	r.props(f.Props())
	r.b.WriteByte('}')
}

func (r *renderer) doc(d string) {
	if r.form == normalForm && d != "" {
		r.b.WriteString(`,"doc":`)
		r.str(d)
	}
}

func (r *renderer) aliases(a []string) {
	if r.form == canonicalForm || len(a) == 0 {
		return
	}
	if r.form == normalForm {
		a = slices.Sorted(slices.Values(a)) // as Confluent's normalization, a TreeSet
	}
	r.b.WriteString(`,"aliases":[`)
	for i, s := range a {
		if i > 0 {
			r.b.WriteByte(',')
		}
		r.str(s)
	}
	r.b.WriteByte(']')
}

func (r *renderer) props(p map[string]any) {
	if r.form == canonicalForm || len(p) == 0 {
		return
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r.b.WriteByte(',')
		r.str(k)
		r.b.WriteByte(':')
		r.json(p[k])
	}
}

// value writes a default value of type t as JSON. hamba/avro stores
// defaults converted to Go values (int32 fields as int, bytes as []byte,
// fixed as byte arrays, records as maps), so the type decides the spelling.
func (r *renderer) value(t avro.Schema, v any) {
	if ref, ok := t.(*avro.RefSchema); ok {
		t = ref.Schema()
	}
	switch t := t.(type) {
	case *avro.NullSchema:
		r.b.WriteString("null")
		return
	case *avro.UnionSchema:
		if len(t.Types()) > 0 {
			r.value(t.Types()[0], v)
			return
		}
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.Int, avro.Long:
			if n, ok := toInt(v); ok {
				r.b.WriteString(strconv.FormatInt(n, 10))
				return
			}
		case avro.Float:
			if f, ok := toFloat(v); ok {
				r.floatDefault(f, 32)
				return
			}
		case avro.Double:
			if f, ok := toFloat(v); ok {
				r.floatDefault(f, 64)
				return
			}
		case avro.Bytes:
			if s, ok := v.(string); ok {
				r.str(s)
				return
			}
			if b, ok := toBytes(v); ok {
				r.str(latin1(b))
				return
			}
		}
	case *avro.FixedSchema:
		if s, ok := v.(string); ok {
			r.str(s)
			return
		}
		if b, ok := toBytes(v); ok {
			r.str(latin1(b))
			return
		}
	case *avro.ArraySchema:
		if a, ok := v.([]any); ok {
			r.b.WriteByte('[')
			for i, e := range a {
				if i > 0 {
					r.b.WriteByte(',')
				}
				r.value(t.Items(), e)
			}
			r.b.WriteByte(']')
			return
		}
	case *avro.MapSchema:
		if m, ok := v.(map[string]any); ok {
			r.object(m, func(e any) { r.value(t.Values(), e) })
			return
		}
	case *avro.RecordSchema:
		if m, ok := v.(map[string]any); ok {
			r.b.WriteByte('{')
			n := 0
			for _, f := range t.Fields() {
				fv, ok := m[f.Name()]
				if !ok {
					continue
				}
				if n > 0 {
					r.b.WriteByte(',')
				}
				n++
				r.str(f.Name())
				r.b.WriteByte(':')
				r.value(f.Type(), fv)
			}
			r.b.WriteByte('}')
			return
		}
	}
	r.json(v)
}

// json writes a property value as hamba/avro decoded it from JSON.
func (r *renderer) json(v any) {
	switch v := v.(type) {
	case nil:
		r.b.WriteString("null")
	case bool:
		r.b.WriteString(strconv.FormatBool(v))
	case string:
		r.str(v)
	case float64:
		r.float(v, 64)
	case []any:
		r.b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				r.b.WriteByte(',')
			}
			r.json(e)
		}
		r.b.WriteByte(']')
	case map[string]any:
		r.object(v, r.json)
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			r.b.WriteString("null")
			return
		}
		r.b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
	}
}

// float writes a number as encoding/json does: plain notation unless very
// small or large.
// floatDefault writes the default of a float or double field; normalized,
// as Confluent's normalization writes it: the Java Float or Double it
// holds, as Jackson prints it (1.0, 1.0E-4).
func (r *renderer) floatDefault(f float64, bits int) {
	if r.form == normalForm && !math.IsInf(f, 0) && !math.IsNaN(f) {
		r.b.WriteString(javaFloat(f, bits))
		return
	}
	r.float(f, bits)
}

func (r *renderer) float(f float64, bits int) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		r.b.WriteString("null")
		return
	}

	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	r.b.WriteString(strconv.FormatFloat(f, format, -1, bits))
}

// str writes s as a JSON string.
func (r *renderer) str(s string) {
	const hex = "0123456789abcdef"
	r.b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			r.b.WriteByte('\\')
			r.b.WriteRune(c)
		case c == '\n':
			r.b.WriteString(`\n`)
		case c == '\r':
			r.b.WriteString(`\r`)
		case c == '\t':
			r.b.WriteString(`\t`)
		case c < 0x20:
			r.b.WriteString(`\u00`)
			r.b.WriteByte(hex[c>>4])
			r.b.WriteByte(hex[c&0xf])
		default:
			r.b.WriteRune(c)
		}
	}
	r.b.WriteByte('"')
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float32:
		return int64(n), true
	case float64:
		if n < math.MinInt64 || n >= math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float32:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func toBytes(v any) ([]byte, bool) {
	switch b := v.(type) {
	case []byte:
		return b, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		out := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(out), rv)
		return out, true
	}
	return nil, false
}

// latin1 spells bytes as the Avro specification spells bytes and fixed
// defaults: one character U+0000 to U+00FF per byte.
func latin1(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}
