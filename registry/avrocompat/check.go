package avrocompat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Version is an existing version of a subject with its parsed schema.
type Version struct {
	Version int
	Schema  avro.Schema
}

// Incompatibility is one reason a candidate schema breaks an existing
// version, in the spirit of the Confluent Schema Registry's verbose
// compatibility messages.
type Incompatibility struct {
	// Type is one of the constants below, named as the Avro Java library
	// and the Confluent registry name them.
	Type string
	// Path locates the problem in the reader's schema as a JSON pointer,
	// such as /fields/1/type/items. The reader is the new schema when the
	// new schema must read old data (BACKWARD) and the existing version
	// when it must read new data (FORWARD).
	Path string
	// Field is the name of the innermost record field concerned, if any.
	Field string
	// Version is the existing version this incompatibility breaks.
	Version int
	// NewReads is set when the candidate is the reader (BACKWARD's
	// direction), clear when the existing version reads (FORWARD's).
	NewReads bool
	// Info is the short detail Avro Java's checker gives (its
	// Incompatibility.getMessage, which Confluent shows as
	// additionalInfo): the field name, "[A, B]" for missing symbols,
	// "expected: 8, found: 4", "reader type: INT not compatible with writer
	// type: STRING", "reader union lacking writer type: STRING".
	Info string
	// Message is a full sentence naming the field and the version, saying
	// what is wrong and what would fix it.
	Message string
}

// Incompatibility types.
const (
	// A reader field has no default and the writer lacks it.
	ReaderFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
	// The reader's type cannot read the writer's (and no promotion applies).
	TypeMismatch = "TYPE_MISMATCH"
	// The reader enum lacks symbols the writer enum has, and has no default.
	MissingEnumSymbols = "MISSING_ENUM_SYMBOLS"
	// A writer type (or writer union branch) has no reader type to read it.
	MissingUnionBranch = "MISSING_UNION_BRANCH"
	// Named types differ in name, and the reader has no alias for the
	// writer's name.
	NameMismatch = "NAME_MISMATCH"
	// Fixed types differ in size.
	FixedSizeMismatch = "FIXED_SIZE_MISMATCH"
	// Decimal types differ in scale, so a value would be read as another
	// number. Not checked by the Confluent registry; the Avro specification
	// requires decimal scales to match for schema resolution.
	DecimalScaleMismatch = "DECIMAL_SCALE_MISMATCH"
)

// Check checks candidate against the existing versions of a subject, given
// oldest first, under level, and returns every incompatibility found (not
// only the first), none when candidate is compatible. Non-transitive levels
// check against the latest existing version only, transitive ones against
// all; versions are checked newest first, so the latest version's problems
// come first. BACKWARD: the candidate (reader) can read data written with
// an old version (writer). FORWARD: an old version (reader) can read data
// written with the candidate (writer). FULL: both.
//
// Check follows the Avro specification's schema resolution rules; see the
// package documentation for the details and choices. It keeps nothing
// between calls.
func Check(level Level, candidate avro.Schema, existing []Version) []Incompatibility {
	if candidate == nil || len(existing) == 0 || (!level.backward() && !level.forward()) {
		return nil
	}
	against := existing
	if !level.Transitive() {
		against = existing[len(existing)-1:]
	}
	c := &checker{}
	var out []Incompatibility
	for i := len(against) - 1; i >= 0; i-- {
		v := against[i]
		if v.Schema == nil || v.Schema == candidate {
			continue
		}
		if level.backward() {
			out = c.run(out, v.Version, true, candidate, v.Schema)
		}
		if level.forward() {
			out = c.run(out, v.Version, false, v.Schema, candidate)
		}
	}
	return out
}

// checker holds what one Check call shares between its walks.
type checker struct {
	fields map[*avro.RecordSchema]*fieldIndex
	memo   map[recordPair]pairState
	path   []segment // reused path buffer
}

// fieldIndex indexes the fields of a large writer record by name, once
// lookups by scanning have missed often enough to pay for it.
type fieldIndex struct {
	misses int
	byName map[string]*avro.Field
}

// run walks reader against writer and appends what it finds to out.
func (c *checker) run(out []Incompatibility, version int, newReads bool, reader, writer avro.Schema) []Incompatibility {
	if c.memo != nil {
		clear(c.memo)
	}
	w := walk{c: c, version: version, newReads: newReads, out: out, path: c.path[:0]}
	w.compat(reader, writer)
	c.path = w.path[:0]
	return w.out
}

