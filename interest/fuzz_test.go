package interest

import (
	"testing"
	"time"
)

// FuzzDecode: any bytes either fail to decode or decode to a valid lease
// that encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	c := testCodec(f)
	for _, l := range sampleLeases() {
		b, err := c.Marshal(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := c.Unmarshal(b)
		if err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("decoded an invalid lease: %v", err)
		}
		again, err := c.Marshal(l)
		if err != nil {
			t.Fatalf("decoded lease does not encode: %v", err)
		}
		back, err := c.Unmarshal(again)
		if err != nil || back != l {
			t.Fatalf("re-encoding changed the lease:\n %+v\n %+v (%v)", l, back, err)
		}
	})
}

// FuzzKey: two leases have the same key only when they agree on site,
// kind, source id, topic and pattern.
func FuzzKey(f *testing.F) {
	f.Add("east", uint8(0), "a/b", "t", false, "east", uint8(0), "a", "b/t", false)
	f.Add("east", uint8(3), "a%2Fb", "x", true, "east", uint8(3), "a/b", "x", true)
	f.Add("east", uint8(1), "a", "x", true, "east", uint8(1), "a", "x", false)
	f.Fuzz(func(t *testing.T, s1 string, k1 uint8, id1, t1 string, p1 bool, s2 string, k2 uint8, id2, t2 string, p2 bool) {
		a := Lease{Site: s1, Kind: Kind(k1 % 4), SourceID: id1, Topic: t1, Pattern: p1, Since: time.Unix(1, 0)}
		b := Lease{Site: s2, Kind: Kind(k2 % 4), SourceID: id2, Topic: t2, Pattern: p2, Since: time.Unix(1, 0)}
		if a.Validate() != nil || b.Validate() != nil {
			return
		}
		same := a.Site == b.Site && a.Kind == b.Kind && a.SourceID == b.SourceID && a.Topic == b.Topic && a.Pattern == b.Pattern
		if (a.Key() == b.Key()) != same {
			t.Fatalf("keys %q and %q for %+v and %+v", a.Key(), b.Key(), a, b)
		}
	})
}
