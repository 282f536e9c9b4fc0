package topology

import (
	"slices"
	"strings"
	"testing"
)

func FuzzParseLink(f *testing.F) {
	for _, s := range []string{"east<->west", "east-west", " a <-> b ", "us-east<->us-west", "us-east-west", "a<->b<->c", "-", "<->", "é-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLink(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "topology: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		// What parses is two site names, and the long form of them parses
		// back to the same link.
		again, err := ParseLink(l[0] + "<->" + l[1])
		if err != nil || again != l {
			t.Fatalf("ParseLink(%q) = %q, but its long form gives %q, %v", s, l, again, err)
		}
	})
}

// FuzzNew builds topologies from comma-separated site names and links as a
// configuration file would give them, and checks that whatever New accepts
// routes every pair along links.
func FuzzNew(f *testing.F) {
	f.Add("east,west", "")
	f.Add("east,west,north", "east-west,west<->north")
	f.Add("a,b,c,d", "a-b,b-c,c-d,d-a")
	f.Add("a,b,c,d", "a-b,c-d")
	f.Add("a,a", "a-a")
	f.Add("hub,x,y", "hub-x,hub-y,x-hub")
	f.Fuzz(func(t *testing.T, siteList, linkList string) {
		sites := strings.Split(siteList, ",")
		var links [][2]string
		if linkList != "" {
			for _, s := range strings.Split(linkList, ",") {
				l, err := ParseLink(s)
				if err != nil {
					return
				}
				links = append(links, l)
			}
		}
		if len(sites) > 12 {
			return // routes are checked for every pair: keep inputs small
		}
		topo, err := New(sites, links)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "topology: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		want := slices.Clone(sites)
		slices.Sort(want)
		if !slices.Equal(topo.Sites(), want) {
			t.Fatalf("Sites() = %v; want %v", topo.Sites(), want)
		}
		linked := map[[2]string]bool{}
		for _, l := range topo.Links() {
			linked[l], linked[[2]string{l[1], l[0]}] = true, true
		}
		for _, o := range sites {
			for _, s := range sites {
				route, ok := topo.Route(o, s)
				if !ok || route[0] != o || route[len(route)-1] != s || len(route) > len(sites) {
					t.Fatalf("Route(%s, %s) = %v, %v", o, s, route, ok)
				}
				for i := 1; i < len(route); i++ {
					if !linked[[2]string{route[i-1], route[i]}] {
						t.Fatalf("Route(%s, %s) = %v uses a missing link", o, s, route)
					}
				}
				if s != o {
					hop, _ := topo.NextHop(s, o)
					if !topo.Accept(s, hop, o, route[:len(route)-1]) {
						t.Fatalf("%s refuses %s's record from its next hop %s along its route %v", s, o, hop, route)
					}
				}
			}
		}
	})
}
