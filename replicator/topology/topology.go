package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/meshwork/meshwork/internal/envelope"
)

// Topology is a validated, connected mesh of sites with one pull tree per
// origin. It is immutable and safe for concurrent use.
type Topology struct {
	sites []string       // sorted, so that index order is name order
	index map[string]int // site name -> position in sites
	adj   [][]int        // neighbours of each site, ascending (lexical order)
	// parent[o][s] is the neighbour s pulls o's records from, -1 for s == o.
	parent [][]int
}

// ParseLink parses a link written "east<->west" or "east-west" (spaces
// around the names are ignored). Site names may contain '-', so the short
// form is accepted only with a single '-'; "us-east<->us-west" needs the
// long one.
func ParseLink(s string) ([2]string, error) {
	var a, b string
	if l, r, ok := strings.Cut(s, "<->"); ok {
		a, b = l, r
	} else {
		switch strings.Count(s, "-") {
		case 1:
			a, b, _ = strings.Cut(s, "-")
		case 0:
			return [2]string{}, fmt.Errorf("topology: link %q: want two site names joined by <-> or -, e.g. east<->west", s)
		default:
			return [2]string{}, fmt.Errorf("topology: link %q is ambiguous because site names may contain '-'; write it as site<->site", s)
		}
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	for _, name := range []string{a, b} {
		if err := envelope.ValidSite(name); err != nil {
			return [2]string{}, fmt.Errorf("topology: link %q: %v; want two site names joined by <->, e.g. east<->west", s, err)
		}
	}
	return [2]string{a, b}, nil
}

// New builds the topology of sites joined by links. Links are two-way; no
// links at all means a full mesh (every pair of sites linked). All problems
// found are reported together, each saying what to change.
func New(sites []string, links [][2]string) (*Topology, error) {
	if len(sites) == 0 {
		return nil, errors.New("topology: no sites; list at least one site")
	}
	var errs []error
	known := make(map[string]bool, len(sites))
	invalid := map[string]bool{} // reported once, not again in links
	for i, s := range sites {
		switch err := envelope.ValidSite(s); {
		case s == "":
			errs = append(errs, fmt.Errorf("topology: site %d in the list is empty; name it or remove it", i+1))
		case err != nil:
			invalid[s] = true
			errs = append(errs, fmt.Errorf("topology: site %q: %v; rename it", s, err))
		case known[s]:
			errs = append(errs, fmt.Errorf("topology: site %q is listed twice; remove one", s))
		default:
			known[s] = true
		}
	}
	t := &Topology{index: make(map[string]int, len(known))}
	for s := range known {
		t.sites = append(t.sites, s)
	}
	slices.Sort(t.sites)
	for i, s := range t.sites {
		t.index[s] = i
	}

	n := len(t.sites)
	linked := make([][]bool, n)
	for i := range linked {
		linked[i] = make([]bool, n)
	}
	if len(links) == 0 {
		for i := range n {
			for j := range n {
				linked[i][j] = i != j
			}
		}
	}
	for _, l := range links {
		name := l[0] + "<->" + l[1]
		a, okA := t.index[l[0]]
		b, okB := t.index[l[1]]
		switch {
		case !okA || !okB:
			for i, end := range l {
				if _, ok := t.index[end]; !ok && !invalid[end] && (i == 0 || end != l[0]) {
					errs = append(errs, fmt.Errorf("topology: link %s names unknown site %q; add it to the sites or fix the link", name, end))
				}
			}
		case a == b:
			errs = append(errs, fmt.Errorf("topology: link %s joins site %q to itself; remove it", name, l[0]))
		case linked[a][b]:
			errs = append(errs, fmt.Errorf("topology: link %s is listed twice (links are two-way: a<->b and b<->a are the same); remove one", name))
		default:
			linked[a][b], linked[b][a] = true, true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	t.adj = make([][]int, n)
	for i := range n {
		for j := range n {
			if linked[i][j] {
				t.adj[i] = append(t.adj[i], j)
			}
		}
	}
	t.parent = make([][]int, n)
	for o := range n {
		dist := t.distances(o)
		if o == 0 {
			var cut []string
			for s, d := range dist {
				if d < 0 {
					cut = append(cut, t.sites[s])
				}
			}
			if len(cut) > 0 {
				return nil, fmt.Errorf("topology: the mesh is split: %s cannot reach %s, not even through other sites; add a link between the two groups",
					strings.Join(cut, ", "), t.sites[0])
			}
		}
		t.parent[o] = make([]int, n)
		for s := range n {
			t.parent[o][s] = -1
			if s == o {
				continue
			}
			// adj is ascending, so the first closer neighbour is the
			// lexically smallest: the tie-break every site agrees on.
			for _, nb := range t.adj[s] {
				if dist[nb] == dist[s]-1 {
					t.parent[o][s] = nb
					break
				}
			}
		}
	}
	return t, nil
}

// distances returns the hop count from o to every site by breadth-first
// search, -1 for the sites it cannot reach.
func (t *Topology) distances(o int) []int {
	dist := make([]int, len(t.sites))
	for i := range dist {
		dist[i] = -1
	}
	dist[o] = 0
	queue := []int{o}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, nb := range t.adj[s] {
			if dist[nb] < 0 {
				dist[nb] = dist[s] + 1
				queue = append(queue, nb)
			}
		}
	}
	return dist
}

// Sites returns the site names in lexical order.
func (t *Topology) Sites() []string { return slices.Clone(t.sites) }

// Has reports whether site is one of the mesh's sites.
func (t *Topology) Has(site string) bool {
	_, ok := t.index[site]
	return ok
}

// Links returns every link once, each as [a, b] with a < b, in lexical
// order; for a full mesh that is every pair.
func (t *Topology) Links() [][2]string {
	var links [][2]string
	for a, nbs := range t.adj {
		for _, b := range nbs {
			if a < b {
				links = append(links, [2]string{t.sites[a], t.sites[b]})
			}
		}
	}
	return links
}

// Neighbors returns the sites linked to site, the only ones its replicator
// can read from, in lexical order; nil for an unknown site.
func (t *Topology) Neighbors(site string) []string {
	s, ok := t.index[site]
	if !ok {
		return nil
	}
	var nbs []string
	for _, nb := range t.adj[s] {
		nbs = append(nbs, t.sites[nb])
	}
	return nbs
}

// NextHop returns the neighbour site pulls origin's records from: its parent
// in origin's tree. It reports false when either site is unknown or when
// site is the origin, which pulls its own records from nowhere.
func (t *Topology) NextHop(site, origin string) (string, bool) {
	s, okS := t.index[site]
	o, okO := t.index[origin]
	if !okS || !okO || s == o {
		return "", false
	}
	return t.sites[t.parent[o][s]], true
}

// Route returns the sites a record produced at origin crosses to reach to,
// both included: the mesh_path it carries when it arrives there. It reports
// false when either site is unknown.
func (t *Topology) Route(origin, to string) ([]string, bool) {
	o, okO := t.index[origin]
	s, okS := t.index[to]
	if !okO || !okS {
		return nil, false
	}
	var route []string
	for ; s != o; s = t.parent[o][s] {
		route = append(route, t.sites[s])
	}
	route = append(route, t.sites[o])
	slices.Reverse(route)
	return route, true
}

// Accept reports whether the replicator of site, reading from neighbour
// from, copies a record with this mesh_origin and mesh_path: from must be
// site's next hop toward the origin, and site must be neither the origin nor
// on the path already. An empty origin means the record was produced at
// from. Records of origins the topology does not know are refused.
func (t *Topology) Accept(site, from, origin string, path []string) bool {
	if origin == "" {
		origin = from
	}
	hop, ok := t.NextHop(site, origin)
	return ok && hop == from && !slices.Contains(path, site)
}
