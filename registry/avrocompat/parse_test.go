package avrocompat

import (
	"errors"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		refs   []string
		want   string // part of the message
		path   string
	}{
		{name: "empty", schema: "  ", want: "the schema is empty"},
		{name: "truncated JSON", schema: `{"type":"record"`, want: "invalid JSON: the text ends before the schema does"},
		{name: "bad JSON", schema: "{\"type\":\n \"record\",,}", want: "invalid JSON at line 2, column 11"},
		{name: "trailing text", schema: "\"int\"\n  \"long\"", want: "invalid JSON at line 2, column 3: unexpected text after the schema"},
		{name: "JSON null", schema: `null`, want: `write the null type as the string "null"`},
		{name: "number", schema: `5`, want: "a type must be a type name, an object or a union (array), not 5"},
		{name: "unknown primitive", schema: `"integer"`, want: `unknown type "integer"; declare it or add a reference`},
		{name: "keyword alone", schema: `"record"`, want: `write an object such as {"type": "record", ...}`},
		{name: "unknown type in field",
			schema: record(`{"name":"total","type":"Money"}`),
			want:   `field "total" of record shop.Order: unknown type "Money" (looked up as "shop.Money"); declare it or add a reference`,
			path:   "/fields/0/type"},
		{name: "unknown type in union",
			schema: record(`{"name":"total","type":["null","fin.Money"]}`),
			want:   `field "total" of record shop.Order: unknown type "fin.Money"; declare it or add a reference`,
			path:   "/fields/0/type/1"},
		{name: "used before declared",
			schema: record(`{"name":"a","type":"Money"}`, `{"name":"b","type":`+strings.Replace(money1, `"namespace":"fin",`, ``, 1)+`}`),
			want:   `type "Money" is used before it is declared`},
		{name: "missing type", schema: record(`{"name":"a"}`), want: `field "a" of record shop.Order: the field needs a "type"`},
		{name: "record without fields", schema: `{"type":"record","name":"R"}`, want: `record R: a record needs "fields"`},
		{name: "record without name", schema: `{"type":"record","fields":[]}`, want: `a record needs a "name"`},
		{name: "bad name", schema: `{"type":"record","name":"my-record","fields":[]}`, want: `"my-record" is not a valid name`},
		{name: "bad field name", schema: record(`{"name":"1st","type":"int"}`), want: `field "1st": "1st" is not a valid name`},
		{name: "duplicate field", schema: record(fa, fa), want: `the record has two fields named "a"`},
		{name: "duplicate type", schema: record(`{"name":"a","type":`+money1+`}`, `{"name":"b","type":`+money1+`}`), want: `type "fin.Money" is declared twice`},
		{name: "redeclared reference type", schema: record(`{"name":"a","type":` + money1 + `}`), refs: []string{money1},
			want: `type "fin.Money" is already declared by a reference`},
		{name: "union in union", schema: `["null",["int"]]`, want: "a union cannot contain another union directly"},
		{name: "duplicate union branch", schema: `["int","string","int"]`, want: `the union has two branches of type "int"`},
		{name: "duplicate union branch by logical type", schema: `["long",{"type":"long","logicalType":"timestamp-millis"}]`, want: `two branches of type "long"`},
		{name: "array without items", schema: `{"type":"array"}`, want: `an array needs "items"`},
		{name: "map without values", schema: `{"type":"map"}`, want: `a map needs "values"`},
		{name: "enum without symbols", schema: `{"type":"enum","name":"E","symbols":[]}`, want: `enum E needs "symbols"`},
		{name: "enum duplicate symbol", schema: `{"type":"enum","name":"E","symbols":["A","A"]}`, want: `enum E lists symbol "A" twice`},
		{name: "enum bad default", schema: `{"type":"enum","name":"E","symbols":["A"],"default":"B"}`, want: `enum E: default "B" is not one of its symbols`},
		{name: "fixed negative size", schema: `{"type":"fixed","name":"F","size":-1}`, want: "fixed F: size must be a whole number"},
		{name: "fixed huge size", schema: `{"type":"fixed","name":"F","size":1e12}`, want: "fixed F: size must be a whole number"},
		{name: "fixed without size", schema: `{"type":"fixed","name":"F"}`, want: `fixed F needs "size"`},
		{name: "int default not a number", schema: record(`{"name":"n","type":"int","default":"0"}`),
			want: `field "n" of record shop.Order: default "0" is not a valid int`, path: "/fields/0/default"},
		{name: "int default fractional", schema: record(`{"name":"n","type":"int","default":1.5}`), want: `default 1.5 is not a valid int`},
		{name: "int default too big", schema: record(`{"name":"n","type":"int","default":3000000000}`), want: `default 3000000000 is not a valid int`},
		{name: "nullable default not null", schema: record(`{"name":"u","type":["null","string"],"default":"x"}`),
			want: `default "x" does not match the union's first branch, null`},
		{name: "null default for string", schema: record(`{"name":"u","type":"string","default":null}`), want: `default null is not a valid string`},
		{name: "bytes default out of range", schema: record(`{"name":"b","type":"bytes","default":"\u0100"}`), want: `is not a valid bytes`},
		{name: "array default wrong items", schema: record(`{"name":"l","type":{"type":"array","items":"int"},"default":["a"]}`), want: `is not a valid array`},
		{name: "enum field default", schema: record(enumField(`["A"]`, ""), `{"name":"t","type":{"type":"enum","name":"T","symbols":["X"]},"default":"Y"}`),
			want: `default "Y" is not a valid symbol of the enum`},
		{name: "record default checked by hamba/avro", schema: record(`{"name":"m","type":` + money1 + `,"default":{"amount":"x"}}`),
			want: `field "m": its default does not match its type`},
		{name: "bad order", schema: record(`{"name":"n","type":"int","order":"up"}`), want: `"order" must be "ascending", "descending" or "ignore"`},
		{name: "type not a string", schema: `{"type":{"type":"int"}}`, want: `"type" must be a string`},
		{name: "bad reference", schema: `"int"`, refs: []string{`{"type":"record"}`}, want: `reference 1: a record needs a "name"`},
		{name: "null namespace type from a namespace",
			schema: `{"type":"record","name":"Outer","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},` +
				`{"name":"in","type":{"type":"record","name":"Inner","namespace":"ns","fields":[{"name":"e","type":"E"}]}}]}`,
			want: `type "E" is declared in the null namespace and cannot be referred to from namespace "ns"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.schema, tt.refs...)
			if err == nil {
				t.Fatalf("parsed %s", s)
			}
			if !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("error %v does not wrap ErrInvalidSchema", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\n does not contain %q", err, tt.want)
			}
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SchemaError", err)
			}
			if tt.path != "" && se.Path != tt.path {
				t.Errorf("path %q, want %q", se.Path, tt.path)
			}
			if _, err := Normalize(tt.schema, tt.refs...); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Normalize: %v", err)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		refs   []string
	}{
		{name: "primitive", schema: `"string"`},
		{name: "primitive object", schema: `{"type":"long","logicalType":"timestamp-millis"}`},
		{name: "union", schema: `["null","int",{"type":"array","items":"int"},{"type":"map","values":"int"}]`},
		{name: "record with everything", schema: record(
			`{"name":"i","type":"int","default":1}`,
			`{"name":"l","type":"long","default":9007199254740993}`,
			`{"name":"f","type":"float","default":1.5}`,
			`{"name":"d","type":"double","default":-2e-3}`,
			`{"name":"b","type":"bytes","default":"\u00ff\u0000"}`,
			`{"name":"s","type":"string","default":"x","order":"descending","doc":"a string","aliases":["str"]}`,
			`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"B"},"default":"A"}`,
			`{"name":"x","type":{"type":"fixed","name":"X","size":2},"default":"ab"}`,
			`{"name":"a","type":{"type":"array","items":"int"},"default":[1,2]}`,
			`{"name":"m","type":{"type":"map","values":"E"},"default":{"k":"A"}}`,
			`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"q","type":"int","default":0}]},"default":{}}`,
			`{"name":"u","type":["null","R"],"default":null}`,
			`{"name":"self","type":["null","Order"],"default":null}`,
			`{"name":"c","type":"string","connect.name":"custom"}`,
		)},
		{name: "type named by full name", schema: record(`{"name":"a","type":`+money1+`}`, `{"name":"b","type":"fin.Money"}`)},
		{name: "type named in its namespace", schema: `{"type":"record","name":"Order","namespace":"fin","fields":[{"name":"a","type":` +
			strings.Replace(money1, `"namespace":"fin",`, ``, 1) + `},{"name":"b","type":"Money"}]}`},
		{name: "reference", schema: record(`{"name":"total","type":"fin.Money"}`), refs: []string{money1}},
		{name: "reference in the null namespace", schema: record(`{"name":"total","type":"Money"}`),
			refs: []string{strings.Replace(money1, `"namespace":"fin",`, ``, 1)}},
		{name: "reference given twice", schema: record(`{"name":"total","type":"fin.Money"}`), refs: []string{money1, money1}},
		{name: "chained references", schema: record(`{"name":"p","type":"fin.Price"}`), refs: []string{money1,
			`{"type":"record","name":"Price","namespace":"fin","fields":[{"name":"net","type":"Money"},{"name":"gross","type":"fin.Money"}]}`}},
		{name: "top-level reference", schema: `"fin.Money"`, refs: []string{money1}},
		{name: "error type", schema: `{"type":"error","name":"Oops","fields":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.schema, tt.refs...)
			// hamba/avro, left alone with the same declarations, agrees.
			cache := &avro.SchemaCache{}
			for _, r := range tt.refs {
				if _, err := avro.ParseWithCache(r, "", cache); err != nil {
					t.Fatal(err)
				}
			}
			if tt.name == "reference in the null namespace" {
				return // hamba/avro alone does not resolve it; see the validator.
			}
			hs, err := avro.ParseWithCache(tt.schema, "", cache)
			if err != nil {
				t.Fatalf("hamba/avro: %v", err)
			}
			if Canonical(s) != Canonical(hs) {
				t.Errorf("canonical forms differ:\n%s\n%s", Canonical(s), Canonical(hs))
			}
		})
	}
}

