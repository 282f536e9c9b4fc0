package serde

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// The walker reads an Avro payload against its writer schema without
// building Go values. It is the gate every payload passes before hamba/avro
// decodes it, and it renders payloads as JSON for DecodeJSON.
//
// It is strict where the Avro specification is: booleans are 0 or 1, ints fit
// in 32 bits, strings are UTF-8, enum and union indexes are in range, block
// byte sizes agree with their items, and nothing follows the value. It also
// bounds what a hostile payload can make a decoder do: every length and item
// count must fit in the bytes left (an item of a type that encodes to at
// least n bytes needs n bytes), items that encode to zero bytes (nulls, empty
// records) are limited to maxZeroSizeItems per payload, and values nest at
// most maxDepth deep. After a payload passes, decoding it allocates no more
// than a small multiple of its size. One range check serves hamba/avro
// rather than the specification: a time-micros must fit a time.Duration.

const (
	maxDepth         = 1000
	maxZeroSizeItems = 1 << 12
	// maxTimeMicros is the largest time-micros a time.Duration holds.
	maxTimeMicros = math.MaxInt64 / 1000
)

type walker struct {
	b         []byte
	pos       int
	depth     int
	zeroItems int
	json      bool                // render JSON into out
	out       []byte              // the JSON rendering
	min       map[avro.Schema]int // minSizes of the schema; read-only
}

// walkError is a mismatch found by the walker; path segments are collected
// innermost first while the error travels up.
type walkError struct {
	offset int
	rev    []string
	reason string
}

func (w *walker) fail(format string, args ...any) *walkError {
	return &walkError{offset: w.pos, reason: fmt.Sprintf(format, args...)}
}

func (e *walkError) in(segment string) *walkError {
	e.rev = append(e.rev, segment)
	return e
}

func (e *walkError) payloadError(id int) *PayloadError {
	var b strings.Builder
	for i := len(e.rev) - 1; i >= 0; i-- {
		b.WriteString(e.rev[i])
	}
	return &PayloadError{ID: id, Offset: e.offset, Path: b.String(), Reason: e.reason}
}

// check validates payload against sch; it returns nil or a *PayloadError.
func check(sch *Schema, payload []byte) error {
	w := walker{b: payload, min: sch.mins}
	return w.run(sch.ID, sch.Avro)
}

// renderJSON validates payload against sch and renders it as JSON; see
// DecodeJSON for the mapping.
func renderJSON(sch *Schema, payload []byte) ([]byte, error) {
	w := walker{b: payload, min: sch.mins, json: true, out: make([]byte, 0, 2*len(payload)+16)}
	if err := w.run(sch.ID, sch.Avro); err != nil {
		return nil, err
	}
	return w.out, nil
}

func (w *walker) run(id int, schema avro.Schema) error {
	if err := w.value(schema); err != nil {
		return err.payloadError(id)
	}
	if left := len(w.b) - w.pos; left > 0 {
		return (&walkError{offset: w.pos, reason: fmt.Sprintf("%d bytes left over after the value", left)}).payloadError(id)
	}
	return nil
}

func (w *walker) value(s avro.Schema) *walkError {
	switch s := s.(type) {
	case *avro.RefSchema:
		return w.value(s.Schema())
	case *avro.NullSchema:
		if w.json {
			w.out = append(w.out, "null"...)
		}
		return nil
	case *avro.PrimitiveSchema:
		return w.primitive(s)
	case *avro.FixedSchema:
		if s.Size() > len(w.b)-w.pos {
			return w.fail("fixed %s needs %d bytes, %d left", s.FullName(), s.Size(), len(w.b)-w.pos)
		}
		raw := w.b[w.pos : w.pos+s.Size()]
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return w.decimal(dec, raw, w.pos+s.Size())
		}
		w.pos += s.Size()
		if w.json {
			w.out = appendCodePoints(w.out, raw)
		}
		return nil
	case *avro.EnumSchema:
		start := w.pos
		idx, err := w.int()
		if err != nil {
			return err
		}
		if idx < 0 || int(idx) >= len(s.Symbols()) {
			w.pos = start
			return w.fail("enum %s index %d out of range (%d symbols)", s.FullName(), idx, len(s.Symbols()))
		}
		if w.json {
			w.out = appendString(w.out, s.Symbols()[idx])
		}
		return nil
	case *avro.UnionSchema:
		return w.union(s)
	case *avro.RecordSchema:
		return w.record(s)
	case *avro.ArraySchema:
		return w.array(s)
	case *avro.MapSchema:
		return w.mapValue(s)
	}
	return w.fail("unsupported schema type %s", s.Type())
}

