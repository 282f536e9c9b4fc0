package demand

import (
	"reflect"
	"testing"
	"time"

	"github.com/meshwork/meshwork/interest"

	"github.com/twmb/franz-go/pkg/kgo"
)

func record(t *testing.T, c *interest.Codec, l interest.Lease) *kgo.Record {
	t.Helper()
	r, err := c.Record(l)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTableResolve(t *testing.T) {
	c := testCodec(t)
	tb := NewTable(c, nil)
	now := ms(time.Now())
	lease := func(site, topic string, pattern bool, expires time.Time) interest.Lease {
		return interest.Lease{Topic: topic, Pattern: pattern, Site: site, Kind: interest.KindDeclared, SourceID: "d",
			Since: now.Add(-time.Hour), Expires: expires}
	}
	never := time.Time{}
	for _, l := range []interest.Lease{
		lease("west", "shop.order.created", false, now.Add(time.Minute)),
		lease("east", "shop.order.created", false, never),
		lease("north", `shop\.order\..*`, true, now.Add(time.Minute)),
		lease("south", ".*", true, now.Add(time.Minute)),
		lease("east", "not.yet.anywhere", false, now.Add(time.Minute)),
		lease("west", "billing.invoice", false, now.Add(time.Second)), // expires soon
		lease("south", "_schemas", false, now.Add(time.Minute)),       // internal, named exactly
	} {
		if !tb.Apply(record(t, c, l)) {
			t.Fatalf("a new lease %s is a change", l.Key())
		}
	}
	known := []string{"shop.order.created", "shop.order.shipped", "billing.invoice", "_mesh.checkpoints", "_schemas", "shop.orderX"}
	got := tb.Resolve(now, known)
	want := map[string][]string{
		"shop.order.created": {"east", "north", "south", "west"},
		"shop.order.shipped": {"north", "south"},
		"billing.invoice":    {"south", "west"},
		"shop.orderX":        {"south"},
		"not.yet.anywhere":   {"east"},
		"_schemas":           {"south"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolve:\n got %v\nwant %v", got, want)
	}

	// Expiry: at now+1s the west lease on billing.invoice lapsed.
	later := tb.Resolve(now.Add(time.Second), known)
	if !reflect.DeepEqual(later["billing.invoice"], []string{"south"}) {
		t.Fatalf("after expiry billing.invoice -> %v", later["billing.invoice"])
	}
	if n := len(tb.Active(now.Add(2 * time.Minute))); n != 1 {
		t.Fatalf("after two minutes %d leases active, want the one that never expires", n)
	}
	if n := len(tb.Leases()); n != 7 {
		t.Fatalf("Leases() = %d, expired ones are kept until tombstoned", n)
	}

	// Tombstones remove.
	if !tb.Apply(interest.Tombstone(lease("east", "not.yet.anywhere", false, never))) {
		t.Fatal("removing an active lease is a change")
	}
	if _, ok := tb.Resolve(now, known)["not.yet.anywhere"]; ok {
		t.Fatal("tombstoned lease still resolves")
	}
	if tb.Apply(interest.Tombstone(lease("east", "no.such.lease", false, never))) {
		t.Fatal("removing a lease that is not there is no change")
	}
}

func TestTableApplyChanges(t *testing.T) {
	c := testCodec(t)
	tb := NewTable(c, nil)
	l := declared("east", "shop.order.created", "ops")
	if !tb.Apply(record(t, c, l)) {
		t.Fatal("new lease: want a change")
	}
	renewed := l
	renewed.Expires = l.Expires.Add(time.Minute)
	if tb.Apply(record(t, c, renewed)) {
		t.Fatal("a renewal is not a change")
	}
	if got, _ := tb.Lease(l.Key()); !got.Expires.Equal(renewed.Expires) {
		t.Fatal("the renewal was not applied")
	}
	policy := renewed
	policy.Resume = interest.ResumeLatest
	if !tb.Apply(record(t, c, policy)) {
		t.Fatal("a new resume policy is a change")
	}
	lapsed := l
	lapsed.Since = ms(time.Now().Add(-2 * time.Hour))
	lapsed.Expires = lapsed.Since.Add(time.Hour)
	if !tb.Apply(record(t, c, lapsed)) {
		t.Fatal("a lease replaced by an expired one is a change")
	}
	if tb.Apply(interest.Tombstone(l)) {
		t.Fatal("removing an expired lease changes no interest")
	}
	if tb.Apply(&kgo.Record{Key: []byte("x"), Attrs: kgo.RecordAttrs{}, Value: nil}) {
		t.Fatal("tombstone of an unknown key is no change")
	}
}

func TestTableInvalidRecords(t *testing.T) {
	c := testCodec(t)
	tb := NewTable(c, nil)
	good := record(t, c, declared("east", "shop.order.created", "ops"))
	for _, r := range []*kgo.Record{
		{Key: []byte("east/declared/ops/topic:x"), Value: []byte("garbage")},
		{Value: good.Value},
		{Key: []byte("other/key"), Value: good.Value},
	} {
		if tb.Apply(r) {
			t.Fatal("an invalid record changed the table")
		}
	}
	if tb.Invalid() != 3 || len(tb.Leases()) != 0 {
		t.Fatalf("invalid %d, leases %d", tb.Invalid(), len(tb.Leases()))
	}
}

func TestTablePolicy(t *testing.T) {
	c := testCodec(t)
	now := ms(time.Now())
	t0 := now.Add(-48 * time.Hour)
	t1 := now.Add(-24 * time.Hour)
	mk := func(site, name, topic string, pattern bool, r interest.Resume, at time.Time, since time.Time) interest.Lease {
		return interest.Lease{Topic: topic, Pattern: pattern, Site: site, Kind: interest.KindDeclared, SourceID: name,
			Since: since, Expires: now.Add(time.Hour), Resume: r, ResumeAt: at}
	}
	for _, tc := range []struct {
		name   string
		leases []interest.Lease
		want   Start
		found  bool
	}{
		{"none", nil, Start{}, false},
		{"one latest", []interest.Lease{mk("east", "a", "t", false, interest.ResumeLatest, time.Time{}, now)},
			Start{Resume: interest.ResumeLatest, Since: now}, true},
		{"latest and timestamps: earliest time", []interest.Lease{
			mk("east", "a", "t", false, interest.ResumeLatest, time.Time{}, now),
			mk("east", "b", "t", false, interest.ResumeTimestamp, t1, now.Add(-time.Minute)),
			mk("east", "c", `t|u`, true, interest.ResumeTimestamp, t0, now),
		}, Start{Resume: interest.ResumeTimestamp, At: t0, Since: now.Add(-time.Minute)}, true},
		{"checkpoint beats timestamp", []interest.Lease{
			mk("east", "a", "t", false, interest.ResumeTimestamp, t0, now),
			mk("east", "b", "t", false, interest.ResumeCheckpoint, time.Time{}, now),
		}, Start{Resume: interest.ResumeCheckpoint, Since: now}, true},
		{"earliest beats all", []interest.Lease{
			mk("east", "a", "t", false, interest.ResumeCheckpoint, time.Time{}, t1),
			mk("east", "b", ".*", true, interest.ResumeEarliest, time.Time{}, now),
			mk("east", "c", "t", false, interest.ResumeTimestamp, t0, now),
		}, Start{Resume: interest.ResumeEarliest, Since: t1}, true},
		{"other sites and topics do not count", []interest.Lease{
			mk("west", "a", "t", false, interest.ResumeEarliest, time.Time{}, t0),
			mk("east", "b", "u", false, interest.ResumeEarliest, time.Time{}, t0),
			mk("east", "c", "t", false, interest.ResumeLatest, time.Time{}, now),
		}, Start{Resume: interest.ResumeLatest, Since: now}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable(c, nil)
			for _, l := range tc.leases {
				tb.Apply(record(t, c, l))
			}
			got, found := tb.Policy(now, "east", "t")
			if found != tc.found || got != tc.want {
				t.Fatalf("Policy = %+v, %v; want %+v, %v", got, found, tc.want, tc.found)
			}
		})
	}
	// An expired lease does not count.
	tb := NewTable(c, nil)
	tb.Apply(record(t, c, mk("east", "a", "t", false, interest.ResumeEarliest, time.Time{}, t0)))
	if _, found := tb.Policy(now.Add(2*time.Hour), "east", "t"); found {
		t.Fatal("an expired lease gave a policy")
	}
}