// TestNoGlobalCache proves that Parse neither reads nor writes
// avro.DefaultSchemaCache, even when this process has put the type there.
func TestNoGlobalCache(t *testing.T) {
	const declares = `{"type":"record","name":"Money","namespace":"leak","fields":[{"name":"amount","type":"long"}]}`
	const uses = `{"type":"record","name":"Order","namespace":"leak","fields":[{"name":"total","type":"leak.Money"}]}`

	// Parse does not write the global cache...
	mustParse(t, declares)
	if avro.DefaultSchemaCache.Get("leak.Money") != nil {
		t.Fatal("Parse added leak.Money to avro.DefaultSchemaCache")
	}
	// ...and a type declared by an earlier Parse does not leak into the next.
	if _, err := Parse(uses); !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), `unknown type "leak.Money"`) {
		t.Fatalf("Parse after Parse: %v", err)
	}
	// Now put the type in the global cache the way avro.Parse does: the
	// pitfall is real (avro.Parse resolves it), but Parse still refuses.
	if _, err := avro.Parse(declares); err != nil {
		t.Fatal(err)
	}
	if _, err := avro.Parse(uses); err != nil {
		t.Fatalf("expected avro.Parse to resolve the leaked type: %v", err)
	}
	if _, err := Parse(uses); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("Parse resolved a type from the global cache: %v", err)
	}
	// With the reference it parses.
	s := mustParse(t, uses, declares)
	if got := s.(*avro.RecordSchema).Fields()[0].Type(); deref(got).(avro.NamedSchema).FullName() != "leak.Money" {
		t.Errorf("total has type %s", got)
	}
}

// TestParseConcurrent parses the same texts from many goroutines (run with
// -race): each call has its own cache.
func TestParseConcurrent(t *testing.T) {
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for range 50 {
				if i%2 == 0 {
					_, err = Parse(record(`{"name":"total","type":"fin.Money"}`), money1)
				} else {
					_, err = Parse(record(`{"name":"a","type":` + money1 + `}`))
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	for _, text := range []string{
		record(`{"name":"d","type":"double","default":1e400}`),
		record(`{"name":"f","type":"float","default":1e300}`),
		`{"type":"string","x":-1e999}`,
	} {
		if _, err := Parse(text); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("Parse(%s): %v", text, err)
		}
	}
}
