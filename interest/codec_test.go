package interest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/schemas"
)

func testCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sampleLeases() []Lease {
	since := time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
	return []Lease{
		{Topic: "shop.order.created", Site: "east", Kind: KindConsumerGroup, SourceID: "billing",
			Since: since, Expires: since.Add(30 * time.Second)},
		{Topic: `shop\..*`, Pattern: true, Site: "west", Kind: KindDeclared, SourceID: "ops/nightly",
			Since: since, Resume: ResumeEarliest},
		{Topic: "factory.temp", Site: "north", Kind: KindAdapterEgress, SourceID: "mqtt-adapter/factory",
			Since: since, Expires: since.Add(time.Hour), Resume: ResumeTimestamp, ResumeAt: since.Add(-24 * time.Hour)},
		{Topic: "shop.order.shipped", Site: "east", Kind: KindWebhook, SourceID: "hook-7",
			Since: since, Expires: since.Add(time.Minute), Resume: ResumeLatest},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c := testCodec(t)
	for _, l := range sampleLeases() {
		r, err := c.Record(l)
		if err != nil {
			t.Fatal(err)
		}
		if r.Topic != Topic || string(r.Key) != l.Key() || len(r.Headers) != 1 ||
			r.Headers[0].Key != "content-type" || string(r.Headers[0].Value) != ContentType {
			t.Fatalf("record of %s: topic %q key %q headers %v", l.Key(), r.Topic, r.Key, r.Headers)
		}
		key, got, err := c.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		if key != l.Key() || got == nil || *got != l {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", l.Key(), got, l)
		}
	}
	// Sub-millisecond precision is lost, as the contract says.
	l := sampleLeases()[0]
	l.Since = l.Since.Add(999 * time.Microsecond)
	b, _ := c.Marshal(l)
	got, err := c.Unmarshal(b)
	if err != nil || !got.Since.Equal(l.Since.Truncate(time.Millisecond)) {
		t.Fatalf("since %v, %v", got.Since, err)
	}
}

// TestWireFormat reads the codec's output with the contract alone, as a
// reader in another language would.
func TestWireFormat(t *testing.T) {
	c := testCodec(t)
	s, err := schemas.Parse(schemas.InterestLease)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range sampleLeases()[1:3] {
		b, err := c.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := avro.Unmarshal(s, b, &m); err != nil {
			t.Fatal(err)
		}
		if m["site"] != l.Site || m["source_kind"] != l.Kind.String() || m["resume"] != l.Resume.String() {
			t.Fatalf("generic decode: %v", m)
		}
		since, _ := m["since"].(time.Time)
		if !since.Equal(l.Since) {
			t.Fatalf("since %v, want %v", m["since"], l.Since)
		}
		exp, _ := m["expires"].(time.Time)
		if l.Expires.IsZero() && exp.UnixMilli() != math.MaxInt64 {
			t.Fatalf("a lease that never expires must carry the largest long, got %v", m["expires"])
		}
		if l.Resume == ResumeTimestamp && m["resume_at"] == nil || l.Resume != ResumeTimestamp && m["resume_at"] != nil {
			t.Fatalf("resume_at %v with resume %v", m["resume_at"], l.Resume)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	c := testCodec(t)
	l := sampleLeases()[0]
	good, _ := c.Record(l)
	value := good.Value
	for _, tc := range []struct {
		name string
		r    *kgo.Record
		want string
	}{
		{"no key", &kgo.Record{Value: value}, "without a key"},
		{"wrong key", &kgo.Record{Key: []byte("east/declared/x/topic:y"), Value: value}, "does not match its lease"},
		{"json", &kgo.Record{Key: good.Key, Value: []byte(`{"topic":"x"}`)}, "decoding lease"},
		{"truncated", &kgo.Record{Key: good.Key, Value: value[:len(value)-3]}, "decoding lease"},
		{"trailing bytes", &kgo.Record{Key: good.Key, Value: append(append([]byte(nil), value...), 0)}, "left over"},
		{"other content type", &kgo.Record{Key: good.Key, Value: value,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}, "content-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := c.Decode(tc.r)
			if err == nil || got != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
	// A valid encoding of an invalid lease is rejected too.
	bad := l
	bad.Site = "Not A Site"
	w := wireLease{Topic: bad.Topic, Site: bad.Site, SourceKind: "DECLARED", SourceID: "x", Since: 1, Expires: 2, Resume: "CHECKPOINT"}
	b, err := c.api.Marshal(c.schema, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unmarshal(b); err == nil || !strings.Contains(err.Error(), "site") {
		t.Fatalf("invalid site decoded: %v", err)
	}
	// A tombstone decodes to its key alone.
	key, got, err := c.Decode(Tombstone(l))
	if err != nil || got != nil || key != l.Key() {
		t.Fatalf("tombstone: %q %v %v", key, got, err)
	}
	if _, err := c.Marshal(Lease{}); err == nil {
		t.Fatal("an invalid lease was encoded")
	}
}