const (
	// linearFields is the record size up to which writer fields are
	// always found by scanning.
	linearFields = 16
	// indexAfter is how many scans of a larger record miss before it is
	// indexed.
	indexAfter = 8
)

// writerField returns the field of writer that reader field f reads: the
// one of the same name, else one named by an alias of f.
func (c *checker) writerField(writer *avro.RecordSchema, f *avro.Field) *avro.Field {
	fields := writer.Fields()
	if len(fields) > linearFields {
		if c.fields == nil {
			c.fields = map[*avro.RecordSchema]*fieldIndex{}
		}
		idx := c.fields[writer]
		if idx == nil {
			idx = &fieldIndex{}
			c.fields[writer] = idx
		}
		if idx.byName == nil {
			if idx.misses++; idx.misses > indexAfter {
				idx.byName = make(map[string]*avro.Field, len(fields))
				for _, wf := range fields {
					idx.byName[wf.Name()] = wf
				}
			}
		}
		if idx.byName != nil {
			if wf := idx.byName[f.Name()]; wf != nil {
				return wf
			}
			for _, a := range f.Aliases() {
				if wf := idx.byName[a]; wf != nil {
					return wf
				}
			}
			return nil
		}
	}
	for _, wf := range fields {
		if wf.Name() == f.Name() {
			return wf
		}
	}
	for _, a := range f.Aliases() {
		for _, wf := range fields {
			if wf.Name() == a {
				return wf
			}
		}
	}
	return nil
}

// recordPair identifies a (reader, writer) pair of records in the memo,
// which stops recursive types and keeps shared types from being walked
// once per use.
type recordPair struct{ reader, writer *avro.RecordSchema }

type pairState struct {
	active   bool // being walked: assume compatible (recursion)
	ok       bool // verdict, once walked
	reported bool // its incompatibilities are in the output
}

