package replicator

import (
	"context"
	"errors"
	"testing"

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

func TestWithoutPollEndKeepsRecordsAndOtherErrors(t *testing.T) {
	recs := kgo.Fetch{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{{Partition: 1, Records: []*kgo.Record{{Value: []byte("v")}}}}}}}
	fs := append(kgo.Fetches{recs}, kgo.NewErrFetch(context.DeadlineExceeded)...)
	fs = append(fs, kgo.NewErrFetch(context.Canceled)...)
	got := withoutPollEnd(append(fs, kgo.NewErrFetch(errors.New("broker gone"))...))
	if len(got) != 2 || got.NumRecords() != 1 {
		t.Fatalf("kept %d fetches with %d records, want the records and the other error", len(got), got.NumRecords())
	}
	n := 0
	got.EachError(func(string, int32, error) { n++ })
	if n != 1 {
		t.Fatalf("%d errors kept, want 1", n)
	}
}
