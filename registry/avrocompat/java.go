package avrocompat

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// JavaString returns schema as Avro's Java library prints it with
// Schema.toString(referencedSchemas, false), which is the text Confluent
// Schema Registry stores and answers for an Avro schema (its
// "canonicalString"): compact JSON, attributes in Java's order (for a
// record: type, name, namespace, doc, fields, other properties, aliases;
// for a field: name, type, doc, default, order, aliases, other
// properties), namespaces written only where they differ from the
// enclosing one, named types written in full once and by name after,
// other properties in the order the author wrote them, numbers as Java's
// Jackson writes them. Unlike the Parsing Canonical Form it keeps doc,
// defaults, aliases, logical types and other properties, so two schemas
// with the same JavaString are the same schema to Confluent, and two that
// differ only in a doc are not.
//
// refs are the texts of the schemas it references, dependencies first, as
// for Parse: the types they declare are written by name. The schema must
// be valid (Parse it first); JavaString fails only on text that is not
// JSON.
func JavaString(schema string, refs ...string) (string, error) {
	p := &javaPrinter{names: map[string]bool{}}
	for _, ref := range refs {
		root, err := decodeOrdered(ref)
		if err != nil {
			return "", err
		}
		p.declare(root, "")
	}
	root, err := decodeOrdered(schema)
	if err != nil {
		return "", err
	}
	p.schema(root, "")
	return p.b.String(), nil
}

// Attributes that Avro's Java parser reads itself; every other attribute
// is a property, kept and printed in the author's order.
var (
	schemaReserved = reservedSet("doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases")
	enumReserved   = reservedSet("doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases", "default")
	fieldReserved  = reservedSet("default", "doc", "name", "order", "type", "aliases")
	primitiveNames = reservedSet("null", "boolean", "int", "long", "float", "double", "bytes", "string")
)

func reservedSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

type javaPrinter struct {
	b     strings.Builder
	names map[string]bool // full names written (or declared by references)
}

// declare records the named types a reference declares, without writing.
func (p *javaPrinter) declare(n *jnode, ns string) {
	switch n.kind {
	case jArray:
		for _, e := range n.elems {
			p.declare(e, ns)
		}
	case jObject:
		t := n.get("type")
		if t == nil {
			return
		}
		if t.kind != jString {
			p.declare(t, ns)
			return
		}
		switch t.str {
		case "record", "error", "enum", "fixed":
			full, space := fullName(n, ns)
			p.names[full] = true
			for _, f := range elems(n.get("fields")) {
				if ft := f.get("type"); ft != nil {
					p.declare(ft, space)
				}
			}
		case "array":
			if it := n.get("items"); it != nil {
				p.declare(it, ns)
			}
		case "map":
			if v := n.get("values"); v != nil {
				p.declare(v, ns)
			}
		}
	}
}

// fullName returns a named type's full name and namespace as Java's
// Schema.Name makes them: a dotted name carries its namespace; otherwise
// the namespace attribute, else the enclosing one; "" is no namespace.
func fullName(n *jnode, ns string) (full, space string) {
	name := textOf(n.get("name"))
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		if i == 0 {
			return name[1:], "" // ".B": B in the null namespace
		}
		return name, name[:i]
	}
	space = ns
	if s := n.get("namespace"); s != nil && s.kind == jString {
		space = s.str
	}
	if space == "" {
		return name, ""
	}
	return space + "." + name, space
}

// qualified writes a full name as Java's Name.getQualified(space) does:
// short when its namespace is the current one.
func qualified(full, space string) string {
	i := strings.LastIndexByte(full, '.')
	if i < 0 {
		return full
	}
	if full[:i] == space {
		return full[i+1:]
	}
	return full
}

// resolve returns the full name a type reference names at namespace ns, as
// Java's Names.get does: relative to ns, else in no namespace.
func (p *javaPrinter) resolve(ref, ns string) string {
	if strings.Contains(ref, ".") || ns == "" {
		return ref
	}
	if full := ns + "." + ref; p.names[full] {
		return full
	}
	return ref
}

