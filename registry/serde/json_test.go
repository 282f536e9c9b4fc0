package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// everything has a field of every Avro type and of the logical types
// hamba/avro knows.
const everything = `{
  "type": "record", "name": "Everything", "namespace": "test",
  "fields": [
    {"name": "n", "type": "null"},
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "s", "type": "string"},
    {"name": "by", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "a", "type": {"type": "array", "items": "long"}},
    {"name": "m", "type": {"type": "map", "values": "string"}},
    {"name": "opt", "type": ["null", "string"], "default": null},
    {"name": "optrec", "type": ["null", {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "int"}]}], "default": null},
    {"name": "optmap", "type": ["null", {"type": "map", "values": "int"}], "default": null},
    {"name": "odd", "type": ["null", {"type": "record", "name": "Odd", "fields": [{"name": "Odd", "type": "int"}]}], "default": null},
    {"name": "multi", "type": ["null", "string", "long", "Inner"]},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tsu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "date", "type": {"type": "int", "logicalType": "date"}},
    {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tu", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "fdec", "type": {"type": "fixed", "name": "Dec8", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 3}},
    {"name": "uuid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "deflt", "type": "int", "default": 7}
  ]
}`

// everythingIn uses the conveniences EncodeJSON accepts.
const everythingIn = `{
  "n": null, "b": true, "i": -2147483648, "l": 9007199254740993,
  "f": 1.5, "d": "NaN", "s": "héllo \"q\"\n\u0001", "by": "hi\u00e9\u0000",
  "fx": "\u0000\u00ff\u0010A", "e": "GREEN", "a": [1, -1, 9223372036854775807],
  "m": {"k": "v"}, "opt": "bare", "optrec": {"test.Inner": {"x": 3}},
  "optmap": {"map": {"a": 1}}, "odd": {"Odd": {"Odd": 5}}, "multi": {"Inner": {"x": 4}},
  "ts": "2025-01-02T03:04:05.678Z", "tsu": 1735787045678901, "date": "2025-01-02",
  "tm": 1000, "tu": 1500, "dec": 12.5, "fdec": "-0.001", "uuid": "2f1c5d40-8a52-4d8b-9f33-2b3f4e5f6a7b"
}`

// everythingOut is DecodeJSON's rendering of everythingIn.
const everythingOut = `{"n":null,"b":true,"i":-2147483648,"l":9007199254740993,` +
	`"f":1.5,"d":"NaN","s":"héllo \"q\"\n\u0001","by":"hié\u0000",` +
	`"fx":"\u0000ÿ\u0010A","e":"GREEN","a":[1,-1,9223372036854775807],` +
	`"m":{"k":"v"},"opt":"bare","optrec":{"x":3},` +
	`"optmap":{"map":{"a":1}},"odd":{"test.Odd":{"Odd":5}},"multi":{"test.Inner":{"x":4}},` +
	`"ts":1735787045678,"tsu":1735787045678901,"date":20090,` +
	`"tm":1000,"tu":1500,"dec":"12.50","fdec":"-0.001","uuid":"2f1c5d40-8a52-4d8b-9f33-2b3f4e5f6a7b","deflt":7}`

func TestJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("test.everything-value", everything)
	sd := newSerde(t, f)

	b, err := sd.EncodeJSON(ctx, "test.everything", everything, []byte(everythingIn))
	if err != nil {
		t.Fatal(err)
	}
	doc, id, err := sd.DecodeJSON(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != everythingOut {
		t.Fatalf("DecodeJSON:\n got %s\nwant %s", doc, everythingOut)
	}
	if !json.Valid(doc) {
		t.Fatal("not valid JSON")
	}
	// The rendering reads back to the same bytes.
	sch, err := sd.SchemaByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := sch.EncodeJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("re-encoded\n% x\nwant\n% x", b2, b)
	}

	// hamba/avro decodes the same values.
	v, _, err := sd.DecodeAny(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	wantTS := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	for field, want := range map[string]any{
		"l":    int64(9007199254740993),
		"ts":   wantTS,
		"date": time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
		"tu":   1500 * time.Microsecond,
		"dec":  big.NewRat(25, 2),
		"fdec": big.NewRat(-1, 1000),
		"by":   []byte("hi\xe9\x00"),
		"fx":   [4]byte{0, 0xff, 0x10, 'A'},
		"opt":  "bare",
	} {
		got := m[field]
		if r, ok := got.(*big.Rat); ok {
			if r.Cmp(want.(*big.Rat)) != 0 {
				t.Errorf("%s: got %v, want %v", field, r, want)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", field, got, want)
		}
	}
}

func TestEncodeJSONErrors(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("test.everything-value", everything)
	sd := newSerde(t, f)
	sch, err := sd.Writer(ctx, "test.everything", sr.Schema{Schema: everything})
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{}
	dec := json.NewDecoder(strings.NewReader(everythingIn))
	dec.UseNumber() // keep the longs exact
	if err := dec.Decode(&base); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(m map[string]any)
		raw   string
		wants string
	}{
		{name: "missing field", edit: func(m map[string]any) { delete(m, "b") }, wants: `missing field "b"`},
		{name: "unknown field", edit: func(m map[string]any) { m["zz"] = 1 }, wants: `has no field "zz"`},
		{name: "int overflow", edit: func(m map[string]any) { m["i"] = 2147483648 }, wants: `.i: int wants an integer that fits in 32 bits`},
		{name: "fraction for long", edit: func(m map[string]any) { m["l"] = 1.5 }, wants: `.l: long wants an integer`},
		{name: "enum symbol", edit: func(m map[string]any) { m["e"] = "BLUE" }, wants: `.e: "BLUE" is not a symbol of enum test.Color (RED, GREEN)`},
		{name: "array item", edit: func(m map[string]any) { m["a"] = []any{1, "x"} }, wants: `.a[1]: long wants an integer`},
		{name: "map value", edit: func(m map[string]any) { m["m"] = map[string]any{"k": 1} }, wants: `.m["k"]: string wants a JSON string`},
		{name: "union fits no branch", edit: func(m map[string]any) { m["multi"] = true }, wants: `.multi: a boolean fits no branch`},
		{name: "wrapped branch", edit: func(m map[string]any) { m["multi"] = map[string]any{"long": "x"} }, wants: `.multi<long>: long wants an integer`},
		{name: "null not allowed", edit: func(m map[string]any) { m["s"] = nil }, wants: `.s: string wants a JSON string, got null`},
		{name: "decimal scale", edit: func(m map[string]any) { m["dec"] = 1.234 }, wants: `.dec: decimal 1.234 has more than 2 digits after the point`},
		{name: "decimal precision", edit: func(m map[string]any) { m["dec"] = "12345678.9" }, wants: `has 10 digits, precision is 9`},
		{name: "bytes code point", edit: func(m map[string]any) { m["by"] = "€" }, wants: `.by: bytes want code points U+0000 to U+00FF, got U+20AC`},
		{name: "fixed size", edit: func(m map[string]any) { m["fx"] = "abc" }, wants: `.fx: fixed test.Four needs 4 bytes, got 3`},
		{name: "bad timestamp", edit: func(m map[string]any) { m["ts"] = "yesterday" }, wants: `.ts: timestamp-millis wants an integer or an RFC 3339 time`},
		{name: "nested record", edit: func(m map[string]any) { m["optrec"] = map[string]any{"x": "3"} }, wants: `.optrec.x: int wants an integer`},
		{name: "not JSON", raw: `{"b":`, wants: "not a JSON document"},
		{name: "two documents", raw: `{} {}`, wants: "data follows the first value"},
		{name: "not an object", raw: `[1]`, wants: "record test.Everything wants a JSON object, got an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(tc.raw)
			if tc.edit != nil {
				m := map[string]any{}
				for k, v := range base {
					m[k] = v
				}
				tc.edit(m)
				doc, _ = json.Marshal(m)
			}
			_, err := sch.EncodeJSON(doc)
			if !errors.Is(err, ErrPayloadMismatch) || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("got %v, want ErrPayloadMismatch saying %q", err, tc.wants)
			}
		})
	}
}

func TestEncodeJSONDefaultsAndUnionForms(t *testing.T) {
	ctx := context.Background()
	f := newFakeRegistry(t)
	f.register("shop.order.created-value", orderV2)
	sd := newSerde(t, f)
	// coupon has a default: it may be left out, given bare or wrapped.
	for doc, want := range map[string]string{
		`{"order_id":"o","total_cents":1,"items":[]}`:                         `"coupon":null`,
		`{"order_id":"o","total_cents":1,"items":[],"coupon":null}`:           `"coupon":null`,
		`{"order_id":"o","total_cents":1,"items":[],"coupon":"C"}`:            `"coupon":"C"`,
		`{"order_id":"o","total_cents":1,"items":[],"coupon":{"string":"C"}}`: `"coupon":"C"`,
		`{"order_id":"o","total_cents":1,"items":[{"sku":"s","qty":2}]}`:      `"items":[{"sku":"s","qty":2}]`,
	} {
		b, err := sd.EncodeJSON(ctx, "shop.order.created", orderV2, []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		out, _, err := sd.DecodeJSON(ctx, b)
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("%s: got %s, %v; want it to contain %s", doc, out, err, want)
		}
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		scale int
		want  string
	}{
		{0, 0, "0"}, {0, 2, "0.00"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {1250, 2, "12.50"},
		{-123456, 3, "-123.456"}, {7, 0, "7"},
	} {
		if got := formatDecimal(big.NewInt(tc.n), tc.scale); got != tc.want {
			t.Errorf("formatDecimal(%d, %d) = %s, want %s", tc.n, tc.scale, got, tc.want)
		}
	}
}
