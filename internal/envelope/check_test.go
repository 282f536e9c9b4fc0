package envelope

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCheckMeshHeaders(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	sites := map[string]bool{"east": true, "west": true, "north": true}
	known := func(s string) bool { return sites[s] }
	long := strings.Repeat("a,", MaxPathSites) + "b"
	for _, c := range []struct {
		name    string
		headers []kgo.RecordHeader
		bad     string // a part of the error, or "" for valid
	}{
		{"plain kafka client", h("ce_id", "1"), ""},
		{"no headers at all", nil, ""},
		{"origin and path", h(HeaderOrigin, "east", HeaderPath, "east,west"), ""},
		{"origin alone", h(HeaderOrigin, "north"), ""},
		{"empty values read as absent", h(HeaderOrigin, "", HeaderPath, ""), ""},
		{"unknown origin", h(HeaderOrigin, "south"), "not a site of the mesh"},
		{"origin not a site name", h(HeaderOrigin, "East!"), "lower-case"},
		{"origin invalid utf-8", h(HeaderOrigin, "\xff\xfe"), "mesh_origin"},
		{"oversized origin", h(HeaderOrigin, strings.Repeat("e", 100<<10)), "longer than 63"},
		{"repeated origin", h(HeaderOrigin, "east", HeaderOrigin, "west"), "repeated"},
		{"repeated path", h(HeaderPath, "east", HeaderPath, "east"), "repeated"},
		{"path of random bytes", h(HeaderOrigin, "east", HeaderPath, "\x00\x01\x02"), "site names"},
		{"path with an empty site", h(HeaderOrigin, "east", HeaderPath, "east,,west"), "site names"},
		{"path with an unknown site", h(HeaderOrigin, "east", HeaderPath, "east,south"), "not a site"},
		{"path not from the origin", h(HeaderOrigin, "east", HeaderPath, "west,east"), "start with the origin"},
		{"path with a loop", h(HeaderOrigin, "east", HeaderPath, "east,west,east"), "twice"},
		{"path too long", h(HeaderPath, long), "at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckMeshHeaders(c.headers, known)
			switch {
			case c.bad == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.bad != "" && err == nil:
				t.Fatal("accepted")
			case c.bad != "" && (!strings.Contains(err.Error(), c.bad) || !errors.Is(err, ErrMalformed)):
				t.Fatalf("error %q, want it to say %q and match ErrMalformed", err, c.bad)
			case err != nil && len(err.Error()) > 300:
				t.Fatalf("error of %d bytes: a log line must stay short", len(err.Error()))
			}
		})
	}
	if err := CheckMeshHeaders(h(HeaderOrigin, "south", HeaderPath, "south,east"), nil); err != nil {
		t.Fatalf("without a topology any well-formed name goes: %v", err)
	}
}
