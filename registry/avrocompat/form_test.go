package avrocompat

import (
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

const orderText = `{
  "type": "record",
  "name": "Order",
  "namespace": "shop",
  "doc": "An order.",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"], "default": "NEW"}, "default": "NEW"},
    {"name": "note", "type": ["null", "string"], "default": null}
  ]
}`

// orderReordered is orderText with other whitespace, attribute order and
// name qualification.
const orderReordered = `{"fields":[{"type":"string","name":"id"},{"type":{"scale":2,"precision":9,"logicalType":"decimal","type":"bytes"},"name":"total"},` +
	`{"default":"NEW","type":{"default":"NEW","symbols":["NEW","PAID"],"name":"shop.Status","type":"enum"},"name":"status"},` +
	`{"default":null,"name":"note","type":["null","string"]}],"name":"shop.Order","type":"record"}`

func TestCanonical(t *testing.T) {
	s := mustParse(t, orderText)
	want := `{"name":"shop.Order","type":"record","fields":[{"name":"id","type":"string"},{"name":"total","type":"bytes"},` +
		`{"name":"status","type":{"name":"shop.Status","type":"enum","symbols":["NEW","PAID"]}},{"name":"note","type":["null","string"]}]}`
	if got := Canonical(s); got != want {
		t.Errorf("Canonical:\n got %s\nwant %s", got, want)
	}
	if got := Canonical(mustParse(t, orderReordered)); got != want {
		t.Errorf("Canonical of the reordered text:\n got %s\nwant %s", got, want)
	}
	// A repeated named type is written by name after its first use.
	rep := mustParse(t, record(`{"name":"a","type":`+money1+`}`, `{"name":"b","type":"fin.Money"}`))
	if got, want := Canonical(rep), `{"name":"shop.Order","type":"record","fields":[{"name":"a","type":{"name":"fin.Money","type":"record","fields":[{"name":"amount","type":"long"}]}},{"name":"b","type":"fin.Money"}]}`; got != want {
		t.Errorf("Canonical:\n got %s\nwant %s", got, want)
	}
}

func TestEquivalent(t *testing.T) {
	base := mustParse(t, orderText)
	tests := []struct {
		name  string
		other string
		want  bool
	}{
		{"same text", orderText, true},
		{"whitespace and attribute order", orderReordered, true},
		{"doc changed", strings.Replace(orderText, "An order.", "Another doc.", 1), true},
		{"doc added to a field", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": "string", "doc": "the id"}`, 1), true},
		{"explicit ascending order", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": "string", "order": "ascending"}`, 1), true},
		{"field default changed", strings.Replace(orderText, `"default": "NEW"}`, `"default": "PAID"}`, 1), false},
		{"field default added", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": "string", "default": ""}`, 1), false},
		{"enum default removed", strings.Replace(orderText, `, "default": "NEW"}, "default"`, `}, "default"`, 1), false},
		{"alias added", strings.Replace(orderText, `"doc": "An order.",`, `"aliases": ["Purchase"],`, 1), false},
		{"field alias added", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": "string", "aliases": ["key"]}`, 1), false},
		{"descending order", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": "string", "order": "descending"}`, 1), false},
		{"decimal scale changed", strings.Replace(orderText, `"scale": 2`, `"scale": 3`, 1), false},
		{"logical type dropped", strings.Replace(orderText, `{"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}`, `"bytes"`, 1), false},
		{"custom property added", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": {"type": "string", "avro.java.string": "String"}}`, 1), false},
		{"field type changed", strings.Replace(orderText, `{"name": "id", "type": "string"}`, `{"name": "id", "type": "bytes"}`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := mustParse(t, tt.other)
			if got := Equivalent(base, other); got != tt.want {
				t.Errorf("Equivalent = %v, want %v\n%s\n%s", got, tt.want, EquivalenceKey(base), EquivalenceKey(other))
			}
			if got := Equivalent(other, base); got != tt.want {
				t.Errorf("Equivalent is not symmetric")
			}
		})
	}
	if Equivalent(base, nil) || !Equivalent(nil, nil) {
		t.Error("nil handling")
	}
}

func TestNormalize(t *testing.T) {
	want := `{"name":"shop.Order","type":"record","doc":"An order.","fields":[{"name":"id","type":"string"},` +
		`{"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},` +
		`{"name":"status","type":{"name":"shop.Status","type":"enum","symbols":["NEW","PAID"],"default":"NEW"},"default":"NEW"},` +
		`{"name":"note","type":["null","string"],"default":null}]}`
	got, err := Normalize(orderText)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Normalize:\n got %s\nwant %s", got, want)
	}
	if again, err := Normalize(got); err != nil || again != got {
		t.Errorf("Normalize is not idempotent: %s, %v", again, err)
	}
	if r, err := Normalize(strings.Replace(orderReordered, `"name":"shop.Order",`, `"name":"shop.Order","doc":"An order.",`, 1)); err != nil || r != want {
		t.Errorf("Normalize of the reordered text:\n got %s, %v\nwant %s", r, err, want)
	}
	if !Equivalent(mustParse(t, got), mustParse(t, orderText)) {
		t.Error("normalized schema is not equivalent")
	}
}

func TestNormalizeDefaults(t *testing.T) {
	text := record(
		`{"name":"i","type":"int","default":1.0}`,
		`{"name":"l","type":"long","default":9007199254740993}`,
		`{"name":"f","type":"float","default":0.1}`,
		`{"name":"d","type":"double","default":1e300}`,
		`{"name":"b","type":"bytes","default":"\u00ff\u0000\""}`,
		`{"name":"x","type":{"type":"fixed","name":"X","size":2},"default":"\u00e9a"}`,
		`{"name":"a","type":{"type":"array","items":"long"},"default":[1,2]}`,
		`{"name":"m","type":{"type":"map","values":"float"},"default":{"z":1,"a":2.5}}`,
		`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"q","type":"int","default":7},{"name":"n","type":["null","int"]}]},"default":{"n":null}}`,
		`{"name":"u","type":["int","null"],"default":3}`,
		`{"name":"s","type":{"type":"string","z":[1,{"b":true}],"a":"<&>","x":1e6},"default":"tab\tquote\""}`,
	)
	got, err := Normalize(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"name":"i","type":"int","default":1}`,
		`"default":9007199254740992}`, // hamba/avro reads JSON numbers as float64
		`"name":"f","type":"float","default":0.1}`,
		`"default":1.0E300}`,
		`"name":"b","type":"bytes","default":"ÿ\u0000\""}`,
		`"default":"éa"}`,
		`"default":[1,2]}`,
		`"default":{"a":2.5,"z":1.0}}`,
		`"default":{"q":7,"n":null}}`,
		`"name":"u","type":["int","null"],"default":3}`,
		`{"type":"string","a":"<&>","x":1000000,"z":[1,{"b":true}]},"default":"tab\tquote\""}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("normalized text lacks %s:\n%s", want, got)
		}
	}
	again, err := Normalize(got)
	if err != nil || again != got {
		t.Errorf("not idempotent: %v\n%s\n%s", err, got, again)
	}
	if !Equivalent(mustParse(t, got), mustParse(t, text)) {
		t.Error("not equivalent")
	}
}

