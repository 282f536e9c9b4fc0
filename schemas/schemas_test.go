package schemas

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
)

func TestNames(t *testing.T) {
	want := []string{
		"dlq-metadata.avsc",
		"examples/plant.sensor.temperature.v1.avsc",
		"examples/plant.sensor.temperature.v2.avsc",
		"examples/shop.order.created.v1.avsc",
		"examples/shop.order.created.v2.avsc",
		"interest-lease.avsc",
		"topic-catalog.avsc",
		"trace-hop.avsc",
	}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
}

func TestContract(t *testing.T) {
	for _, name := range []string{InterestLease, "interest-lease", "examples/shop.order.created.v2"} {
		text, err := Contract(name)
		if err != nil || !strings.HasPrefix(text, "{") {
			t.Fatalf("Contract(%q) = %.20q, %v", name, text, err)
		}
	}
	if _, err := Contract("no-such"); err == nil {
		t.Fatal("unknown contract found")
	}
	s, err := Parse(TraceHop)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*avro.RecordSchema).FullName(); got != "io.meshwork.mesh.TraceHop" {
		t.Fatalf("parsed %s", got)
	}
	if avro.DefaultSchemaCache.Get("io.meshwork.mesh.TraceHop") != nil {
		t.Fatal("Parse used hamba/avro's process-wide schema cache")
	}
}

// Every file parses on its own, with a cache of its own.
func TestEveryFileParses(t *testing.T) {
	for _, name := range Names() {
		if _, err := Parse(name); err != nil {
			t.Error(err)
		}
	}
}

// The files are pretty-printed with two spaces and end with a newline, so
// they read well and diff cleanly.
func TestFormatting(t *testing.T) {
	for _, name := range Names() {
		raw, err := Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var compact, pretty bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := json.Indent(&pretty, compact.Bytes(), "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		if !bytes.Equal(raw, pretty.Bytes()) {
			t.Errorf("%s is not pretty-printed with two-space indents and a final newline", name)
		}
	}
}

// Every record, enum and field says what it is for.
func TestEverythingHasADoc(t *testing.T) {
	for _, name := range Names() {
		raw, _ := Files.ReadFile(name)
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		for _, missing := range undocumented(v, "") {
			t.Errorf("%s: %s has no doc", name, missing)
		}
	}
}

func TestUndocumentedFindsGaps(t *testing.T) {
	var v any
	_ = json.Unmarshal([]byte(`{"type":"record","name":"R","doc":"r","fields":[
	  {"name":"a","type":"string"},
	  {"name":"b","doc":"b","type":{"type":"array","items":{"type":"record","name":"In","fields":[{"name":"c","type":"int","doc":"c"}]}}},
	  {"name":"e","doc":"e","type":["null",{"type":"enum","name":"E","symbols":["X"]}]}]}`), &v)
	got := undocumented(v, "")
	want := map[string]bool{"field R.a": true, "record In": true, "enum E": true}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("got %q, want %v", got, want)
		}
	}
}

func undocumented(v any, where string) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, item := range v {
			out = append(out, undocumented(item, where)...)
		}
	case map[string]any:
		typ, _ := v["type"].(string)
		doc, _ := v["doc"].(string)
		switch {
		case typ == "record" || typ == "enum" || typ == "fixed":
			if strings.TrimSpace(doc) == "" {
				out = append(out, typ+" "+v["name"].(string))
			}
			where = v["name"].(string)
		case v["name"] != nil && typ != "array" && typ != "map": // a field
			if strings.TrimSpace(doc) == "" {
				out = append(out, "field "+where+"."+v["name"].(string))
			}
		}
		for k, child := range v {
			if k == "type" || k == "fields" || k == "items" || k == "values" {
				out = append(out, undocumented(child, where)...)
			}
		}
	}
	return out
}

var versionPairs = [][2]string{
	{"examples/shop.order.created.v1.avsc", "examples/shop.order.created.v2.avsc"},
	{"examples/plant.sensor.temperature.v1.avsc", "examples/plant.sensor.temperature.v2.avsc"},
}

// Each v2 is BACKWARD compatible (a v2 reader reads v1 data) and FORWARD
// compatible (a v1 reader reads v2 data) with its v1: FULL. Each check uses a
// fresh SchemaCompatibility, whose verdict cache ignores defaults.
func TestExamplesAreFullyCompatible(t *testing.T) {
	for _, pair := range versionPairs {
		v1, v2 := mustParse(t, pair[0]), mustParse(t, pair[1])
		if err := avro.NewSchemaCompatibility().Compatible(v2, v1); err != nil {
			t.Errorf("%s is not BACKWARD compatible with %s: %v", pair[1], pair[0], err)
		}
		if err := avro.NewSchemaCompatibility().Compatible(v1, v2); err != nil {
			t.Errorf("%s is not FORWARD compatible with %s: %v", pair[1], pair[0], err)
		}
	}
}