func (p *javaPrinter) schema(n *jnode, ns string) {
	switch n.kind {
	case jString:
		if primitiveNames[n.str] {
			p.str(n.str)
			return
		}
		p.str(qualified(p.resolve(n.str, ns), ns))
	case jArray:
		p.b.WriteByte('[')
		for i, e := range n.elems {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.schema(e, ns)
		}
		p.b.WriteByte(']')
	case jObject:
		p.object(n, ns)
	default:
		p.raw(n)
	}
}

func (p *javaPrinter) object(n *jnode, ns string) {
	t := n.get("type")
	if t == nil {
		p.raw(n)
		return
	}
	if t.kind != jString {
		p.schema(t, ns) // {"type": {...}}: the nested schema is the type
		return
	}
	switch t.str {
	case "record", "error":
		p.record(n, t.str, ns)
	case "enum":
		p.enum(n, ns)
	case "fixed":
		p.fixed(n, ns)
	case "array", "map":
		child := "items"
		if t.str == "map" {
			child = "values"
		}
		p.b.WriteString(`{"type":`)
		p.str(t.str)
		p.b.WriteString(`,"` + child + `":`)
		if c := n.get(child); c != nil {
			p.schema(c, ns)
		}
		p.props(n, schemaReserved)
		p.b.WriteByte('}')
	default:
		if !primitiveNames[t.str] {
			p.schema(t, ns) // {"type": "SomeRecord"}
			return
		}
		if !hasProps(n, schemaReserved) {
			p.str(t.str)
			return
		}
		p.b.WriteString(`{"type":`)
		p.str(t.str)
		p.props(n, schemaReserved)
		p.b.WriteByte('}')
	}
}

// named writes a named type's head (type, name, namespace) and returns its
// namespace, or false when it was written before and is now only named.
func (p *javaPrinter) named(n *jnode, kind, ns string) (string, bool) {
	full, space := fullName(n, ns)
	if p.names[full] {
		p.str(qualified(full, ns))
		return "", false
	}
	p.names[full] = true
	p.b.WriteString(`{"type":`)
	p.str(kind)
	p.b.WriteString(`,"name":`)
	short := full
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		short = full[i+1:]
	}
	p.str(short)
	switch {
	case space != "" && space != ns:
		p.b.WriteString(`,"namespace":`)
		p.str(space)
	case space == "" && ns != "":
		p.b.WriteString(`,"namespace":""`)
	}
	p.doc(n)
	return space, true
}

func (p *javaPrinter) record(n *jnode, kind, ns string) {
	space, ok := p.named(n, kind, ns)
	if !ok {
		return
	}
	p.b.WriteString(`,"fields":[`)
	for i, f := range elems(n.get("fields")) {
		if i > 0 {
			p.b.WriteByte(',')
		}
		p.field(f, space)
	}
	p.b.WriteByte(']')
	p.props(n, schemaReserved)
	p.aliases(n, space)
	p.b.WriteByte('}')
}

func (p *javaPrinter) field(f *jnode, ns string) {
	p.b.WriteString(`{"name":`)
	p.str(textOf(f.get("name")))
	p.b.WriteString(`,"type":`)
	t := f.get("type")
	if t != nil {
		p.schema(t, ns)
	}
	p.doc(f)
	if d := f.get("default"); d != nil {
		p.b.WriteString(`,"default":`)
		p.raw(d)
	}
	if o := f.get("order"); o != nil && o.kind == jString && !strings.EqualFold(o.str, "ascending") {
		p.b.WriteString(`,"order":`)
		p.str(strings.ToLower(o.str))
	}
	if a := f.get("aliases"); a != nil && a.kind == jArray && len(a.elems) > 0 {
		p.b.WriteString(`,"aliases":[`)
		for i, s := range dedupe(a.elems) {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.str(s)
		}
		p.b.WriteByte(']')
	}
	p.props(f, fieldReserved)
	p.b.WriteByte('}')
}

