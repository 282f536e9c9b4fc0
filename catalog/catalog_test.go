package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

func testCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var when = time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)

func sample() Entry {
	return Entry{Site: "east", Topic: "shop.order.created", Role: RoleOrigin, Partitions: 6,
		Configs: map[string]string{"retention.ms": "604800000"}, Updated: when}
}

func TestCodecRoundTrip(t *testing.T) {
	c := testCodec(t)
	for _, e := range []Entry{sample(), {Site: "west", Topic: "plant-1.temp", Role: RoleCopy, Partitions: 1, Updated: when}} {
		r, err := c.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		key, got, err := c.Decode(r)
		if err != nil || key != e.Key() || got == nil || !got.Same(e) || !got.Updated.Equal(e.Updated) {
			t.Fatalf("round trip of %s: %+v %v", e.Key(), got, err)
		}
	}
	if _, got, err := c.Decode(Tombstone("east", "shop.order.created")); err != nil || got != nil {
		t.Fatalf("tombstone: %v %v", got, err)
	}
}

func TestValidateRefuses(t *testing.T) {
	long := strings.Repeat("v", maxConfigValue+1)
	for name, edit := range map[string]func(*Entry){
		"mesh topic":        func(e *Entry) { e.Topic = "_mesh.interest" },
		"kafka topic":       func(e *Entry) { e.Topic = "__consumer_offsets" },
		"illegal name":      func(e *Entry) { e.Topic = "a b" },
		"bad site":          func(e *Entry) { e.Site = "East" },
		"no partitions":     func(e *Entry) { e.Partitions = 0 },
		"absurd partitions": func(e *Entry) { e.Partitions = MaxPartitions + 1 },
		"long config":       func(e *Entry) { e.Configs = map[string]string{"x": long} },
		"no time":           func(e *Entry) { e.Updated = time.Time{} },
	} {
		e := sample()
		edit(&e)
		if err := e.Validate(); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%s: got %v", name, err)
		}
		if _, err := testCodec(t).Marshal(e); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
}

func TestTableApply(t *testing.T) {
	c := testCodec(t)
	tb := NewTable(c, nil)
	rec := func(e Entry) *kgo.Record {
		r, err := c.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e := sample()
	if !tb.Apply(rec(e)) {
		t.Fatal("a new entry is a change")
	}
	e.Updated = e.Updated.Add(time.Minute)
	if tb.Apply(rec(e)) {
		t.Fatal("a newer Updated alone is not a change")
	}
	e.Partitions = 8
	if !tb.Apply(rec(e)) {
		t.Fatal("more partitions is a change")
	}
	copyAtWest := Entry{Site: "west", Topic: e.Topic, Role: RoleCopy, Partitions: 8, Updated: when}
	tb.Apply(rec(copyAtWest))
	if o := tb.Origins()[e.Topic]; len(o) != 1 || o[0].Site != "east" {
		t.Fatalf("origins %+v", o)
	}
	if got := tb.Of("west"); len(got) != 1 || got[e.Topic].Role != RoleCopy {
		t.Fatalf("west's entries %+v", got)
	}
	bad := rec(e)
	bad.Key = []byte("west/shop.order.created")
	if tb.Apply(bad) || tb.Invalid() != 1 {
		t.Fatal("a record whose key is not its entry's must be ignored and counted")
	}
	if !tb.Apply(Tombstone("east", e.Topic)) || len(tb.Origins()) != 0 || len(tb.Entries()) != 1 {
		t.Fatal("the tombstone removes east's origin entry and leaves west's copy")
	}
}

func TestRead(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	ctx := kafkatest.Context(t, 20*time.Second)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	if tb, err := Read(ctx, opts); err != nil || len(tb.Entries()) != 0 {
		t.Fatalf("no topic yet: %v", err)
	}
	if err := EnsureTopic(ctx, cl); err != nil {
		t.Fatal(err)
	}
	r, err := testCodec(t).Record(sample())
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, cl, r)
	tb, err := Read(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := tb.Entry("east", "shop.order.created"); !ok || e.Partitions != 6 {
		t.Fatalf("read %+v %v", e, ok)
	}
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Read(short, []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}); err == nil {
		t.Fatal("Read from nowhere succeeded")
	}
}

// FuzzDecode: any bytes either fail to decode or decode to a valid entry
// that encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	c := testCodec(f)
	b, err := c.Marshal(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x02, 0x61, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := c.Unmarshal(b)
		if err != nil {
			return
		}
		again, err := c.Marshal(e)
		if err != nil {
			t.Fatalf("a decoded entry does not encode: %v", err)
		}
		back, err := c.Unmarshal(again)
		if err != nil || !back.Same(e) {
			t.Fatalf("re-encoding changed the entry: %+v %+v %v", e, back, err)
		}
	})
}
