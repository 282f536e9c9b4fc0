package reference

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is what a reference says besides the fields themselves.
type Doc struct {
	// Title heads the page, e.g. "MQTT adapter configuration".
	Title string
	// Intro is the text under the title: what the file configures and how
	// a service is given it. Markdown; may hold several paragraphs.
	Intro string
	// KeyNames says what the keys of mapping fields stand for, by the
	// field's path: {"sites[].ports": "service"} lists the field as
	// sites[].ports.<service> instead of sites[].ports.<key>.
	KeyNames map[string]string
}

// Markdown renders the reference of the config struct v (or a pointer to
// one), which holds the defaults: a table per top-level section giving each
// field's YAML path, type, default and doc comment, then the whole default
// configuration as YAML. Doc comments are read from the source of the
// packages declaring the types, so it must run inside the repository (as
// tests do). It fails when a field has no doc comment, listing every one.
func Markdown(doc Doc, v any) (string, error) {
	if strings.TrimSpace(doc.Title) == "" {
		return "", errors.New("reference: Doc.Title is empty: give the page a title")
	}
	rv, rows, err := walk(doc, v)
	if err != nil {
		return "", err
	}
	defaults, err := defaultsYAML(rv)
	if err != nil {
		return "", fmt.Errorf("reference: rendering the defaults of %s: %w", rv.Type(), err)
	}
	return render(doc, rv.Type(), rows, defaults), nil
}

// walk returns the struct in v and the rows of its reference.
func walk(doc Doc, v any) (reflect.Value, []row, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return rv, nil, fmt.Errorf("reference: want a config struct holding the defaults (e.g. DefaultConfig()), got %T", v)
	}
	w := newWalker(newSources(), doc.KeyNames)
	w.structFields(rv.Type(), rv, "", "", false)
	for _, p := range slices.Sorted(maps.Keys(doc.KeyNames)) {
		if !w.usedKeyNames[p] {
			w.problem("Doc.KeyNames names %s, which is not a mapping field of %s", p, rv.Type())
		}
	}
	return rv, w.rows, w.err()
}

func (w *walker) err() error {
	var errs []error
	if len(w.undocumented) > 0 {
		errs = append(errs, fmt.Errorf("reference: %d field(s) have no doc comment; write one above each, saying what it does for a user (it becomes the field's description):\n\t%s",
			len(w.undocumented), strings.Join(w.undocumented, "\n\t")))
	}
	for _, p := range w.problems {
		errs = append(errs, errors.New("reference: "+p))
	}
	return errors.Join(errs...)
}

// defaultsYAML is v as a configuration file, secrets left out.
func defaultsYAML(v reflect.Value) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(redact(v).Interface()); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// redact returns a deep copy of v with every secret field zeroed; v itself
// is not touched.
func redact(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(redact(v.Elem()))
		return p
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(redact(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v) // unexported fields too; yaml skips them
		for i := range v.NumField() {
			switch sf := v.Type().Field(i); {
			case !sf.IsExported():
			case isSecret(sf):
				c.Field(i).SetZero()
			default:
				c.Field(i).Set(redact(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(redact(v.Index(i)))
		}
		return c
	case reflect.Array:
		c := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			c.Index(i).Set(redact(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), redact(it.Value()))
		}
		return c
	}
	return v
}

// render writes the page: title, intro, how to read the tables, the
// top-level fields, a table per section, and the defaults in full.
func render(doc Doc, t reflect.Type, rows []row, defaults string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- Code generated from the doc comments of %s by internal/config/reference. DO NOT EDIT: edit the comments, then regenerate with UPDATE_REFERENCE=1 go test. -->\n\n", t)
	fmt.Fprintf(&b, "# %s\n\n", strings.TrimSpace(doc.Title))
	if intro := strings.TrimSpace(doc.Intro); intro != "" {
		b.WriteString(intro + "\n\n")
	}
	b.WriteString(legend(rows) + "\n\n")
	var sections []string
	for _, r := range rows {
		if r.section != "" && !slices.Contains(sections, r.section) {
			sections = append(sections, r.section)
		}
	}
	if top := sectionRows(rows, ""); len(top) > 0 {
		b.WriteString("## Top-level fields\n\n")
		table(&b, top)
	}
	for _, s := range sections {
		fmt.Fprintf(&b, "## `%s`\n\n", s)
		table(&b, sectionRows(rows, s))
	}
	b.WriteString("## Default configuration\n\nEvery default, as a file would set it; a file needs only what differs.\n\n")
	b.WriteString("```yaml\n" + defaults + "```\n")
	return b.String()
}

// legend says how to read the tables, mentioning only what they use.
func legend(rows []row) string {
	var lists, durations, secrets bool
	key := "" // the first placeholder of a mapping's keys, e.g. <key>
	for _, r := range rows {
		lists = lists || strings.Contains(r.path, "[]")
		if i := strings.IndexByte(r.path, '<'); i >= 0 && key == "" {
			key = r.path[i : i+strings.IndexByte(r.path[i:], '>')+1]
		}
		durations = durations || strings.Contains(r.typ, "duration")
		secrets = secrets || r.secret
	}
	s := "Each field is named by its YAML path"
	switch {
	case lists && key != "":
		s += ": `[]` stands for every entry of a list, and a name in angle brackets, such as `" + key + "`, for every key of a mapping"
	case lists:
		s += ": `[]` stands for every entry of a list"
	case key != "":
		s += ": a name in angle brackets, such as `" + key + "`, stands for every key of a mapping"
	}
	s += ". A blank default means empty, zero or false."
	if durations {
		s += " Durations are written like 500ms, 10s or 1m30s."
	}
	if secrets {
		s += " The values of secrets are never shown here."
	}
	return s
}

func sectionRows(rows []row, section string) []row {
	var out []row
	for _, r := range rows {
		if r.section == section {
			out = append(out, r)
		}
	}
	return out
}

func table(b *strings.Builder, rows []row) {
	b.WriteString("| Field | Type | Default | Description |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		typ := r.typ
		if r.secret {
			typ += " (secret)"
		}
		def := ""
		switch {
		case r.inFull:
			def = "[in full below](#default-configuration)"
		case r.def != "":
			def = code(r.def)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", code(r.path), typ, def, cell(r.doc))
	}
	b.WriteString("\n")
}

// code writes s as a code span in a table cell.
func code(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

// cell escapes a doc comment for a table cell: a | would end the cell, and
// a < outside code would start an HTML tag (meshwork-<site>).
func cell(s string) string {
	var b strings.Builder
	inCode := false
	for _, c := range s {
		switch {
		case c == '`':
			inCode = !inCode
		case c == '|':
			b.WriteString(`\`)
		case c == '<' && !inCode:
			b.WriteString(`\`)
		}
		b.WriteRune(c)
	}
	return b.String()
}
