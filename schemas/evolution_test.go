package schemas

import (
	"os"
	"reflect"
	"testing"

	"github.com/hamba/avro/v2"
)

// Earlier versions of the mesh's own contracts, kept in testdata/ so that
// every change is checked against what components of an older release
// still write and read: each contract must stay FULL compatible with each
// of its earlier versions.
var earlier = map[string][]string{
	TraceHop: {"testdata/trace-hop.v1.avsc"},
}

func parseFile(t *testing.T, path string) avro.Schema {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := avro.ParseWithCache(string(text), "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func TestContractsStayCompatibleWithEarlierVersions(t *testing.T) {
	for name, olds := range earlier {
		now := mustParse(t, name)
		for _, path := range olds {
			old := parseFile(t, path)
			if err := avro.NewSchemaCompatibility().Compatible(now, old); err != nil {
				t.Errorf("%s cannot read what %s wrote (not BACKWARD compatible): %v", name, path, err)
			}
			if err := avro.NewSchemaCompatibility().Compatible(old, now); err != nil {
				t.Errorf("%s cannot read what %s writes (not FORWARD compatible): %v", path, name, err)
			}
		}
	}
}

// A hop written by the first version reads with the new fields' defaults
// (no trace id, protocol and outcome UNKNOWN), and a new hop reads in the
// first version without its new fields: what a mixed-version mesh does
// while it is upgraded.
func TestTraceHopAcrossVersions(t *testing.T) {
	now, old := mustParse(t, TraceHop), parseFile(t, "testdata/trace-hop.v1.avsc")
	sample := samples[TraceHop]
	v1 := map[string]any{}
	for k, v := range sample {
		if hasField(old, k) {
			v1[k] = v
		}
	}
	b, err := avro.Marshal(old, v1)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := decodeResolved(old, now, b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"trace_id": nil, "protocol": "UNKNOWN", "outcome": "UNKNOWN", "source": nil, "duration_micros": nil} {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("a v1 hop read with the new contract has %s = %#v, want %#v", k, got[k], want)
		}
	}
	if got["event_id"] != sample["event_id"] || got["action"] != "REPLICATED" {
		t.Errorf("a v1 hop read with the new contract lost its fields: %v", got)
	}

	b, err = avro.Marshal(now, sample)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := decodeResolved(now, old, b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v1) {
		t.Errorf("a new hop read with the v1 contract = %v, want %v", got, v1)
	}
}

func hasField(s avro.Schema, name string) bool {
	for _, f := range s.(*avro.RecordSchema).Fields() {
		if f.Name() == name {
			return true
		}
	}
	return false
}

// decodeResolved decodes b, written with writer, as reader reads it.
func decodeResolved(writer, reader avro.Schema, b []byte, v any) error {
	resolved, err := avro.NewSchemaCompatibility().Resolve(reader, writer)
	if err != nil {
		return err
	}
	return avro.Unmarshal(resolved, b, v)
}