// The check above can fail: without its default, the new field breaks
// BACKWARD compatibility (a v2 reader has no value for it in v1 data).
func TestCompatibilityCheckNoticesAMissingDefault(t *testing.T) {
	for _, pair := range versionPairs {
		v1 := mustParse(t, pair[0])
		text, _ := Contract(pair[1])
		noDefault := strings.Replace(text, "\"default\": null,", "", 1)
		if noDefault == text {
			t.Fatalf("%s: no default to remove", pair[1])
		}
		v2, err := avro.ParseWithCache(noDefault, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatal(err)
		}
		if err := avro.NewSchemaCompatibility().Compatible(v2, v1); err == nil {
			t.Errorf("%s without its default passed as BACKWARD compatible", pair[1])
		}
	}
}

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// samples are values of each contract, in the form hamba/avro decodes them
// generically, so that they compare equal after a round trip.
var samples = map[string]map[string]any{
	InterestLease: {
		"topic": "shop.order.created", "pattern": false, "site": "east",
		"source_kind": "CONSUMER_GROUP", "source_id": "billing",
		"since": ms("2025-03-01T10:00:00.000Z"), "expires": ms("2025-03-01T10:05:00.000Z"),
		"resume": "TIMESTAMP", "resume_at": ms("2025-03-01T09:00:00.250Z"),
	},
	TopicCatalog: {
		"site": "east", "topic": "shop.order.created", "role": "ORIGIN", "partitions": 6,
		"configs": map[string]any{"retention.ms": "604800000", "cleanup.policy": "delete"},
		"updated": ms("2025-03-01T10:00:00.000Z"),
	},
	TraceHop: {
		"event_id": "3f2c9a1e-5b7d-4f7e-9c1a-2d4e6f8a0b1c", "topic": "plant.sensor.temperature",
		"site": "west", "component": "replicator/west", "action": "REPLICATED",
		"at": ms("2025-03-01T10:00:00.123Z"), "partition": 3, "offset": int64(12345),
		"protocol_address": nil, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"detail": nil, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "protocol": "KAFKA", "outcome": "OK",
		"source": "mqtt://broker/factory/1/temp", "duration_micros": int64(1830),
	},
	DeadLetter: {
		"reason": "webhook answered 500 after 5 attempts", "component": "webhook-egress/east",
		"original_topic": "shop.order.created", "partition": 0, "offset": int64(42),
		"source_address": nil, "attempts": 5, "at": ms("2025-03-01T10:00:00.000Z"),
	},
	"examples/shop.order.created.v1.avsc": {
		"order_id": "o-1001", "customer_id": "c-7", "total_cents": int64(4250), "currency": "EUR",
		"items": []any{
			map[string]any{"sku": "mug-blue", "quantity": 2, "unit_price_cents": int64(1500)},
			map[string]any{"sku": "tea-earl", "quantity": 1, "unit_price_cents": int64(1250)},
		},
	},
	"examples/shop.order.created.v2.avsc": {
		"order_id": "o-1002", "customer_id": "c-8", "total_cents": int64(900), "currency": "USD",
		"items":       []any{map[string]any{"sku": "pen", "quantity": 3, "unit_price_cents": int64(300)}},
		"coupon_code": "SPRING25",
	},
	"examples/plant.sensor.temperature.v1.avsc": {
		"sensor_id": "factory-1/line-3/t2", "celsius": 21.5, "measured_at": ms("2025-03-01T10:00:00.000Z"),
	},
	"examples/plant.sensor.temperature.v2.avsc": {
		"sensor_id": "factory-1/line-3/t2", "celsius": -3.25, "measured_at": ms("2025-03-01T10:00:01.500Z"),
		"humidity": 55.5,
	},
}

func TestSampleRoundTrips(t *testing.T) {
	for _, name := range Names() {
		sample, ok := samples[name]
		if !ok {
			t.Errorf("%s has no sample", name)
			continue
		}
		s := mustParse(t, name)
		b, err := avro.Marshal(s, sample)
		if err != nil {
			t.Errorf("%s: marshal: %v", name, err)
			continue
		}
		var got map[string]any
		if err := avro.Unmarshal(s, b, &got); err != nil {
			t.Errorf("%s: unmarshal: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, sample) {
			t.Errorf("%s: round trip gave\n%#v\nwant\n%#v", name, got, sample)
		}
	}
}

// A v1 payload reads as v2 with the new field null, and the other way round
// the new field is dropped: the compatibility the registry will enforce.
func TestExamplesReadAcrossVersions(t *testing.T) {
	for _, pair := range versionPairs {
		v1, v2 := mustParse(t, pair[0]), mustParse(t, pair[1])
		b, err := avro.Marshal(v1, samples[pair[0]])
		if err != nil {
			t.Fatal(err)
		}
		resolved, err := avro.NewSchemaCompatibility().Resolve(v2, v1)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := avro.Unmarshal(resolved, b, &got); err != nil {
			t.Fatalf("%s data read as %s: %v", pair[0], pair[1], err)
		}
		for k, want := range samples[pair[0]] {
			if !reflect.DeepEqual(got[k], want) {
				t.Errorf("%s read as v2: %s = %#v, want %#v", pair[0], k, got[k], want)
			}
		}
		if len(got) != len(samples[pair[0]])+1 {
			t.Errorf("%s read as v2: %d fields, want %d", pair[0], len(got), len(samples[pair[0]])+1)
		}
	}
}

func mustParse(t *testing.T, name string) avro.Schema {
	t.Helper()
	s, err := Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
