package topology

import (
	"slices"
	"strings"
	"testing"
)

// mustNew builds a topology from links written as in ParseLink.
func mustNew(t *testing.T, sites string, links ...string) *Topology {
	t.Helper()
	var ls [][2]string
	for _, l := range links {
		pair, err := ParseLink(l)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, pair)
	}
	topo, err := New(strings.Split(sites, ","), ls)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		sites []string
		links [][2]string
		want  string
	}{
		{"no sites", nil, nil, "topology: no sites; list at least one site"},
		{"empty name", []string{"east", ""}, nil,
			"topology: site 2 in the list is empty; name it or remove it"},
		{"bad name", []string{"East"}, nil,
			`topology: site "East": site names are lower-case letters, digits, '-' and '_', starting with a letter or digit; rename it`},
		{"duplicate site", []string{"east", "west", "east"}, nil,
			`topology: site "east" is listed twice; remove one`},
		{"unknown site in link", []string{"east", "west"}, [][2]string{{"east", "north"}},
			`topology: link east<->north names unknown site "north"; add it to the sites or fix the link`},
		{"self link", []string{"east", "west"}, [][2]string{{"east", "west"}, {"west", "west"}},
			`topology: link west<->west joins site "west" to itself; remove it`},
		{"duplicate link", []string{"east", "west"}, [][2]string{{"east", "west"}, {"west", "east"}},
			"topology: link west<->east is listed twice (links are two-way: a<->b and b<->a are the same); remove one"},
		{"split mesh", []string{"a", "b", "c", "d"}, [][2]string{{"a", "b"}, {"c", "d"}},
			"topology: the mesh is split: c, d cannot reach a, not even through other sites; add a link between the two groups"},
		{"all problems at once", []string{"a", "B", "a"}, [][2]string{{"a", "x"}, {"B", "a"}, {"y", "y"}},
			`topology: site "B": site names are lower-case letters, digits, '-' and '_', starting with a letter or digit; rename it` + "\n" +
				`topology: site "a" is listed twice; remove one` + "\n" +
				`topology: link a<->x names unknown site "x"; add it to the sites or fix the link` + "\n" +
				`topology: link y<->y names unknown site "y"; add it to the sites or fix the link`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := New(tt.sites, tt.links)
			if err == nil {
				t.Fatalf("New succeeded with %v; want error %q", topo.Links(), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestParseLink(t *testing.T) {
	ok := map[string][2]string{
		"east<->west":         {"east", "west"},
		" east <-> west ":     {"east", "west"},
		"east-west":           {"east", "west"},
		"us-east<->eu_west-2": {"us-east", "eu_west-2"},
	}
	for in, want := range ok {
		got, err := ParseLink(in)
		if err != nil || got != want {
			t.Errorf("ParseLink(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"east":              `topology: link "east": want two site names joined by <-> or -, e.g. east<->west`,
		"us-east-west":      `topology: link "us-east-west" is ambiguous because site names may contain '-'; write it as site<->site`,
		"east<->":           `topology: link "east<->": site name is empty; want two site names joined by <->, e.g. east<->west`,
		"East-west":         `topology: link "East-west": site names are lower-case letters, digits, '-' and '_', starting with a letter or digit; want two site names joined by <->, e.g. east<->west`,
		"a<->b<->c":         `topology: link "a<->b<->c": site names are lower-case letters, digits, '-' and '_', starting with a letter or digit; want two site names joined by <->, e.g. east<->west`,
		"east->west":        `topology: link "east->west": site names are lower-case letters, digits, '-' and '_', starting with a letter or digit; want two site names joined by <->, e.g. east<->west`,
		"east<->-west-2-ab": `topology: link "east<->-west-2-ab": site names are lower-case letters, digits, '-' and '_', starting with a letter or digit; want two site names joined by <->, e.g. east<->west`,
	}
	for in, want := range bad {
		got, err := ParseLink(in)
		if err == nil {
			t.Errorf("ParseLink(%q) = %q; want error %q", in, got, want)
		} else if err.Error() != want {
			t.Errorf("ParseLink(%q) error:\n%s\nwant:\n%s", in, err, want)
		}
	}
}

// hops checks NextHop for every (site, origin) pair: want["site<-origin"] is
// the neighbour site pulls origin's records from.
func hops(t *testing.T, topo *Topology, want map[string]string) {
	t.Helper()
	for _, s := range topo.Sites() {
		for _, o := range topo.Sites() {
			got, ok := topo.NextHop(s, o)
			if s == o {
				if ok {
					t.Errorf("NextHop(%s, %s) = %s; want none, a site does not pull its own records", s, o, got)
				}
				continue
			}
			key := s + "<-" + o
			w, listed := want[key]
			if !listed {
				w = o // unlisted pairs are one hop
			}
			if !ok || got != w {
				t.Errorf("NextHop(%s, %s) = %q, %v; want %q", s, o, got, ok, w)
			}
		}
	}
}

func TestNextHopFullMesh(t *testing.T) {
	topo := mustNew(t, "north,east,west,south")
	hops(t, topo, nil) // every site pulls straight from the origin
	if got := len(topo.Links()); got != 6 {
		t.Errorf("full mesh of 4 sites has %d links; want 6", got)
	}
}

func TestNextHopHubAndSpoke(t *testing.T) {
	topo := mustNew(t, "hub,x,y,z", "hub-x", "hub-y", "hub-z")
	hops(t, topo, map[string]string{
		"x<-y": "hub", "x<-z": "hub",
		"y<-x": "hub", "y<-z": "hub",
		"z<-x": "hub", "z<-y": "hub",
	})
}

func TestNextHopChain(t *testing.T) {
	topo := mustNew(t, "a,b,c,d", "a-b", "b-c", "c-d")
	hops(t, topo, map[string]string{
		"c<-a": "b", "d<-a": "c", "d<-b": "c",
		"a<-c": "b", "a<-d": "b", "b<-d": "c",
	})
}

func TestNextHopRingTies(t *testing.T) {
	// a-b-c-d-a: the site opposite an origin has two shortest routes and
	// pulls from the lexically smaller neighbour.
	topo := mustNew(t, "a,b,c,d", "a-b", "b-c", "c-d", "d-a")
	hops(t, topo, map[string]string{
		"c<-a": "b", // b or d: b
		"d<-b": "a", // a or c: a
		"a<-c": "b", // b or d: b
		"b<-d": "a", // a or c: a
	})
	// The tie-break does not depend on the order sites and links are listed.
	other := mustNew(t, "d,c,b,a", "a-d", "d-c", "c-b", "b-a")
	for _, s := range topo.Sites() {
		for _, o := range topo.Sites() {
			h1, _ := topo.NextHop(s, o)
			h2, _ := other.NextHop(s, o)
			if h1 != h2 {
				t.Errorf("NextHop(%s, %s) = %s, or %s with the lists reordered", s, o, h1, h2)
			}
		}
	}
}

func TestRoute(t *testing.T) {
	ring := mustNew(t, "a,b,c,d,e,f", "a-b", "b-c", "c-d", "d-e", "e-f", "f-a")
	tests := []struct {
		from, to string
		want     string
	}{
		{"a", "a", "a"},
		{"a", "b", "a,b"},
		// Each tie goes to the lexically smaller neighbour of the site
		// being reached: d comes from c (not e), a from b (not f), e from
		// d (not f).
		{"a", "d", "a,b,c,d"},
		{"d", "a", "d,c,b,a"},
		{"b", "e", "b,c,d,e"},
	}
	for _, tt := range tests {
		got, ok := ring.Route(tt.from, tt.to)
		if !ok || strings.Join(got, ",") != tt.want {
			t.Errorf("Route(%s, %s) = %v, %v; want %s", tt.from, tt.to, got, ok, tt.want)
		}
	}
	if got, ok := ring.Route("a", "zz"); ok {
		t.Errorf("Route to an unknown site = %v; want false", got)
	}
	if got, ok := ring.NextHop("zz", "a"); ok {
		t.Errorf("NextHop of an unknown site = %v; want false", got)
	}
}

func TestAccept(t *testing.T) {
	// c pulls a's records through b.
	chain := mustNew(t, "a,b,c", "a-b", "b-c")
	tests := []struct {
		site, from, origin string
		path               []string
		want               bool
	}{
		{"b", "a", "a", []string{"a"}, true},
		{"b", "a", "", nil, true},                 // no origin: produced at a
		{"c", "b", "a", []string{"a", "b"}, true}, // transit copy
		{"c", "b", "", nil, true},                 // produced at b
		{"c", "b", "b", []string{"b"}, true},
		{"b", "c", "a", []string{"a", "b", "c"}, false}, // not b's next hop toward a
		{"a", "b", "a", []string{"a", "b"}, false},      // back to its origin
		{"b", "a", "b", []string{"b", "a"}, false},      // origin is b itself
		{"c", "a", "a", []string{"a"}, false},           // not a neighbour
		{"b", "a", "x", []string{"x", "a"}, false},      // unknown origin
		{"x", "a", "a", []string{"a"}, false},           // unknown site
		// b's next hop toward a is a, but b is on the path: another site
		// routed the record through b with a different configuration.
		{"b", "a", "a", []string{"a", "b", "c", "a"}, false},
	}
	for _, tt := range tests {
		if got := chain.Accept(tt.site, tt.from, tt.origin, tt.path); got != tt.want {
			t.Errorf("Accept(site %s, from %s, origin %q, path %v) = %v; want %v",
				tt.site, tt.from, tt.origin, tt.path, got, tt.want)
		}
	}
}

func TestSitesAndLinksRoundTrip(t *testing.T) {
	topo := mustNew(t, "west,east,north", "west-east", "north<->east")
	if got := topo.Sites(); !slices.Equal(got, []string{"east", "north", "west"}) {
		t.Errorf("Sites() = %v; want sorted names", got)
	}
	links := topo.Links()
	if want := [][2]string{{"east", "north"}, {"east", "west"}}; !slices.Equal(links, want) {
		t.Errorf("Links() = %v; want %v", links, want)
	}
	if got := topo.Neighbors("east"); !slices.Equal(got, []string{"north", "west"}) {
		t.Errorf("Neighbors(east) = %v; want [north west]", got)
	}
	if got := topo.Neighbors("west"); !slices.Equal(got, []string{"east"}) {
		t.Errorf("Neighbors(west) = %v; want [east]", got)
	}
	if got := topo.Neighbors("south"); got != nil {
		t.Errorf("Neighbors(south) = %v; want none for an unknown site", got)
	}
	again, err := New(topo.Sites(), links)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := again.Route("west", "north"); strings.Join(r, ",") != "west,east,north" {
		t.Errorf("rebuilt from Links: Route(west, north) = %v", r)
	}
}
