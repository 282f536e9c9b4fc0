package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// parseJSON reads one JSON document, numbers kept as json.Number so that
// longs survive beyond 2^53.
func parseJSON(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not a JSON document: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a single JSON document: data follows the first value")
	}
	return v, nil
}

// jsonError is a JSON value that does not fit the schema; path is built
// innermost first.
type jsonError struct {
	rev    []string
	reason string
}

func (e *jsonError) Error() string {
	var b strings.Builder
	for i := len(e.rev) - 1; i >= 0; i-- {
		b.WriteString(e.rev[i])
	}
	if b.Len() == 0 {
		return e.reason
	}
	return b.String() + ": " + e.reason
}

func (e *jsonError) in(segment string) *jsonError {
	e.rev = append(e.rev, segment)
	return e
}

func jsonErrf(format string, args ...any) *jsonError {
	return &jsonError{reason: fmt.Sprintf(format, args...)}
}

// fromJSON converts a JSON value (as parseJSON returns it) into the Go value
// hamba/avro encodes as s. See DecodeJSON's documentation for the mapping.
func fromJSON(s avro.Schema, v any) (any, *jsonError) {
	switch s := s.(type) {
	case *avro.RefSchema:
		return fromJSON(s.Schema(), v)
	case *avro.NullSchema:
		if v != nil {
			return nil, jsonErrf("null wants null, got %s", jsonKind(v))
		}
		return nil, nil
	case *avro.PrimitiveSchema:
		return primitiveFromJSON(s, v)
	case *avro.FixedSchema:
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return decimalFromJSON(dec, v)
		}
		raw, err := codePointsFromJSON(v)
		if err != nil {
			return nil, err
		}
		if len(raw) != s.Size() {
			return nil, jsonErrf("fixed %s needs %d bytes, got %d", s.FullName(), s.Size(), len(raw))
		}
		arr := reflect.New(reflect.ArrayOf(s.Size(), reflect.TypeFor[byte]())).Elem()
		reflect.Copy(arr, reflect.ValueOf(raw))
		return arr.Interface(), nil
	case *avro.EnumSchema:
		sym, ok := v.(string)
		if !ok {
			return nil, jsonErrf("enum %s wants a string, got %s", s.FullName(), jsonKind(v))
		}
		for _, known := range s.Symbols() {
			if sym == known {
				return sym, nil
			}
		}
		return nil, jsonErrf("%q is not a symbol of enum %s (%s)", sym, s.FullName(), strings.Join(s.Symbols(), ", "))
	case *avro.ArraySchema:
		items, ok := v.([]any)
		if !ok {
			return nil, jsonErrf("array wants a JSON array, got %s", jsonKind(v))
		}
		out := make([]any, len(items))
		for i, item := range items {
			conv, err := fromJSON(s.Items(), item)
			if err != nil {
				return nil, err.in("[" + strconv.Itoa(i) + "]")
			}
			out[i] = conv
		}
		return out, nil
	case *avro.MapSchema:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, jsonErrf("map wants a JSON object, got %s", jsonKind(v))
		}
		out := make(map[string]any, len(obj))
		for k, item := range obj {
			conv, err := fromJSON(s.Values(), item)
			if err != nil {
				return nil, err.in("[" + strconv.Quote(k) + "]")
			}
			out[k] = conv
		}
		return out, nil
	case *avro.RecordSchema:
		return recordFromJSON(s, v)
	case *avro.UnionSchema:
		return unionFromJSON(s, v)
	}
	return nil, jsonErrf("unsupported schema type %s", s.Type())
}

func recordFromJSON(s *avro.RecordSchema, v any) (any, *jsonError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, jsonErrf("record %s wants a JSON object, got %s", s.FullName(), jsonKind(v))
	}
	out := make(map[string]any, len(s.Fields()))
	for _, f := range s.Fields() {
		item, ok := obj[f.Name()]
		if !ok {
			if f.HasDefault() {
				continue // hamba/avro writes the field's default
			}
			return nil, jsonErrf("missing field %q, which has no default", f.Name())
		}
		conv, err := fromJSON(f.Type(), item)
		if err != nil {
			return nil, err.in("." + f.Name())
		}
		out[f.Name()] = conv
	}
	if len(obj) > len(out) { // some keys name no field
		for k := range obj {
			if fieldNamed(s, k) == nil {
				return nil, jsonErrf("record %s has no field %q", s.FullName(), k)
			}
		}
	}
	return out, nil
}

