package avrocompat

import (
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// record returns the text of record shop.Order with the given fields.
func record(fields ...string) string {
	return `{"type":"record","name":"Order","namespace":"shop","fields":[` + strings.Join(fields, ",") + `]}`
}

func mustParse(t testing.TB, schema string, refs ...string) avro.Schema {
	t.Helper()
	s, err := Parse(schema, refs...)
	if err != nil {
		t.Fatalf("Parse(%s): %v", schema, err)
	}
	return s
}

// hambaVerdict asks hamba/avro whether reader reads writer, with a fresh
// SchemaCompatibility each time: a shared one caches verdicts by canonical
// form, which ignores defaults and aliases.
func hambaVerdict(reader, writer avro.Schema) bool {
	return avro.NewSchemaCompatibility().Compatible(reader, writer) == nil
}

func types(ins []Incompatibility) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.Type
	}
	return out
}
