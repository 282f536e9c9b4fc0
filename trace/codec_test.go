package trace

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleHops() []Hop {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123e6, time.UTC)
	return []Hop{
		{EventID: "e1", Source: "mqtt://broker/factory/1/temp", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Topic: "plant.sensor.temperature",
			Site: "east", Component: "mqtt-adapter/east", Action: ActionIngress, Protocol: ProtocolMQTT, Outcome: OutcomeOK, Time: at,
			Partition: -1, Offset: -1, Address: "mqtt://broker/factory/1/temp", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{EventID: "e1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Topic: "plant.sensor.temperature", Site: "east", Component: "mqtt-adapter/east",
			Action: ActionProduced, Protocol: ProtocolKafka, Outcome: OutcomeOK, Time: at.Add(2 * time.Millisecond), Partition: 3, Offset: 12345,
			Duration: 1830 * time.Microsecond},
		{EventID: "e2", Topic: "plant.sensor.temperature", Site: "east", Component: "mqtt-adapter/east", Action: ActionDeadLettered,
			Protocol: ProtocolKafka, Outcome: OutcomeDLQ, Time: at, Partition: 0, Offset: 0, Detail: "schema: field celsius missing"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	want := sampleHops()
	rec, err := c.Record("east", "mqtt-adapter/east", want)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Topic != Topic || string(rec.Key) != "mqtt-adapter/east" {
		t.Fatalf("record %s key %q", rec.Topic, rec.Key)
	}
	got, err := c.Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	rec.Headers[0].Value = []byte("application/json")
	if _, err := c.Decode(rec); err == nil || !strings.Contains(err.Error(), "content-type") {
		t.Fatalf("a record of another content type decoded: %v", err)
	}
}

func TestUnmarshalRefusesDamage(t *testing.T) {
	c, _ := NewCodec()
	b, err := c.Marshal(sampleHops())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unmarshal(b[:len(b)-3]); err == nil {
		t.Error("a cut-short array decoded")
	}
	if _, err := c.Unmarshal(append(b, 0, 1)); err == nil {
		t.Error("bytes after the array were ignored")
	}
	if _, err := c.Marshal(make([]Hop, MaxHopsPerRecord+1)); err == nil {
		t.Error("an over-long batch encoded")
	}
	noID, _ := c.Marshal([]Hop{{Topic: "t", Partition: -1, Offset: -1}})
	if _, err := c.Unmarshal(noID); err == nil {
		t.Error("a hop without an event id decoded")
	}
}

func TestTraceIDOf(t *testing.T) {
	for tp, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": "",
		"garbage": "",
		"":        "",
	} {
		if got := TraceIDOf(tp); got != want {
			t.Errorf("TraceIDOf(%q) = %q, want %q", tp, got, want)
		}
	}
}

func TestHopJSON(t *testing.T) {
	for _, h := range sampleHops() {
		b, err := h.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Hop
		if err := back.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		// The API leaves out what identifies the event (it is the
		// answer's own): compare the rest.
		h.EventID, h.TraceID, h.TraceParent = "", "", ""
		if !reflect.DeepEqual(back, h) {
			t.Errorf("JSON round trip of %s:\n got %+v\nwant %+v", b, back, h)
		}
	}
	b, _ := sampleHops()[0].MarshalJSON()
	for _, part := range []string{`"protocol":"mqtt"`, `"outcome":"ok"`, `"partition":null`, `"time":"2026-03-01T10:00:00.123Z"`} {
		if !strings.Contains(string(b), part) {
			t.Errorf("%s lacks %s", b, part)
		}
	}
}