// walk checks one reader against one writer.
type walk struct {
	c        *checker
	version  int
	newReads bool // the candidate is the reader (the BACKWARD direction)
	path     []segment
	record   string // innermost reader record's full name
	field    string // innermost reader field's name
	trial    int    // > 0 while trying union branches: report nothing
	out      []Incompatibility
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// compat reports whether reader can read what writer writes, recording why
// not unless trying.
func (w *walk) compat(reader, writer avro.Schema) bool {
	reader, writer = deref(reader), deref(writer)
	if wu, ok := writer.(*avro.UnionSchema); ok {
		// Every branch the writer may have written must be readable.
		ok := true
		for i, b := range wu.Types() {
			if !w.writerBranch(reader, wu, b, i) {
				ok = false
			}
		}
		return ok
	}
	if ru, ok := reader.(*avro.UnionSchema); ok {
		return w.readerUnion(ru, writer)
	}
	return w.same(reader, writer)
}

// writerBranch checks that reader can read branch i (b) of writer union wu.
func (w *walk) writerBranch(reader avro.Schema, wu *avro.UnionSchema, b avro.Schema, i int) bool {
	b = deref(b)
	if ru, ok := reader.(*avro.UnionSchema); ok {
		return w.readerUnion(ru, b)
	}
	if sameKind(reader, b) {
		return w.same(reader, b)
	}
	// located at the writer's branch, as Avro Java locates it
	w.report(MissingUnionBranch, strconv.Itoa(i), "reader union lacking writer type: "+javaType(b), func() (string, string) {
		if w.newReads {
			return fmt.Sprintf("%s cannot read the %s branch of %s's %s", desc(reader), desc(b), w.writerName(), desc(wu)),
				fmt.Sprintf("make it a union that includes %s", desc(b))
		}
		return fmt.Sprintf("%s in %s cannot read the %s branch of the new schema's %s", desc(reader), w.readerName(), desc(b), desc(wu)),
			fmt.Sprintf("remove %s from the new union", desc(b))
	})
	return false
}

// readerUnion checks that some branch of reader union ru can read writer
// (not a union). Like the Java library, any branch that reads it will do.
func (w *walk) readerUnion(ru *avro.UnionSchema, writer avro.Schema) bool {
	branches := ru.Types()
	for _, b := range branches {
		if w.try(b, writer) {
			return true
		}
	}
	if w.trial > 0 {
		return false
	}
	// Explain through the branch the author most likely meant: the one of
	// the writer's type (and name, for named types), when there is one.
	match, first, count := -1, -1, 0
	for j, b := range branches {
		b = deref(b)
		if b.Type() != writer.Type() {
			continue
		}
		if count++; count == 1 {
			first = j
		}
		if rn, ok := b.(avro.NamedSchema); ok && nameMatch(rn, writer.(avro.NamedSchema)) {
			match = j
		}
	}
	if match < 0 && count == 1 {
		match = first
	}
	if match >= 0 {
		w.pushIndex(match)
		ok := w.same(deref(branches[match]), writer)
		w.pop(1)
		if !ok {
			return false
		}
		// The branch explains nothing after all: report the union as a whole.
	}
	w.report(MissingUnionBranch, "", "reader union lacking writer type: "+javaType(writer), func() (string, string) {
		if w.newReads {
			return fmt.Sprintf("the %s has no branch that can read %s, which %s can write", desc(ru), desc(writer), w.writerName()),
				fmt.Sprintf("add %s back to the union", desc(writer))
		}
		return fmt.Sprintf("the %s in %s has no branch that can read %s, which the new schema can write", desc(ru), w.readerName(), desc(writer)),
			fmt.Sprintf("remove %s from the new schema here, or change it back to a type the %s reads", desc(writer), desc(ru))
	})
	return false
}

// try reports whether reader can read writer, without reporting anything.
func (w *walk) try(reader, writer avro.Schema) bool {
	w.trial++
	ok := w.compat(reader, writer)
	w.trial--
	return ok
}

// same checks two schemas that are not unions.
func (w *walk) same(reader, writer avro.Schema) bool {
	rt, wt := reader.Type(), writer.Type()
	if rt != wt {
		if promotes(wt, rt) {
			return true
		}
		w.report(TypeMismatch, "", "reader type: "+javaType(reader)+" not compatible with writer type: "+javaType(writer), func() (string, string) {
			return fmt.Sprintf("it is %s in %s but %s in %s, and %s cannot be read as %s",
					desc(reader), w.readerName(), desc(writer), w.writerName(), desc(writer), desc(reader)),
				"keep it " + desc(w.old(reader, writer))
		})
		return false
	}
	switch rt {
	case avro.Bytes:
		return w.decimal(reader, writer)
	case avro.Array:
		w.push("items")
		ok := w.compat(reader.(*avro.ArraySchema).Items(), writer.(*avro.ArraySchema).Items())
		w.pop(1)
		return ok
	case avro.Map:
		w.push("values")
		ok := w.compat(reader.(*avro.MapSchema).Values(), writer.(*avro.MapSchema).Values())
		w.pop(1)
		return ok
	case avro.Record:
		return w.records(reader.(*avro.RecordSchema), writer.(*avro.RecordSchema))
	case avro.Enum:
		return w.enums(reader.(*avro.EnumSchema), writer.(*avro.EnumSchema))
	case avro.Fixed:
		return w.fixed(reader.(*avro.FixedSchema), writer.(*avro.FixedSchema))
	}
	return true
}

func (w *walk) records(r, wr *avro.RecordSchema) bool {
	if !w.names(r, wr) {
		return false
	}
	key := recordPair{r, wr}
	if w.c.memo == nil {
		w.c.memo = map[recordPair]pairState{}
	}
	st, seen := w.c.memo[key]
	switch {
	case !seen:
		w.c.memo[key] = pairState{active: true}
		ok := w.fields(r, wr)
		w.c.memo[key] = pairState{ok: ok, reported: !ok && w.trial == 0}
		return ok
	case st.active || st.ok:
		return true
	case w.trial > 0 || st.reported:
		return false
	}
	// Failed while trying a union branch; walk again to report why.
	w.c.memo[key] = pairState{active: true}
	w.fields(r, wr)
	w.c.memo[key] = pairState{reported: true}
	return false
}

func (w *walk) fields(r, wr *avro.RecordSchema) bool {
	record, field := w.record, w.field
	w.record = r.FullName()
	ok := true
	wfields := wr.Fields()
	prefix := 0 // leading reader fields found at their own position
	for i, f := range r.Fields() {
		w.field = f.Name()
		w.push("fields")
		w.pushIndex(i)
		// Fields mostly keep their positions, so look there first. Once
		// every writer field has been read by the reader field of its name
		// at its position, a later reader field without aliases cannot be
		// in the writer: names are unique.
		var wf *avro.Field
		switch {
		case i < len(wfields) && wfields[i].Name() == f.Name():
			wf = wfields[i]
			if prefix == i {
				prefix++
			}
		case prefix == len(wfields) && len(f.Aliases()) == 0:
		default:
			wf = w.c.writerField(wr, f)
		}
		switch {
		case wf != nil:
			w.push("type")
			if !w.compat(f.Type(), wf.Type()) {
				ok = false
			}
			w.pop(1)
		case !f.HasDefault():
			ok = false
			w.report(ReaderFieldMissingDefaultValue, "", f.Name(), func() (string, string) {
				if w.newReads {
					return fmt.Sprintf("it has no default and %s does not have it", w.writerName()),
						fmt.Sprintf("give %q a default (or, if it renames a field of %s, list the old name in its \"aliases\")", f.Name(), w.writerName())
				}
				return fmt.Sprintf("it has no default in %s and the new schema does not have it", w.readerName()),
					fmt.Sprintf("keep %q in the new schema", f.Name())
			})
		}
		w.pop(2)
	}
	w.record, w.field = record, field
	return ok
}

func (w *walk) enums(r, wr *avro.EnumSchema) bool {
	if !w.names(r, wr) {
		return false
	}
	if r.HasDefault() {
		return true
	}
	var missing []string
	have := r.Symbols()
	for _, s := range wr.Symbols() {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return true
	}
	w.report(MissingEnumSymbols, "symbols", "["+strings.Join(missing, ", ")+"]", func() (string, string) {
		list := strings.Join(missing, ", ")
		if w.newReads {
			return fmt.Sprintf("enum %s lacks symbols [%s] that %s can write, and has no default symbol", r.FullName(), list, w.writerName()),
				`keep those symbols or give the enum a "default"`
		}
		return fmt.Sprintf("enum %s in %s lacks symbols [%s] that the new schema adds, and has no default symbol there", r.FullName(), w.readerName(), list),
			"remove those symbols from the new schema"
	})
	return false
}

func (w *walk) fixed(r, wr *avro.FixedSchema) bool {
	if !w.names(r, wr) {
		return false
	}
	if r.Size() != wr.Size() {
		w.report(FixedSizeMismatch, "size", fmt.Sprintf("expected: %d, found: %d", wr.Size(), r.Size()), func() (string, string) {
			return fmt.Sprintf("fixed %s is %d bytes in %s but %d bytes in %s", r.FullName(), r.Size(), w.readerName(), wr.Size(), w.writerName()),
				fmt.Sprintf("keep size %d", w.old(r, wr).(*avro.FixedSchema).Size())
		})
		return false
	}
	return w.decimal(r, wr)
}

// decimal checks that two decimals of the same underlying type (bytes or
// fixed) agree on scale. Precision is not checked: a reader with a smaller
// precision still decodes every value.
func (w *walk) decimal(reader, writer avro.Schema) bool {
	rd, wd := decimalOf(reader), decimalOf(writer)
	if rd == nil || wd == nil || rd.Scale() == wd.Scale() {
		return true
	}
	w.report(DecimalScaleMismatch, "", fmt.Sprintf("expected: %d, found: %d", wd.Scale(), rd.Scale()), func() (string, string) {
		return fmt.Sprintf("the decimal scale is %d in %s but %d in %s, so every value would be read as a different number",
				rd.Scale(), w.readerName(), wd.Scale(), w.writerName()),
			fmt.Sprintf("keep scale %d", decimalOf(w.old(reader, writer)).Scale())
	})
	return false
}

func decimalOf(s avro.Schema) *avro.DecimalLogicalSchema {
	if l, ok := s.(avro.LogicalTypeSchema); ok {
		d, _ := l.Logical().(*avro.DecimalLogicalSchema)
		return d
	}
	return nil
}

// names checks that reader's name matches writer's: the same unqualified
// name, as the Avro specification and the Java library have it, or a
// reader alias that is the writer's full name.
func (w *walk) names(r, wr avro.NamedSchema) bool {
	if nameMatch(r, wr) {
		return true
	}
	w.report(NameMismatch, "name", "expected: "+wr.FullName(), func() (string, string) {
		kind := string(r.Type())
		if kind == string(avro.Fixed) {
			kind = "fixed type"
		}
		if w.newReads {
			return fmt.Sprintf("the %s is named %s in the new schema but %s in %s", kind, r.FullName(), wr.FullName(), w.writerName()),
				fmt.Sprintf("keep the name %s or add %q to the aliases of %s", wr.FullName(), wr.FullName(), r.FullName())
		}
		return fmt.Sprintf("the %s is named %s in %s but %s in the new schema, and %s has no alias for it", kind, r.FullName(), w.readerName(), wr.FullName(), w.readerName()),
			fmt.Sprintf("keep the name %s", r.FullName())
	})
	return false
}

func nameMatch(r, wr avro.NamedSchema) bool {
	return r.Name() == wr.Name() || slices.Contains(r.Aliases(), wr.FullName())
}

// promotes reports whether a writer's wt is read as the reader's rt.
func promotes(wt, rt avro.Type) bool {
	switch wt {
	case avro.Int:
		return rt == avro.Long || rt == avro.Float || rt == avro.Double
	case avro.Long:
		return rt == avro.Float || rt == avro.Double
	case avro.Float:
		return rt == avro.Double
	case avro.String:
		return rt == avro.Bytes
	case avro.Bytes:
		return rt == avro.String
	}
	return false
}

// sameKind reports whether reader and writer (neither a union) are of one
// type or a promotion, so that comparing them explains more than "no
// branch reads it".
func sameKind(reader, writer avro.Schema) bool {
	return reader.Type() == writer.Type() || promotes(writer.Type(), reader.Type())
}

// segment is one step of a path: a name, or an index when name is "".
type segment struct {
	name  string
	index int
}

func (w *walk) push(name string) { w.path = append(w.path, segment{name: name}) }
func (w *walk) pushIndex(i int)  { w.path = append(w.path, segment{index: i}) }
func (w *walk) pop(n int)        { w.path = w.path[:len(w.path)-n] }

// pathString renders the path as a JSON pointer.
func (w *walk) pathString() string {
	if len(w.path) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range w.path {
		b.WriteByte('/')
		if s.name != "" {
			b.WriteString(s.name)
		} else {
			b.WriteString(strconv.Itoa(s.index))
		}
	}
	return b.String()
}

// report records an incompatibility at the current path (plus last, if
// any). text returns the specific problem and its fix; it is called only
// when reporting, so trying union branches formats nothing.
func (w *walk) report(typ, last, info string, text func() (problem, fix string)) {
	if w.trial > 0 {
		return
	}
	path := w.pathString()
	if last != "" {
		path = strings.TrimSuffix(path, "/") + "/" + last
	}
	problem, fix := text()
	where := "the top-level type"
	switch {
	case w.field != "":
		where = fmt.Sprintf("field %q of record %s", w.field, w.record)
	case w.record != "":
		where = "record " + w.record
	}
	w.out = append(w.out, Incompatibility{
		Type:     typ,
		Path:     path,
		Field:    w.field,
		Version:  w.version,
		NewReads: w.newReads,
		Info:     info,
		Message: fmt.Sprintf("%s cannot read data written with %s: %s (at %s): %s; %s.",
			capitalize(w.readerName()), w.writerName(), where, path, problem, fix),
	})
}

func (w *walk) readerName() string {
	if w.newReads {
		return "the new schema"
	}
	return "version " + strconv.Itoa(w.version)
}

func (w *walk) writerName() string {
	if w.newReads {
		return "version " + strconv.Itoa(w.version)
	}
	return "the new schema"
}

// old returns whichever of reader and writer is the existing version's.
func (w *walk) old(reader, writer avro.Schema) avro.Schema {
	if w.newReads {
		return writer
	}
	return reader
}

func capitalize(s string) string {
	return strings.ToUpper(s[:1]) + s[1:]
}

// desc describes a type for a message: "long (timestamp-millis)",
// "record shop.Money", "array of string", "union [null, string]".
func desc(s avro.Schema) string {
	return describe(s, 2)
}

func describe(s avro.Schema, depth int) string {
	s = deref(s)
	switch t := s.(type) {
	case avro.NamedSchema:
		return string(t.Type()) + " " + t.FullName()
	case *avro.ArraySchema:
		if depth == 0 {
			return "array"
		}
		return "array of " + describe(t.Items(), depth-1)
	case *avro.MapSchema:
		if depth == 0 {
			return "map"
		}
		return "map of " + describe(t.Values(), depth-1)
	case *avro.UnionSchema:
		if depth == 0 {
			return "union"
		}
		parts := make([]string, len(t.Types()))
		for i, b := range t.Types() {
			parts[i] = short(b)
		}
		return "union [" + strings.Join(parts, ", ") + "]"
	case *avro.PrimitiveSchema:
		if d, ok := t.Logical().(*avro.DecimalLogicalSchema); ok {
			return fmt.Sprintf("%s (decimal(%d,%d))", t.Type(), d.Precision(), d.Scale())
		}
		if l := t.Logical(); l != nil {
			return fmt.Sprintf("%s (%s)", t.Type(), l.Type())
		}
	}
	return string(s.Type())
}

// short names a union branch: a named type's full name, else its type.
func short(s avro.Schema) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// javaType names a schema's type as Avro Java's Schema.Type prints it.
func javaType(s avro.Schema) string { return strings.ToUpper(string(deref(s).Type())) }