func fieldNamed(s *avro.RecordSchema, name string) *avro.Field {
	for _, f := range s.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// unionFromJSON accepts Avro's JSON encoding of a union (null, or an object
// with one key naming the branch) and, for convenience, a bare value, which
// takes the first branch it fits. The wrapper wins when a value could be read
// either way.
func unionFromJSON(s *avro.UnionSchema, v any) (any, *jsonError) {
	types := s.Types()
	if v == nil {
		for _, t := range types {
			if t.Type() == avro.Null {
				return nil, nil
			}
		}
		return nil, jsonErrf("null is not a branch of the union (%s)", unionNames(s))
	}
	if obj, ok := v.(map[string]any); ok && len(obj) == 1 {
		for k, inner := range obj {
			if t := branchByName(types, k); t != nil {
				conv, err := fromJSON(t, inner)
				if err != nil {
					return nil, err.in("<" + k + ">")
				}
				return wrapBranch(t, conv), nil
			}
		}
	}
	var first *jsonError
	for _, t := range types {
		if t.Type() == avro.Null {
			continue
		}
		conv, err := fromJSON(t, v)
		if err == nil {
			return wrapBranch(t, conv), nil
		}
		if first == nil {
			first = err
		}
	}
	if first != nil && len(types) <= 2 {
		return nil, first // one candidate: its own error says most
	}
	return nil, jsonErrf("%s fits no branch of the union (%s)", jsonKind(v), unionNames(s))
}

// branchByName finds the branch a wrapper key names; a short name counts only
// when one branch has it.
func branchByName(types []avro.Schema, key string) avro.Schema {
	var found avro.Schema
	for _, t := range types {
		for _, name := range branchNames(t) {
			if name != key {
				continue
			}
			if n, ok := deref(t).(avro.NamedSchema); ok && n.FullName() == key {
				return t
			}
			if found != nil && found != t {
				return nil // ambiguous short name
			}
			found = t
		}
	}
	return found
}

// wrapBranch gives hamba/avro a union value in the form it encodes without
// guessing: a one-entry map from its name for the branch to the value.
func wrapBranch(t avro.Schema, v any) any {
	t = deref(t)
	if n, ok := t.(avro.NamedSchema); ok {
		return map[string]any{n.FullName(): v}
	}
	name := string(t.Type())
	if lt, ok := t.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		name += "." + string(lt.Logical().Type())
	}
	return map[string]any{name: v}
}

func unionNames(s *avro.UnionSchema) string {
	names := make([]string, len(s.Types()))
	for i, t := range s.Types() {
		names[i] = branchName(t)
	}
	return strings.Join(names, ", ")
}

func primitiveFromJSON(s *avro.PrimitiveSchema, v any) (any, *jsonError) {
	var logical avro.LogicalType
	if s.Logical() != nil {
		logical = s.Logical().Type()
	}
	switch s.Type() {
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, jsonErrf("boolean wants true or false, got %s", jsonKind(v))
		}
		return b, nil
	case avro.Int:
		if str, ok := v.(string); ok && logical == avro.Date {
			t, err := time.Parse(time.DateOnly, str)
			if err != nil {
				return nil, jsonErrf("date wants days since 1970-01-01 or \"YYYY-MM-DD\", got %q", str)
			}
			days := t.Unix() / 86400
			if days < math.MinInt32 || days > math.MaxInt32 {
				return nil, jsonErrf("date %q out of range", str)
			}
			return int32(days), nil
		}
		n, err := integerFromJSON(v, 32)
		if err != nil {
			return nil, err
		}
		return int32(n), nil
	case avro.Long:
		if str, ok := v.(string); ok {
			switch logical {
			case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros:
				return timestampFromJSON(logical, str)
			}
		}
		n, err := integerFromJSON(v, 64)
		if err != nil {
			return nil, err
		}
		if logical == avro.TimeMicros {
			// hamba/avro encodes time-micros from a time.Duration only.
			if n > maxTimeMicros || n < -maxTimeMicros {
				return nil, jsonErrf("time-micros %d out of range", n)
			}
			return time.Duration(n) * time.Microsecond, nil
		}
		return n, nil
	case avro.Float:
		f, err := floatFromJSON(v, 32)
		if err != nil {
			return nil, err
		}
		return float32(f), nil
	case avro.Double:
		return floatFromJSON(v, 64)
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, jsonErrf("string wants a JSON string, got %s", jsonKind(v))
		}
		return str, nil
	case avro.Bytes:
		if dec, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return decimalFromJSON(dec, v)
		}
		return codePointsFromJSON(v)
	}
	return nil, jsonErrf("unsupported primitive type %s", s.Type())
}