func TestNormalizeKeepsReferences(t *testing.T) {
	text := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"fin.Money"},{"name":"tax","type":["null","fin.Money"],"default":null}]}`
	got, err := Normalize(text, money1)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"shop.Order","type":"record","fields":[{"name":"total","type":"fin.Money"},{"name":"tax","type":["null","fin.Money"],"default":null}]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := Parse(got); err == nil {
		t.Error("normalized text parsed without its reference")
	}
	if !Equivalent(mustParse(t, got, money1), mustParse(t, text, money1)) {
		t.Error("not equivalent")
	}

	// A referenced type in the null namespace stays resolvable from inside
	// a namespace.
	bare := strings.Replace(money1, `"namespace":"fin",`, ``, 1)
	got, err = Normalize(record(`{"name":"total","type":"Money"}`), bare)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `"type":"Money"`) {
		t.Errorf("got %s", got)
	}
	mustParse(t, got, bare)
}

func TestNormalizeNullNamespaceInside(t *testing.T) {
	text := record(`{"name":"f","type":{"type":"enum","name":".Flag","symbols":["ON"]}}`)
	s := mustParse(t, text)
	if got := deref(s.(*avro.RecordSchema).Fields()[0].Type()).(avro.NamedSchema).FullName(); got != "Flag" {
		t.Fatalf("full name %q", got)
	}
	n, err := Normalize(text)
	if err != nil {
		t.Fatal(err)
	}
	if !Equivalent(mustParse(t, n), s) {
		t.Errorf("not equivalent: %s", n)
	}
}
