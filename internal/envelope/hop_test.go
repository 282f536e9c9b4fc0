package envelope

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func headerValue(hs []kgo.RecordHeader, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestStampHopExtendsThePathAndKeepsTheRest(t *testing.T) {
	for _, c := range []struct {
		name             string
		headers          []kgo.RecordHeader
		origin, wantPath string
	}{
		{"plain producer at the source", nil, "east", "east,west"},
		{"mesh event from the source", []kgo.RecordHeader{{Key: HeaderOrigin, Value: []byte("east")}, {Key: HeaderPath, Value: []byte("east")}}, "east", "east,west"},
		{"mesh event through a hub", []kgo.RecordHeader{{Key: HeaderOrigin, Value: []byte("north")}, {Key: HeaderPath, Value: []byte("north,east")}}, "north", "north,east,west"},
		{"origin without a path", []kgo.RecordHeader{{Key: HeaderOrigin, Value: []byte("north")}}, "north", "north,east,west"},
		{"empty path", []kgo.RecordHeader{{Key: HeaderOrigin, Value: []byte("east")}, {Key: HeaderPath}}, "east", "east,west"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := append([]kgo.RecordHeader{{Key: HeaderID, Value: []byte("1")}}, c.headers...)
			before := slices.Clone(in)
			out := StampHop(in, "east", "west")
			if v, _ := headerValue(out, HeaderID); v != "1" || out[0].Key != HeaderID {
				t.Fatal("ce_id lost or moved")
			}
			if v, _ := headerValue(out, HeaderOrigin); v != c.origin {
				t.Fatalf("mesh_origin %q, want %q", v, c.origin)
			}
			if v, _ := headerValue(out, HeaderPath); v != c.wantPath {
				t.Fatalf("mesh_path %q, want %q", v, c.wantPath)
			}
			if len(in) != len(before) || !slices.EqualFunc(in, before, func(a, b kgo.RecordHeader) bool {
				return a.Key == b.Key && string(a.Value) == string(b.Value)
			}) {
				t.Fatal("the source record's headers were changed")
			}
			origin, path := Route(out)
			e := Envelope{Origin: origin, Path: path}
			if origin != c.origin || !e.Visited("west") || !e.Visited("east") {
				t.Fatalf("Route of the stamped headers: %q %v", origin, path)
			}
		})
	}
}