func (p *javaPrinter) enum(n *jnode, ns string) {
	space, ok := p.named(n, "enum", ns)
	if !ok {
		return
	}
	p.b.WriteString(`,"symbols":[`)
	for i, s := range elems(n.get("symbols")) {
		if i > 0 {
			p.b.WriteByte(',')
		}
		p.str(s.str)
	}
	p.b.WriteByte(']')
	if d := n.get("default"); d != nil && d.kind == jString {
		p.b.WriteString(`,"default":`)
		p.str(d.str)
	}
	p.props(n, enumReserved)
	p.aliases(n, space)
	p.b.WriteByte('}')
}

func (p *javaPrinter) fixed(n *jnode, ns string) {
	space, ok := p.named(n, "fixed", ns)
	if !ok {
		return
	}
	p.b.WriteString(`,"size":`)
	if s := n.get("size"); s != nil {
		p.raw(s)
	}
	p.props(n, schemaReserved)
	p.aliases(n, space)
	p.b.WriteByte('}')
}

// doc writes a textual doc; Java ignores one that is not a string.
func (p *javaPrinter) doc(n *jnode) {
	if d := n.get("doc"); d != nil && d.kind == jString {
		p.b.WriteString(`,"doc":`)
		p.str(d.str)
	}
}

// aliases writes a named type's aliases relative to its namespace, as
// Java keeps them: a set of names, in the author's order.
func (p *javaPrinter) aliases(n *jnode, space string) {
	a := n.get("aliases")
	if a == nil || a.kind != jArray || len(a.elems) == 0 {
		return
	}
	var fulls []string
	seen := map[string]bool{}
	for _, e := range a.elems {
		full := e.str
		if !strings.Contains(full, ".") && space != "" {
			full = space + "." + full
		}
		if !seen[full] {
			seen[full] = true
			fulls = append(fulls, full)
		}
	}
	p.b.WriteString(`,"aliases":[`)
	for i, full := range fulls {
		if i > 0 {
			p.b.WriteByte(',')
		}
		p.str(qualified(full, space))
	}
	p.b.WriteByte(']')
}

func dedupe(es []*jnode) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range es {
		if e.kind == jString && !seen[e.str] {
			seen[e.str] = true
			out = append(out, e.str)
		}
	}
	return out
}

func hasProps(n *jnode, reserved map[string]bool) bool {
	for _, k := range n.keys {
		if !reserved[k] {
			return true
		}
	}
	return false
}

// props writes the attributes Java keeps as properties, in order; a key
// given twice keeps its last value at its first place, as Java's ordered
// property map does.
func (p *javaPrinter) props(n *jnode, reserved map[string]bool) {
	for i, k := range n.keys {
		if reserved[k] || n.index(k) != i {
			continue
		}
		p.b.WriteByte(',')
		p.str(k)
		p.b.WriteByte(':')
		p.raw(n.get(k))
	}
}

// raw writes a JSON value as Jackson's generator writes a parsed tree.
func (p *javaPrinter) raw(n *jnode) {
	switch n.kind {
	case jNull:
		p.b.WriteString("null")
	case jBool:
		p.b.WriteString(strconv.FormatBool(n.boolean))
	case jNumber:
		p.b.WriteString(javaNumber(n.num))
	case jString:
		p.str(n.str)
	case jArray:
		p.b.WriteByte('[')
		for i, e := range n.elems {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.raw(e)
		}
		p.b.WriteByte(']')
	case jObject:
		p.b.WriteByte('{')
		first := true
		for i, k := range n.keys {
			if n.index(k) != i {
				continue
			}
			if !first {
				p.b.WriteByte(',')
			}
			first = false
			p.str(k)
			p.b.WriteByte(':')
			p.raw(n.get(k))
		}
		p.b.WriteByte('}')
	}
}

