package reference

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// row is one line of a reference: a field by its YAML path.
type row struct {
	path    string // kafka.producer.linger, ingress[].filter, sites[].ports.<service>
	section string // the top-level key whose table holds the row; "" for top-level fields
	typ     string // what the field holds, in a user's words
	def     string // the default as YAML; "" when it is zero or secret
	inFull  bool   // the default is a list or mapping of sections: see the full configuration
	secret  bool
	doc     string
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	timeType            = reflect.TypeFor[time.Time]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walker turns a config type into rows, following the yaml package's rules
// for keys, inlining and skipped fields, so that the paths are the ones a
// file is written with.
type walker struct {
	src          *sources
	keyNames     map[string]string // Doc.KeyNames
	usedKeyNames map[string]bool
	rows         []row
	undocumented []string
	problems     []string
	seen         map[string]bool // each problem is reported once
	visiting     map[reflect.Type]bool
}

func newWalker(src *sources, keyNames map[string]string) *walker {
	return &walker{
		src:          src,
		keyNames:     keyNames,
		usedKeyNames: make(map[string]bool),
		seen:         make(map[string]bool),
		visiting:     make(map[reflect.Type]bool),
	}
}

func (w *walker) problem(format string, args ...any) {
	if msg := fmt.Sprintf(format, args...); !w.seen[msg] {
		w.seen[msg] = true
		w.problems = append(w.problems, msg)
	}
}

// structFields adds the rows of struct type t, whose defaults are in v, at
// YAML path prefix.
func (w *walker) structFields(t reflect.Type, v reflect.Value, prefix, section string, secret bool) {
	if w.visiting[t] {
		w.problem("%s: %s contains itself, so its reference would never end", orTop(prefix), t)
		return
	}
	w.visiting[t] = true
	defer delete(w.visiting, t)
	docs, err := w.src.fields(t)
	if err != nil {
		w.problem("%s: %v", orTop(prefix), err)
		return
	}
	keys := goToYAML(t)
	for i := range t.NumField() {
		sf := t.Field(i)
		key, inline, ok := yamlKey(sf)
		if !ok {
			continue
		}
		if sf.Anonymous && !sf.IsExported() {
			w.problem("%s: %s embeds the unexported %s, whose fields the yaml package cannot marshal: embed an exported type", orTop(prefix), t, sf.Type)
			continue
		}
		fv := v.Field(i)
		fsecret := secret || isSecret(sf)
		if inline && sf.Type.Kind() != reflect.Map {
			// An inlined struct's fields sit beside the struct's own, and
			// its type carries their docs.
			et, ev := deref(sf.Type, fv)
			if !ev.IsValid() {
				ev = elemDefault(et)
			}
			w.structFields(et, ev, prefix, section, fsecret)
			continue
		}
		path := join(prefix, key)
		if inline {
			path = prefix // an inlined map's keys sit beside the struct's fields
		}
		sec := section
		if prefix == "" { // a top-level field holding sections gets a table of its own
			sec = ""
			if expandable(sf.Type) {
				sec = key
			}
		}
		d := docs[sf.Name]
		if once := "undocumented " + d.pos + " " + sf.Name; d.text == "" && !w.seen[once] {
			w.seen[once] = true // a type used twice is listed at its first path
			w.undocumented = append(w.undocumented, fmt.Sprintf("%s: %s.%s (%s)", d.pos, t, sf.Name, path))
		}
		w.field(sf.Type, fv, path, sec, fsecret, userWords(d.text, keys))
	}
}

// field adds the row of one named field, and the rows of what it contains.
func (w *walker) field(t reflect.Type, v reflect.Value, path, section string, secret bool, doc string) {
	et, ev := deref(t, v)
	r := row{path: path, section: section, secret: secret, doc: doc}
	switch {
	case isSection(et):
		r.typ = "mapping"
		w.rows = append(w.rows, r)
		if !ev.IsValid() {
			ev = elemDefault(et) // a nil pointer: what a file that sets it starts from
		}
		w.structFields(et, ev, path, section, secret)
	case (et.Kind() == reflect.Slice || et.Kind() == reflect.Array) && expandable(et.Elem()):
		r.typ = "list of " + plural(phrase(et.Elem()))
		r.inFull = !secret && ev.IsValid() && ev.Len() > 0
		w.rows = append(w.rows, r)
		w.children(et.Elem(), path+"[]", section, secret)
	case et.Kind() == reflect.Map:
		r.path = join(path, "<"+w.keyName(path)+">")
		r.typ = phrase(et.Elem())
		if expandable(et.Elem()) {
			r.inFull = !secret && ev.IsValid() && ev.Len() > 0
			w.rows = append(w.rows, r)
			w.children(et.Elem(), r.path, section, secret)
			return
		}
		r.def = w.defaultOf(path, v, secret)
		w.rows = append(w.rows, r)
	default:
		if r.typ = phrase(et); r.typ == "" {
			w.problem("%s: a %s cannot be written in YAML: tag the field yaml:\"-\"", path, et)
			return
		}
		r.def = w.defaultOf(path, v, secret)
		w.rows = append(w.rows, r)
	}
}

// children adds the rows inside an entry of a list or mapping at path.
// Entries have no defaults of their own beyond what decoding an empty entry
// gives (an UnmarshalYAML method may set some).
func (w *walker) children(t reflect.Type, path, section string, secret bool) {
	et, _ := deref(t, reflect.Value{})
	switch et.Kind() {
	case reflect.Struct:
		w.structFields(et, elemDefault(et), path, section, secret)
	case reflect.Slice, reflect.Array:
		w.children(et.Elem(), path+"[]", section, secret)
	case reflect.Map:
		w.children(et.Elem(), join(path, "<"+w.keyName(path)+">"), section, secret)
	}
}

// keyName is what the keys of the mapping at path stand for.
func (w *walker) keyName(path string) string {
	if n, ok := w.keyNames[path]; ok {
		w.usedKeyNames[path] = true
		return n
	}
	return "key"
}

// defaultOf renders v, the default of the field at path, as YAML on one
// line; "" when it is zero or secret.
func (w *walker) defaultOf(path string, v reflect.Value, secret bool) string {
	if secret || !v.IsValid() || v.IsZero() || !v.CanInterface() {
		return ""
	}
	s, err := flowYAML(v.Interface())
	if err != nil {
		w.problem("%s: rendering the default: %v", path, err)
	}
	return s
}

// flowYAML renders v as YAML in flow style, on one line.
func flowYAML(v any) (string, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return "", err
	}
	var flow func(*yaml.Node)
	flow = func(n *yaml.Node) {
		switch {
		case n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "\n"):
			n.Style = yaml.DoubleQuotedStyle
		case n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode:
			n.Style = yaml.FlowStyle
		}
		for _, c := range n.Content {
			flow(c)
		}
	}
	flow(&n)
	out, err := yaml.Marshal(&n)
	return strings.TrimSuffix(string(out), "\n"), err
}