func (w *walker) primitive(s *avro.PrimitiveSchema) *walkError {
	switch s.Type() {
	case avro.Boolean:
		if w.pos >= len(w.b) {
			return w.fail("boolean needs 1 byte, none left")
		}
		c := w.b[w.pos]
		if c > 1 {
			return w.fail("boolean byte is %d, want 0 or 1", c)
		}
		w.pos++
		if w.json {
			w.out = strconv.AppendBool(w.out, c == 1)
		}
		return nil
	case avro.Int:
		v, err := w.int()
		if err != nil {
			return err
		}
		if w.json {
			w.out = strconv.AppendInt(w.out, int64(v), 10)
		}
		return nil
	case avro.Long:
		start := w.pos
		v, err := w.long()
		if err != nil {
			return err
		}
		if l := s.Logical(); l != nil && l.Type() == avro.TimeMicros && (v > maxTimeMicros || v < -maxTimeMicros) {
			// hamba/avro reads time-micros as a time.Duration, which
			// would silently wrap.
			w.pos = start
			return w.fail("time-micros %d is out of range (a day has 86400000000)", v)
		}
		if w.json {
			w.out = strconv.AppendInt(w.out, v, 10)
		}
		return nil
	case avro.Float:
		if len(w.b)-w.pos < 4 {
			return w.fail("float needs 4 bytes, %d left", len(w.b)-w.pos)
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(w.b[w.pos:]))
		w.pos += 4
		if w.json {
			w.out = appendFloat(w.out, float64(f), 32)
		}
		return nil
	case avro.Double:
		if len(w.b)-w.pos < 8 {
			return w.fail("double needs 8 bytes, %d left", len(w.b)-w.pos)
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(w.b[w.pos:]))
		w.pos += 8
		if w.json {
			w.out = appendFloat(w.out, f, 64)
		}
		return nil
	case avro.String:
		raw, err := w.bytes("string")
		if err != nil {
			return err
		}
		if !utf8.Valid(raw) {
			w.pos -= len(raw)
			return w.fail("string is not valid UTF-8")
		}
		if w.json {
			w.out = appendString(w.out, string(raw))
		}
		return nil
	case avro.Bytes:
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			start := w.pos
			raw, err := w.bytes("decimal")
			if err != nil {
				return err
			}
			end := w.pos
			w.pos = start
			return w.decimal(dec, raw, end)
		}
		raw, err := w.bytes("bytes")
		if err != nil {
			return err
		}
		if w.json {
			w.out = appendCodePoints(w.out, raw)
		}
		return nil
	}
	return w.fail("unsupported primitive type %s", s.Type())
}

// uvarint reads a base-128 varint of at most maxBytes bytes; errors name it
// what and suffix (two strings, so that the happy path builds none).
func (w *walker) uvarint(what, suffix string, maxBytes int) (uint64, *walkError) {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		if w.pos+i >= len(w.b) {
			return 0, w.fail("%s%s is truncated", what, suffix)
		}
		c := w.b[w.pos+i]
		if i == 9 && c > 1 {
			return 0, w.fail("%s%s overflows 64 bits", what, suffix)
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			w.pos += i + 1
			return v, nil
		}
	}
	return 0, w.fail("%s%s is longer than %d bytes", what, suffix, maxBytes)
}

func (w *walker) int() (int32, *walkError) {
	start := w.pos
	u, err := w.uvarint("int", "", 5)
	if err != nil {
		return 0, err
	}
	if u > math.MaxUint32 {
		w.pos = start
		return 0, w.fail("int overflows 32 bits")
	}
	return int32(u>>1) ^ -int32(u&1), nil
}

func (w *walker) long() (int64, *walkError) { return w.longNamed("long", "") }