// str writes a JSON string escaped as Jackson does: quote, backslash and
// control characters (\b \t \n \f \r short, others as \u00XX), nothing
// else; non-ASCII text stays as it is.
func (p *javaPrinter) str(s string) {
	const hex = "0123456789ABCDEF"
	p.b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			p.b.WriteString(`\"`)
		case c == '\\':
			p.b.WriteString(`\\`)
		case c == '\b':
			p.b.WriteString(`\b`)
		case c == '\t':
			p.b.WriteString(`\t`)
		case c == '\n':
			p.b.WriteString(`\n`)
		case c == '\f':
			p.b.WriteString(`\f`)
		case c == '\r':
			p.b.WriteString(`\r`)
		case c < 0x20:
			p.b.WriteString(`\u00`)
			p.b.WriteByte(hex[c>>4])
			p.b.WriteByte(hex[c&0xF])
		default:
			p.b.WriteByte(c)
		}
	}
	p.b.WriteByte('"')
}

// javaNumber writes a JSON number as Jackson reads and writes it: an
// integer as its digits, any other number as a double printed by Java's
// Double.toString (1.0, 0.001, 1.0E-4, 1.23456789E7).
func javaNumber(num string) string {
	if !strings.ContainsAny(num, ".eE") {
		return strings.TrimPrefix(num, "+")
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return num
	}
	return javaFloat(f, 64)
}

// javaFloat formats f as Java's Double.toString (bits 64) or
// Float.toString (bits 32): plain decimal with at least one fractional
// digit for 1e-3 <= |f| < 1e7, else computerized scientific notation
// (d.dddE±n), with the shortest digits that read back as f.
func javaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"Infinity"`
	case math.IsInf(f, -1):
		return `"-Infinity"`
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, bits) // d.ddde±XX
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// jnode is a JSON value that keeps the order of an object's keys and the
// text of its numbers, which a map[string]any loses.
type jnode struct {
	kind    jkind
	str     string // jString
	num     string // jNumber, as written
	boolean bool
	elems   []*jnode
	keys    []string
	vals    []*jnode
}

type jkind int

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// get returns the value of key k, the last one when it is given twice (as
// Jackson keeps it), or nil.
func (n *jnode) get(k string) *jnode {
	if n == nil || n.kind != jObject {
		return nil
	}
	for i := len(n.keys) - 1; i >= 0; i-- {
		if n.keys[i] == k {
			return n.vals[i]
		}
	}
	return nil
}

// index returns the position of k's first occurrence.
func (n *jnode) index(k string) int {
	for i, key := range n.keys {
		if key == k {
			return i
		}
	}
	return -1
}

func elems(n *jnode) []*jnode {
	if n == nil || n.kind != jArray {
		return nil
	}
	return n.elems
}

func textOf(n *jnode) string {
	if n == nil || n.kind != jString {
		return ""
	}
	return n.str
}

// maxJSONDepth bounds the nesting decodeOrdered accepts, so a hostile
// schema cannot exhaust the stack.
const maxJSONDepth = 256

func decodeOrdered(text string) (*jnode, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	n, err := decodeValue(dec, 0)
	if err != nil {
		return nil, &SchemaError{Msg: fmt.Sprintf("invalid JSON: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &SchemaError{Msg: "invalid JSON: unexpected text after the schema"}
	}
	return n, nil
}

func decodeValue(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jnode{kind: jNull}, nil
	case bool:
		return &jnode{kind: jBool, boolean: t}, nil
	case json.Number:
		return &jnode{kind: jNumber, num: t.String()}, nil
	case string:
		return &jnode{kind: jString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			n := &jnode{kind: jArray}
			for dec.More() {
				e, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, e)
			}
			_, err := dec.Token()
			return n, err
		case '{':
			n := &jnode{kind: jObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			_, err := dec.Token()
			return n, err
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
