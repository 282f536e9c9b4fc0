package envelope

import (
	"bytes"
	"cmp"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func knownSites(names ...string) func(string) bool {
	return func(s string) bool {
		for _, n := range names {
			if n == s {
				return true
			}
		}
		return false
	}
}

func TestCheckMeshHeaders(t *testing.T) {
	sites := knownSites("east", "west", "north")
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	random := make([]byte, 512)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	for _, c := range []struct {
		name    string
		headers []kgo.RecordHeader
		reason  string // "" when valid
	}{
		{"no mesh headers: a plain client's record", h("ce_id", "1"), ""},
		{"origin alone", h("mesh_origin", "east"), ""},
		{"origin and path", h("mesh_origin", "north", "mesh_path", "north,east"), ""},
		{"empty path counts as absent", h("mesh_origin", "east", "mesh_path", ""), ""},
		{"100 kB origin", h("mesh_origin", strings.Repeat("e", 100<<10)), "mesh_origin_malformed"},
		{"invalid UTF-8 origin", h("mesh_origin", "ea\xffst"), "mesh_origin_malformed"},
		{"empty origin", h("mesh_origin", ""), "mesh_origin_malformed"},
		{"repeated origin", h("mesh_origin", "east", "mesh_origin", "west"), "mesh_origin_repeated"},
		{"origin outside the mesh", h("mesh_origin", "mars"), "mesh_origin_unknown_site"},
		{"random bytes as path", []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}, {Key: "mesh_path", Value: random}}, "mesh_path_malformed"},
		{"129 kB path", h("mesh_origin", "east", "mesh_path", "east"+strings.Repeat(",west", 129<<10/5)), "mesh_path_too_long"},
		{"path with spaces", h("mesh_origin", "east", "mesh_path", "east, west"), "mesh_path_malformed"},
		{"path with an empty name", h("mesh_origin", "east", "mesh_path", "east,,west"), "mesh_path_malformed"},
		{"path through a site twice", h("mesh_origin", "east", "mesh_path", "east,west,east"), "mesh_path_loop"},
		{"path through a site outside the mesh", h("mesh_origin", "east", "mesh_path", "east,mars"), "mesh_path_unknown_site"},
		{"path not from the origin", h("mesh_origin", "east", "mesh_path", "west,east"), "mesh_path_not_from_origin"},
		{"path without origin", h("mesh_path", "east,west"), "mesh_path_no_origin"},
		{"repeated path", h("mesh_origin", "east", "mesh_path", "east", "mesh_path", "east,west"), "mesh_path_repeated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckMeshHeaders(c.headers, sites)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused a valid record: %v", err)
				}
				return
			}
			var me *MeshHeaderError
			if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want a MeshHeaderError", err)
			}
			if me.Reason() != c.reason {
				t.Fatalf("reason %q, want %q (%v)", me.Reason(), c.reason, err)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error message of %d bytes: values must be truncated", len(err.Error()))
			}
		})
	}
	// Without a list of sites, only the form is checked.
	if err := CheckMeshHeaders(h("mesh_origin", "mars", "mesh_path", "mars,venus"), nil); err != nil {
		t.Fatalf("well-formed headers refused without a list of sites: %v", err)
	}
}

// FuzzCheckMeshHeaders checks that whatever CheckMeshHeaders accepts is
// safe to route: Route reads back one origin and a path of valid, distinct
// site names from it, and StampHop extends it to headers that are accepted
// again, with the new site at the end.
func FuzzCheckMeshHeaders(f *testing.F) {
	f.Add("mesh_origin", []byte("east"), "mesh_path", []byte("east,west"), "ce_id", []byte("1"))
	f.Add("mesh_origin", []byte("east"), "mesh_origin", []byte("east"), "x", []byte(""))
	f.Add("mesh_path", []byte("east"), "mesh_origin", []byte("\xff"), "mesh_path", []byte(",,"))
	f.Fuzz(func(t *testing.T, k1 string, v1 []byte, k2 string, v2 []byte, k3 string, v3 []byte) {
		hs := []kgo.RecordHeader{{Key: k1, Value: v1}, {Key: k2, Value: v2}, {Key: k3, Value: v3}}
		if CheckMeshHeaders(hs, nil) != nil {
			return
		}
		origin, path := Route(hs)
		seen := map[string]bool{}
		for _, s := range path {
			if validSite(s) != nil || seen[s] {
				t.Fatalf("accepted path %q", path)
			}
			seen[s] = true
		}
		if origin != "" && validSite(origin) != nil {
			t.Fatalf("accepted origin %q", origin)
		}
		const site = "zz-next"
		if seen[site] || origin == site {
			return
		}
		from := "aa-from"
		if len(path) > 0 {
			from = path[len(path)-1]
		} else if origin != "" {
			from = origin
		}
		out := StampHop(hs, from, site)
		if err := CheckMeshHeaders(out, nil); err != nil {
			t.Fatalf("a stamped hop of accepted headers is refused: %v", err)
		}
		_, after := Route(out)
		if len(after) == 0 || after[len(after)-1] != site || !bytes.Equal([]byte(after[0]), []byte(cmp.Or(origin, from))) {
			t.Fatalf("stamped path %q from %q", after, path)
		}
	})
}
