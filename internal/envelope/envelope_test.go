package envelope

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func full() Envelope {
	return Envelope{
		SpecVersion:   SpecVersion,
		ID:            "0192a7e4-7c1e-7000-8000-000000000001",
		Source:        "mqtt://broker/factory/1/temp",
		Type:          "plant.sensor.temperature",
		Time:          time.Date(2026, 11, 23, 10, 4, 5, 123456789, time.UTC),
		Subject:       "sensor-7",
		DataSchema:    "http://registry:8081/schemas/ids/3",
		ContentType:   "application/json",
		Origin:        "east",
		Path:          []string{"east", "west"},
		TraceParent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		TraceState:    "congo=t61rcWkgMzE",
		ReplyTo:       "replies/client 7",
		CorrelationID: "req-42",
		Extensions:    map[string]string{"partitionkey": "k1", "tenant": "acme"},
	}
}

func TestRoundTrips(t *testing.T) {
	want := full()
	if err := want.Validate(); err != nil {
		t.Fatalf("fixture invalid: %v", err)
	}
	t.Run("kafka", func(t *testing.T) {
		got, err := FromKafka(want.KafkaHeaders())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("http", func(t *testing.T) {
		h := http.Header{}
		w := want.Clone()
		w.Subject = `café "50%" off` // needs percent-encoding
		w.SetHTTP(h)
		if v := h.Get("ce-subject"); v != "caf%C3%A9%20%2250%25%22%20off" {
			t.Fatalf("ce-subject not percent-encoded: %q", v)
		}
		got, err := FromHTTP(h)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("got %+v\nwant %+v", got, w)
		}
	})
	t.Run("mqtt", func(t *testing.T) {
		props, ct := want.MQTTProperties()
		if ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
		for _, p := range props {
			if p.Key == "content-type" || p.Key == "datacontenttype" {
				t.Fatalf("content type must travel in the Content Type property, not %q", p.Key)
			}
		}
		got, err := FromMQTT(props, ct)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("amqp", func(t *testing.T) {
		props, ct := want.AMQPProperties()
		if _, ok := props["cloudEvents_time"].(time.Time); !ok {
			t.Fatalf("time must be an AMQP timestamp, got %T", props["cloudEvents_time"])
		}
		got, err := FromAMQP(props, ct)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
}

func TestFromKafkaPlainRecord(t *testing.T) {
	env, err := FromKafka([]kgo.RecordHeader{{Key: "app", Value: []byte("x")}})
	if err != nil {
		t.Fatalf("a record without an envelope must be accepted: %v", err)
	}
	if !reflect.DeepEqual(env, Envelope{}) {
		t.Fatalf("want empty envelope, got %+v", env)
	}
}

func TestFromKafkaErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		want    string
	}{
		{"bad time", h("ce_time", "yesterday"), `ce_time="yesterday": not an RFC 3339 timestamp`},
		{"bad version", h("ce_specversion", "0.3"), `ce_specversion="0.3": unsupported CloudEvents version`},
		{"duplicate id", h("ce_id", "a", "ce_id", "b"), `ce_id="b": appears more than once`},
		{"bad path", h("mesh_path", "east,,west"), `mesh_path="east,,west": want comma-separated site names`},
		{"bad origin", h("mesh_origin", "East Coast"), `mesh_origin="East Coast": site names are lower-case`},
		{"path not from origin", h("mesh_origin", "east", "mesh_path", "west"), `must start with the origin site east`},
		{"bad traceparent", h("traceparent", "00-abc-def-01"), `trace-id must be 32 lower-case hex digits`},
		{"zero trace id", h("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), `not all zero`},
		{"bad extension", h("ce_Tenant", "x"), `extension names must be 1-20 lower-case letters or digits`},
		{"control char", h("ce_type", "a\nb"), `contains a control character`},
		{"bad dataschema", h("ce_dataschema", "relative/path"), `not an absolute URI`},
		{"bad content type", h("content-type", "json"), `not a media type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromKafka(tc.headers)
			if err == nil {
				t.Fatal("want an error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func h(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func TestValidateNamesEveryMissingAttribute(t *testing.T) {
	var e Envelope
	err := e.Validate()
	for _, name := range []string{"ce_specversion", "ce_id", "ce_source", "ce_type"} {
		if err == nil || !strings.Contains(err.Error(), name+": missing") {
			t.Errorf("error %v does not report missing %s", err, name)
		}
	}
}

func TestValidateSpeaksTheProtocol(t *testing.T) {
	_, err := FromHTTP(http.Header{"Ce-Time": {"soon"}})
	if err == nil || !strings.Contains(err.Error(), "Ce-Time") {
		t.Fatalf("HTTP errors must name the HTTP header, got %v", err)
	}
	_, err = FromAMQP(map[string]any{"cloudEvents_time": "soon"}, "")
	if err == nil || !strings.Contains(err.Error(), "cloudEvents_time") {
		t.Fatalf("AMQP errors must name the application property, got %v", err)
	}
}

func TestCompleteAndHops(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	e := Envelope{Source: "mqtt://b/t", Type: "t"}
	e.Complete("east", now)
	if err := e.Validate(); err != nil {
		t.Fatalf("completed envelope invalid: %v", err)
	}
	if e.Origin != "east" || !reflect.DeepEqual(e.Path, []string{"east"}) || !e.Time.Equal(now) || e.Time.Location() != time.UTC {
		t.Fatalf("unexpected completion %+v", e)
	}
	id := e.ID
	e.Complete("west", now.Add(time.Hour))
	if e.ID != id || e.Origin != "east" {
		t.Fatal("Complete must not overwrite present attributes")
	}
	if err := e.AddHop("west"); err != nil {
		t.Fatal(err)
	}
	if err := e.AddHop("east"); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("re-entering the origin must be refused as a loop, got %v", err)
	}
	if err := e.AddHop("west"); err == nil {
		t.Fatal("re-entering a crossed site must be refused")
	}
	if !e.Visited("west") || e.Visited("north") {
		t.Fatal("Visited disagrees with the path")
	}
}

func TestSetKafkaKeepsOtherHeaders(t *testing.T) {
	r := &kgo.Record{Headers: h("app", "1", "ce_id", "old", "other", "2")}
	e := full()
	e.SetKafka(r)
	var keys []string
	for _, hd := range r.Headers {
		keys = append(keys, hd.Key)
	}
	if keys[0] != "app" || keys[1] != "other" {
		t.Fatalf("other headers must stay first and in order: %v", keys)
	}
	got, err := FromKafka(r.Headers)
	if err != nil || got.ID != e.ID {
		t.Fatalf("got %v, %v", got.ID, err)
	}
}

func TestTraceParentAndIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tp := NewTraceParent()
		if err := validTraceParent(tp); err != nil {
			t.Fatalf("%s: %v", tp, err)
		}
		id := NewID()
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
	if validTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") != nil {
		t.Fatal("future versions may carry more fields")
	}
}