// longNamed reads a long, naming it in errors what and suffix.
func (w *walker) longNamed(what, suffix string) (int64, *walkError) {
	u, err := w.uvarint(what, suffix, 10)
	if err != nil {
		return 0, err
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

// bytes reads a length-prefixed byte string.
func (w *walker) bytes(what string) ([]byte, *walkError) {
	start := w.pos
	n, err := w.longNamed(what, " length")
	if err != nil {
		return nil, err
	}
	if n < 0 || n > int64(len(w.b)-w.pos) {
		w.pos = start
		return nil, w.fail("%s length %d, %d bytes left", what, n, len(w.b)-w.pos)
	}
	raw := w.b[w.pos : w.pos+int(n)]
	w.pos += int(n)
	return raw, nil
}

func (w *walker) enter() *walkError {
	w.depth++
	if w.depth > maxDepth {
		return w.fail("values nest deeper than %d", maxDepth)
	}
	return nil
}

func (w *walker) record(s *avro.RecordSchema) *walkError {
	if err := w.enter(); err != nil {
		return err
	}
	defer func() { w.depth-- }()
	if w.json {
		w.out = append(w.out, '{')
	}
	for i, f := range s.Fields() {
		if w.json {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			w.out = appendString(w.out, f.Name())
			w.out = append(w.out, ':')
		}
		if err := w.value(f.Type()); err != nil {
			return err.in("." + f.Name())
		}
	}
	if w.json {
		w.out = append(w.out, '}')
	}
	return nil
}

func (w *walker) union(s *avro.UnionSchema) *walkError {
	if err := w.enter(); err != nil {
		return err
	}
	defer func() { w.depth-- }()
	start := w.pos
	idx, err := w.int()
	if err != nil {
		return err
	}
	types := s.Types()
	if idx < 0 || int(idx) >= len(types) {
		w.pos = start
		return w.fail("union index %d out of range (%d branches)", idx, len(types))
	}
	branch := types[idx]
	if !w.json || branch.Type() == avro.Null || bareUnion(s) {
		return w.value(branch)
	}
	w.out = append(w.out, '{')
	w.out = appendString(w.out, branchName(branch))
	w.out = append(w.out, ':')
	if err := w.value(branch); err != nil {
		return err
	}
	w.out = append(w.out, '}')
	return nil
}

func (w *walker) array(s *avro.ArraySchema) *walkError {
	if err := w.enter(); err != nil {
		return err
	}
	defer func() { w.depth-- }()
	if w.json {
		w.out = append(w.out, '[')
	}
	err := w.blocks("array", w.minSize(s.Items()), func(i int) *walkError {
		if w.json && i > 0 {
			w.out = append(w.out, ',')
		}
		if err := w.value(s.Items()); err != nil {
			return err.in("[" + strconv.Itoa(i) + "]")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if w.json {
		w.out = append(w.out, ']')
	}
	return nil
}

func (w *walker) mapValue(s *avro.MapSchema) *walkError {
	if err := w.enter(); err != nil {
		return err
	}
	defer func() { w.depth-- }()
	if w.json {
		w.out = append(w.out, '{')
	}
	// A map entry is a string key (at least its length byte) and a value.
	err := w.blocks("map", 1+w.minSize(s.Values()), func(i int) *walkError {
		key, err := w.bytes("map key")
		if err != nil {
			return err.in("[" + strconv.Itoa(i) + "]")
		}
		if !utf8.Valid(key) {
			w.pos -= len(key)
			return w.fail("map key is not valid UTF-8").in("[" + strconv.Itoa(i) + "]")
		}
		if w.json {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			w.out = appendString(w.out, string(key))
			w.out = append(w.out, ':')
		}
		if err := w.value(s.Values()); err != nil {
			return err.in("[" + strconv.Quote(string(key)) + "]")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if w.json {
		w.out = append(w.out, '}')
	}
	return nil
}

// blocks reads the blocks of an array or map: a count, a byte size when the
// count is negative, that many items, until a zero count. min is the fewest
// bytes one item can encode to.
func (w *walker) blocks(what string, min int, item func(i int) *walkError) *walkError {
	i := 0
	for {
		start := w.pos
		count, err := w.longNamed(what, " block count")
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		size := int64(-1)
		if count < 0 {
			if count == math.MinInt64 {
				w.pos = start
				return w.fail("%s block count %d out of range", what, count)
			}
			count = -count
			sizeAt := w.pos
			if size, err = w.longNamed(what, " block size"); err != nil {
				return err
			}
			if size < 0 {
				w.pos = sizeAt
				return w.fail("%s block size %d is negative", what, size)
			}
		}
		left := int64(len(w.b) - w.pos)
		if min > 0 {
			if count > left/int64(min) {
				w.pos = start
				return w.fail("%s block of %d items cannot fit in the %d bytes left", what, count, left)
			}
		} else {
			if count > maxZeroSizeItems-int64(w.zeroItems) {
				w.pos = start
				return w.fail("%s block of %d empty items exceeds the limit of %d per payload", what, count, maxZeroSizeItems)
			}
			w.zeroItems += int(count)
		}
		body := w.pos
		for range count {
			if err := item(i); err != nil {
				return err
			}
			i++
		}
		if size >= 0 && int64(w.pos-body) != size {
			return w.fail("%s block says it has %d bytes, its items have %d", what, size, w.pos-body)
		}
	}
}

// minSize returns the fewest bytes a value of s, an array's items or a map's
// values, encodes to.
func (w *walker) minSize(s avro.Schema) int {
	if n, ok := w.min[deref(s)]; ok {
		return n
	}
	return minSize(s, make(map[avro.Schema]int)) // not precomputed: cannot happen
}

// minSizes computes, once per schema, the minimum encoded size of the items
// of every array and the values of every map in it, keyed by the item or
// value schema (references followed), for the walker to share read-only.
func minSizes(s avro.Schema) map[avro.Schema]int {
	memo := make(map[avro.Schema]int)
	out := make(map[avro.Schema]int)
	seen := make(map[avro.Schema]bool)
	var visit func(avro.Schema)
	visit = func(s avro.Schema) {
		s = deref(s)
		if seen[s] {
			return
		}
		seen[s] = true
		switch s := s.(type) {
		case *avro.RecordSchema:
			for _, f := range s.Fields() {
				visit(f.Type())
			}
		case *avro.UnionSchema:
			for _, t := range s.Types() {
				visit(t)
			}
		case *avro.ArraySchema:
			out[deref(s.Items())] = minSize(s.Items(), memo)
			visit(s.Items())
		case *avro.MapSchema:
			out[deref(s.Values())] = minSize(s.Values(), memo)
			visit(s.Values())
		}
	}
	visit(s)
	return out
}

func minSize(s avro.Schema, memo map[avro.Schema]int) int {
	s = deref(s)
	if n, ok := memo[s]; ok {
		return n
	}
	var n int
	switch s := s.(type) {
	case *avro.NullSchema:
		n = 0
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Float:
			n = 4
		case avro.Double:
			n = 8
		default: // boolean, int, long, string and bytes: at least one byte
			n = 1
		}
	case *avro.FixedSchema:
		n = s.Size()
	case *avro.RecordSchema:
		memo[s] = 0 // a record reached again through itself counts as empty
		for _, f := range s.Fields() {
			n += minSize(f.Type(), memo)
			if n > math.MaxInt32 {
				n = math.MaxInt32
			}
		}
	default: // enum, union, array and map: at least one byte
		n = 1
	}
	memo[s] = n
	return n
}

// bareUnion reports whether DecodeJSON renders a value of u without the
// Avro JSON union wrapper: u is a null and one other type, and that type's
// values can never be mistaken for the wrapper, which is an object with one
// key naming a branch. Maps can have any keys, so they stay wrapped; so does
// a record with a single field named like a branch.
func bareUnion(u *avro.UnionSchema) bool {
	types := u.Types()
	if len(types) != 2 || (types[0].Type() != avro.Null && types[1].Type() != avro.Null) {
		return false
	}
	other := deref(types[0])
	if other.Type() == avro.Null {
		other = deref(types[1])
	}
	switch other := other.(type) {
	case *avro.MapSchema:
		return false
	case *avro.RecordSchema:
		if fields := other.Fields(); len(fields) == 1 {
			for _, t := range types {
				for _, name := range branchNames(t) {
					if fields[0].Name() == name {
						return false
					}
				}
			}
		}
	}
	return true
}

// branchName is the name of a union branch in Avro's JSON encoding: the full
// name of a named type, else the type's name ("string", "array").
func branchName(s avro.Schema) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// branchNames are the names EncodeJSON accepts for a union branch: the full
// name and short name of a named type, or the type's name and, for a logical
// type, the type and logical type joined by a dot ("long.timestamp-millis").
func branchNames(s avro.Schema) []string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		if n.Name() != n.FullName() {
			return []string{n.FullName(), n.Name()}
		}
		return []string{n.FullName()}
	}
	names := []string{string(s.Type())}
	if lt, ok := s.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		names = append(names, string(s.Type())+"."+string(lt.Logical().Type()))
	}
	return names
}

// appendString appends s as a JSON string; s is valid UTF-8.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendCodePoints appends raw bytes as Avro's JSON encoding does: a string
// whose code points U+0000 to U+00FF are the bytes.
func appendCodePoints(dst []byte, raw []byte) []byte {
	var b strings.Builder
	b.Grow(len(raw))
	for _, c := range raw {
		b.WriteRune(rune(c))
	}
	return appendString(dst, b.String())
}

// decimal checks a decimal's unscaled value (raw, big-endian two's
// complement), which starts at the walker's position and ends at end, against
// the schema's precision, and renders it as a JSON string like "-12.50".
func (w *walker) decimal(dec *avro.DecimalLogicalSchema, raw []byte, end int) *walkError {
	n := new(big.Int).SetBytes(raw)
	if len(raw) > 0 && raw[0]&0x80 != 0 { // two's complement: negative
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
	}
	digits := new(big.Int).Abs(n).String()
	if n.Sign() != 0 && len(digits) > dec.Precision() {
		return w.fail("decimal has %d digits, precision is %d", len(digits), dec.Precision())
	}
	w.pos = end
	if w.json {
		w.out = append(w.out, '"')
		w.out = append(w.out, formatDecimal(n, dec.Scale())...)
		w.out = append(w.out, '"')
	}
	return nil
}

func formatDecimal(unscaled *big.Int, scale int) string {
	digits := new(big.Int).Abs(unscaled).String()
	sign := ""
	if unscaled.Sign() < 0 {
		sign = "-"
	}
	if scale <= 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

// appendFloat appends f as a JSON number, or as the string "NaN",
// "Infinity" or "-Infinity", which JSON numbers cannot express.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}