func integerFromJSON(v any, bits int) (int64, *jsonError) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, jsonErrf("%s wants an integer, got %s", intName(bits), jsonKind(v))
	}
	n, err := strconv.ParseInt(string(num), 10, bits)
	if err != nil {
		return 0, jsonErrf("%s wants an integer that fits in %d bits, got %s", intName(bits), bits, num)
	}
	return n, nil
}

func intName(bits int) string {
	if bits == 32 {
		return "int"
	}
	return "long"
}

func floatFromJSON(v any, bits int) (float64, *jsonError) {
	name := "double"
	if bits == 32 {
		name = "float"
	}
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), bits)
		if err != nil {
			return 0, jsonErrf("%s cannot hold %s", name, v)
		}
		return f, nil
	case string:
		switch v {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	return 0, jsonErrf("%s wants a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got %s", name, jsonKind(v))
}

func timestampFromJSON(logical avro.LogicalType, str string) (any, *jsonError) {
	local := logical == avro.LocalTimestampMillis || logical == avro.LocalTimestampMicros
	var t time.Time
	var err error
	if local {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", str)
	} else {
		t, err = time.Parse(time.RFC3339Nano, str)
	}
	if err != nil {
		form := "an RFC 3339 time like \"2025-01-02T15:04:05.123Z\""
		if local {
			form = "a local time like \"2025-01-02T15:04:05.123\""
		}
		return nil, jsonErrf("%s wants an integer or %s, got %q", logical, form, str)
	}
	if logical == avro.TimestampMillis || logical == avro.LocalTimestampMillis {
		return t.UnixMilli(), nil
	}
	return t.UnixMicro(), nil
}

// codePointsFromJSON reads bytes in Avro's JSON encoding: a string whose code
// points U+0000 to U+00FF are the bytes.
func codePointsFromJSON(v any) ([]byte, *jsonError) {
	str, ok := v.(string)
	if !ok {
		return nil, jsonErrf("bytes want a JSON string of code points U+0000 to U+00FF, got %s", jsonKind(v))
	}
	out := make([]byte, 0, len(str))
	for _, r := range str {
		if r > 0xff {
			return nil, jsonErrf("bytes want code points U+0000 to U+00FF, got %U", r)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// decimalFromJSON reads a decimal written as a JSON number or a string like
// "-12.50"; it must be exact at the schema's scale and fit its precision.
func decimalFromJSON(dec *avro.DecimalLogicalSchema, v any) (any, *jsonError) {
	var text string
	switch v := v.(type) {
	case json.Number:
		text = string(v)
	case string:
		text = v
	default:
		return nil, jsonErrf("decimal wants a number or a string like \"12.34\", got %s", jsonKind(v))
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok || strings.ContainsAny(text, "/") {
		return nil, jsonErrf("decimal wants a number like \"12.34\", got %q", text)
	}
	unscaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec.Scale())), nil)))
	if !unscaled.IsInt() {
		return nil, jsonErrf("decimal %s has more than %d digits after the point", text, dec.Scale())
	}
	if digits := len(new(big.Int).Abs(unscaled.Num()).String()); unscaled.Num().Sign() != 0 && digits > dec.Precision() {
		return nil, jsonErrf("decimal %s has %d digits, precision is %d", text, digits, dec.Precision())
	}
	return r, nil
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + string(v)
	case string:
		if len(v) > 32 {
			v = v[:32] + "…"
		}
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
