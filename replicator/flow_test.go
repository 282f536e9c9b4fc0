package replicator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestCopyRecordKeepsEverythingAndExtendsThePath(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	for _, c := range []struct {
		name             string
		headers          []kgo.RecordHeader
		origin, wantPath string
	}{
		{"plain producer at the source", nil, "east", "east,west"},
		{"mesh event from the source", []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}, {Key: "mesh_path", Value: []byte("east")}}, "east", "east,west"},
		{"mesh event through a hub", []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("north")}, {Key: "mesh_path", Value: []byte("north,east")}}, "north", "north,east,west"},
		{"origin without a path", []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("north")}}, "north", "north,east,west"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := &kgo.Record{Topic: "shop.order.created", Partition: 5, Key: []byte("k"), Value: []byte("v"), Timestamp: ts,
				Headers: append([]kgo.RecordHeader{{Key: "ce_id", Value: []byte("1")}}, c.headers...)}
			out := copyRecord(in, "east", c.origin, "west")
			if out.Topic != in.Topic || out.Partition != 5 || string(out.Key) != "k" || string(out.Value) != "v" || !out.Timestamp.Equal(ts) {
				t.Fatalf("copy changed the record: %+v", out)
			}
			if v, _ := header(out, "ce_id"); v != "1" {
				t.Fatal("ce_id lost")
			}
			if v, _ := header(out, "mesh_origin"); v != c.origin {
				t.Fatalf("mesh_origin %q, want %q", v, c.origin)
			}
			if v, _ := header(out, "mesh_path"); v != c.wantPath {
				t.Fatalf("mesh_path %q, want %q", v, c.wantPath)
			}
			if len(in.Headers) != 1+len(c.headers) {
				t.Fatal("the source record's headers were changed")
			}
		})
	}
}

func TestUnitKeysRoundTrip(t *testing.T) {
	for _, u := range []unit{{"east", "shop.order.created", 0}, {"west-2", "a_b-c", 1023}} {
		got, err := parseUnit(u.key())
		if err != nil || got != u {
			t.Fatalf("parseUnit(%q) = %v, %v", u.key(), got, err)
		}
	}
	for _, bad := range []string{"", "east", "east/t", "east/t/-1", "east/t/x"} {
		if _, err := parseUnit(bad); err == nil {
			t.Errorf("parseUnit(%q) accepted", bad)
		}
	}
}

func TestSlotsAreStableAndSpread(t *testing.T) {
	seen := map[int]bool{}
	for p := range int32(64) {
		s := slotOf("shop.order.created", p, 8)
		if s != slotOf("shop.order.created", p, 8) || s < 0 || s >= 8 {
			t.Fatalf("slot %d", s)
		}
		seen[s] = true
	}
	if len(seen) < 6 {
		t.Fatalf("64 partitions fell into only %d of 8 slots", len(seen))
	}
}

func TestWithoutTimeoutKeepsRecordsAndOtherErrors(t *testing.T) {
	recs := kgo.Fetch{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{{Value: []byte("v")}}}}}}}
	fs := append(kgo.Fetches{recs}, kgo.NewErrFetch(context.DeadlineExceeded)...)
	got := withoutTimeout(append(fs, kgo.NewErrFetch(errors.New("broker gone"))...))
	if len(got) != 2 || got.NumRecords() != 1 {
		t.Fatalf("kept %d fetches with %d records, want the records and the other error", len(got), got.NumRecords())
	}
	n := 0
	got.EachError(func(string, int32, error) { n++ })
	if n != 1 {
		t.Fatalf("%d errors kept, want 1", n)
	}
}