// elemDefault returns what decoding an empty mapping into a new t gives:
// the zero value, or the defaults an UnmarshalYAML method sets.
func elemDefault(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if err := yaml.Unmarshal([]byte("{}"), p.Interface()); err != nil {
		return reflect.Zero(t)
	}
	return p.Elem()
}

// yamlKey returns the key of a struct field as the yaml package sees it,
// whether it is inlined, and false for a field the package skips.
func yamlKey(sf reflect.StructField) (key string, inline, ok bool) {
	if !sf.IsExported() && !sf.Anonymous {
		return "", false, false
	}
	tag := sf.Tag.Get("yaml")
	if tag == "" && !strings.Contains(string(sf.Tag), ":") {
		tag = string(sf.Tag)
	}
	if tag == "-" {
		return "", false, false
	}
	name, flags, _ := strings.Cut(tag, ",")
	if name == "" {
		name = strings.ToLower(sf.Name)
	}
	return name, slices.Contains(strings.Split(flags, ","), "inline"), true
}

// isSecret reports a field kept out of JSON, which is how config types mark
// secrets: a reference never shows their values.
func isSecret(sf reflect.StructField) bool { return sf.Tag.Get("json") == "-" }

// goToYAML maps the Go names of t's fields, inlined ones included, to their
// YAML keys.
func goToYAML(t reflect.Type) map[string]string {
	keys := make(map[string]string)
	for i := range t.NumField() {
		sf := t.Field(i)
		key, inline, ok := yamlKey(sf)
		switch et, _ := deref(sf.Type, reflect.Value{}); {
		case !ok:
		case inline && et.Kind() == reflect.Struct:
			for g, k := range goToYAML(et) {
				keys[g] = k
			}
		case !inline:
			keys[sf.Name] = key
		}
	}
	return keys
}

// goWordRE matches a word that may be a Go identifier.
var goWordRE = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*\b`)

// userWords rewrites the Go field names in a doc comment as the YAML keys a
// user writes: the comment's first word when it names a field ("ClientID
// overrides" becomes "`client_id` overrides"), and elsewhere the names
// whose keys have several words (PasswordFile becomes `password_file`, but
// Kafka stays a word: "the Kafka cluster").
func userWords(text string, keys map[string]string) string {
	var b strings.Builder
	last := 0
	for _, m := range goWordRE.FindAllStringIndex(text, -1) {
		key, ok := keys[text[m[0]:m[1]]]
		if !ok || m[0] > 0 && (text[m[0]-1] == '`' || !strings.Contains(key, "_")) {
			continue
		}
		b.WriteString(text[last:m[0]])
		b.WriteString("`" + key + "`")
		last = m[1]
	}
	b.WriteString(text[last:])
	return b.String()
}

// deref follows pointers in t, and in v while it is set; v comes back
// invalid when a pointer is nil.
func deref(t reflect.Type, v reflect.Value) (reflect.Type, reflect.Value) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsValid() && !v.IsNil() {
			v = v.Elem()
		} else {
			v = reflect.Value{}
		}
	}
	return t, v
}

// isSection reports a struct written as a mapping of its own fields (and
// not as text, as a time or an address is).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != timeType && !reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// expandable reports a type that holds sections, whose fields get rows.
func expandable(t reflect.Type) bool {
	t, _ = deref(t, reflect.Value{})
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return expandable(t.Elem())
	}
	return isSection(t)
}

// phrase says what a value of type t is, in the words of someone writing
// YAML; "" for a type YAML cannot hold.
func phrase(t reflect.Type) string {
	t, _ = deref(t, reflect.Value{})
	switch {
	case t == durationType:
		return "duration"
	case t == timeType:
		return "time"
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "text"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct:
		return "mapping"
	case reflect.Interface:
		return "value"
	case reflect.Slice, reflect.Array:
		if e := phrase(t.Elem()); e != "" {
			return "list of " + plural(e)
		}
	case reflect.Map:
		if k, e := phrase(t.Key()), phrase(t.Elem()); k != "" && e != "" {
			return "mapping of " + plural(k) + " to " + plural(e)
		}
	}
	return ""
}

// plural turns a phrase into its plural: list of text, lists of text.
func plural(p string) string {
	first, rest, _ := strings.Cut(p, " ")
	if first != "text" {
		first += "s"
	}
	if rest != "" {
		return first + " " + rest
	}
	return first
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}
