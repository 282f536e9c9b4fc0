package topology

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// The property tests draw random meshes, interest and records from fixed
// seeds, each seed a subtest: a failure names it, and
// go test -run 'TestPropertyReplication/seed=17$' replays it.
const seeds = 500

func forSeeds(t *testing.T, f func(t *testing.T, r *rand.Rand)) {
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			f(t, rand.New(rand.NewPCG(seed, 0x6d657368)))
		})
	}
}

// siteNames are drawn in random order, so that lexical order (the
// tie-break) and the order sites are listed in differ.
var siteNames = [...]string{"east", "west", "north", "south", "eu-1", "us-east", "ap_2", "hub"}

// mesh is a random connected mesh of 2 to 8 sites, with the test's own
// record of which sites are linked.
type mesh struct {
	sites  []string
	links  [][2]string // nil: full mesh
	linked map[[2]string]bool
}

func randomMesh(r *rand.Rand) mesh {
	n := 2 + r.IntN(len(siteNames)-1)
	m := mesh{linked: map[[2]string]bool{}}
	for _, i := range r.Perm(len(siteNames))[:n] {
		m.sites = append(m.sites, siteNames[i])
	}
	link := func(a, b string) {
		m.links = append(m.links, [2]string{a, b})
		m.linked[[2]string{a, b}], m.linked[[2]string{b, a}] = true, true
	}
	if r.IntN(4) == 0 {
		for i, a := range m.sites {
			for _, b := range m.sites[:i] {
				link(a, b)
			}
		}
		m.links = nil
		return m
	}
	// A random spanning tree keeps the mesh connected; extra links on top
	// make rings and ties.
	for i := 1; i < n; i++ {
		link(m.sites[i], m.sites[r.IntN(i)])
	}
	extra := r.Float64() * 0.6
	for i, a := range m.sites {
		for _, b := range m.sites[:i] {
			if !m.linked[[2]string{a, b}] && r.Float64() < extra {
				link(b, a)
			}
		}
	}
	r.Shuffle(len(m.links), func(i, j int) { m.links[i], m.links[j] = m.links[j], m.links[i] })
	return m
}

func (m mesh) full() bool { return m.links == nil }

// reordered returns the same mesh with sites and links listed in another
// order and links written the other way round.
func (m mesh) reordered(r *rand.Rand) ([]string, [][2]string) {
	sites := slices.Clone(m.sites)
	r.Shuffle(len(sites), func(i, j int) { sites[i], sites[j] = sites[j], sites[i] })
	links := slices.Clone(m.links)
	r.Shuffle(len(links), func(i, j int) { links[i], links[j] = links[j], links[i] })
	for i := range links {
		if r.IntN(2) == 0 {
			links[i][0], links[i][1] = links[i][1], links[i][0]
		}
	}
	return sites, links
}

// distances is the test's own breadth-first search: hops from o to each site.
func (m mesh) distances(o string) map[string]int {
	dist := map[string]int{o: 0}
	for queue := []string{o}; len(queue) > 0; queue = queue[1:] {
		for _, s := range m.sites {
			if _, seen := dist[s]; !seen && m.linked[[2]string{queue[0], s}] {
				dist[s] = dist[queue[0]] + 1
				queue = append(queue, s)
			}
		}
	}
	return dist
}

func TestPropertyRoutes(t *testing.T) {
	forSeeds(t, func(t *testing.T, r *rand.Rand) {
		m := randomMesh(r)
		topo, err := New(m.sites, m.links)
		if err != nil {
			t.Fatalf("New(%v, %v): %v", m.sites, m.links, err)
		}
		sites, links := m.reordered(r)
		same, err := New(sites, links)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m.sites {
			var want []string
			for _, nb := range m.sites {
				if m.linked[[2]string{s, nb}] {
					want = append(want, nb)
				}
			}
			if slices.Sort(want); !slices.Equal(topo.Neighbors(s), want) {
				t.Fatalf("Neighbors(%s) = %v; want %v", s, topo.Neighbors(s), want)
			}
		}
		for _, o := range m.sites {
			dist := m.distances(o)
			for _, s := range m.sites {
				if s == o {
					continue
				}
				hop, ok := topo.NextHop(s, o)
				if !ok || !m.linked[[2]string{s, hop}] || dist[hop] != dist[s]-1 {
					t.Fatalf("NextHop(%s, %s) = %q, %v: not a neighbour one hop closer (links %v)", s, o, hop, ok, m.links)
				}
				for _, nb := range m.sites {
					if m.linked[[2]string{s, nb}] && dist[nb] == dist[s]-1 && nb < hop {
						t.Fatalf("NextHop(%s, %s) = %s, but %s is closer too and sorts first", s, o, hop, nb)
					}
				}
				if other, _ := same.NextHop(s, o); other != hop {
					t.Fatalf("NextHop(%s, %s) = %s, but %s with sites and links reordered", s, o, hop, other)
				}
				route, ok := topo.Route(o, s)
				if !ok || len(route) != dist[s]+1 || route[0] != o || route[len(route)-1] != s || route[len(route)-2] != hop {
					t.Fatalf("Route(%s, %s) = %v; want a shortest route ending via %s", o, s, route, hop)
				}
				for i := 1; i < len(route); i++ {
					if !m.linked[[2]string{route[i-1], route[i]}] {
						t.Fatalf("Route(%s, %s) = %v crosses %s-%s, which is not a link", o, s, route, route[i-1], route[i])
					}
				}
			}
		}
	})
}

// record is a Kafka record as the replication simulation sees it: an
// identity, a topic and the mesh headers.
type record struct {
	id     int
	topic  string
	origin string   // mesh_origin; "" when absent
	path   []string // mesh_path
}

// world is every site's clusters: site -> topic -> log.
type world map[string]map[string][]record

// produce places n records of random topics at random sites, some without
// mesh headers, and returns the site each was produced at.
func (w world) produce(r *rand.Rand, m mesh, topics []string, n int) map[int]string {
	at := map[int]string{}
	for id := range n {
		site := m.sites[r.IntN(len(m.sites))]
		rec := record{id: id, topic: topics[r.IntN(len(topics))]}
		switch r.IntN(3) {
		case 1:
			rec.origin = site
		case 2:
			rec.origin, rec.path = site, []string{site}
		}
		w.append(site, rec)
		at[id] = site
	}
	return at
}

func (w world) append(site string, rec record) {
	if w[site] == nil {
		w[site] = map[string][]record{}
	}
	w[site][rec.topic] = append(w[site][rec.topic], rec)
}

// copies counts the records with id at site.
func (w world) copies(site string, id int) (n int, last record) {
	for _, log := range w[site] {
		for _, rec := range log {
			if rec.id == id {
				n, last = n+1, rec
			}
		}
	}
	return n, last
}

// replicator is what one site's replicator does in the simulation.
type replicator struct {
	pulls  func(round int) []Pull
	accept func(round int, from, origin string, path []string) bool
	// strict: every record a pull selects must be accepted, because the
	// pulls come from Plan and Plan and Accept must agree.
	strict bool
}

// replicate runs every site's replicator in rounds until a round copies
// nothing, reading only from linked sites, and returns how many records
// were refused only because the copying site was on their path. It fails
// when a copy would enter a site on its path or after maxRounds.
func replicate(t *testing.T, m mesh, w world, reps map[string]replicator, maxRounds int) (pathRefusals int) {
	t.Helper()
	// A stream is read from its start the first time it is pulled.
	type stream struct{ site, topic, from, origins string }
	offset := map[stream]int{}
	for round := 0; ; round++ {
		if round == maxRounds {
			t.Fatalf("replication still copying after %d rounds", maxRounds)
		}
		copied := 0
		for _, site := range m.sites {
			rep := reps[site]
			for _, p := range rep.pulls(round) {
				if !m.linked[[2]string{site, p.From}] {
					t.Fatalf("%s reads %s from %s, which it has no link to", site, p.Topic, p.From)
				}
				key := stream{site, p.Topic, p.From, fmt.Sprint(p.Origins)}
				log := w[p.From][p.Topic]
				for _, rec := range log[offset[key]:] {
					origin := rec.origin
					if origin == "" {
						origin = p.From
					}
					if !slices.Contains(p.Origins, origin) {
						continue
					}
					if !rep.accept(round, p.From, rec.origin, rec.path) {
						if rep.strict {
							t.Fatalf("%s pulls %s from %s for origin %s as planned, but Accept refuses record %d (path %v)",
								site, p.Topic, p.From, origin, rec.id, rec.path)
						}
						if slices.Contains(rec.path, site) {
							pathRefusals++
						}
						continue
					}
					if slices.Contains(rec.path, site) || origin == site {
						t.Fatalf("record %d enters %s again: origin %s, path %v", rec.id, site, origin, rec.path)
					}
					// The stamp a replicator puts on a copy (package doc).
					path := rec.path
					if len(path) == 0 {
						path = []string{origin}
					}
					w.append(site, record{id: rec.id, topic: rec.topic, origin: origin,
						path: append(slices.Clone(path), site)})
					copied++
				}
				offset[key] = len(log)
			}
		}
		if copied == 0 {
			return pathRefusals
		}
	}
}

// randomInterest makes 1 to 4 topics, each wanted by a random subset of
// sites (possibly none, possibly with repeats).
func randomInterest(r *rand.Rand, m mesh) (map[string][]string, []string) {
	interest := map[string][]string{}
	var topics []string
	p := r.Float64()
	for i := range 1 + r.IntN(4) {
		topic := fmt.Sprintf("shop.t%d", i)
		topics = append(topics, topic)
		var sites []string
		for _, s := range m.sites {
			if r.Float64() < p {
				sites = append(sites, s)
			}
		}
		if len(sites) > 0 && r.IntN(5) == 0 {
			sites = append(sites, sites[0])
		}
		interest[topic] = sites
	}
	return interest, topics
}

func TestPropertyReplication(t *testing.T) {
	forSeeds(t, func(t *testing.T, r *rand.Rand) {
		m := randomMesh(r)
		topo, err := New(m.sites, m.links)
		if err != nil {
			t.Fatal(err)
		}
		interest, topics := randomInterest(r, m)
		w := world{}
		producedAt := w.produce(r, m, topics, 1+r.IntN(12))

		// Plans are the same whatever order the configuration lists things in.
		sites, links := m.reordered(r)
		same, err := New(sites, links)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := map[string][]string{}
		for topic, s := range interest {
			s = slices.Clone(s)
			r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
			shuffled[topic] = s
		}
		reps := map[string]replicator{}
		for _, site := range m.sites {
			plan := topo.Plan(site, interest)
			if other := same.Plan(site, shuffled); !reflect.DeepEqual(plan, other) {
				t.Fatalf("Plan(%s) = %+v, but %+v with the configuration reordered", site, plan, other)
			}
			for _, p := range plan {
				if want := served(topo, site, p.Origins, interest[p.Topic]); !slices.Equal(p.For, want) {
					t.Fatalf("Plan(%s): pull %s from %s is for %v; want the interested sites whose chains cross %s: %v",
						site, p.Topic, p.From, p.For, site, want)
				}
			}
			reps[site] = replicator{
				pulls:  func(int) []Pull { return plan },
				accept: func(_ int, from, origin string, path []string) bool { return topo.Accept(site, from, origin, path) },
				strict: true,
			}
		}
		replicate(t, m, w, reps, len(m.sites)+1)

		for id, origin := range producedAt {
			_, rec := w.copies(origin, id)
			wanted := interest[rec.topic]
			holders := topo.Holders(origin, wanted)
			for _, s := range m.sites {
				n, got := w.copies(s, id)
				switch {
				case n > 1:
					t.Fatalf("record %d (%s from %s) is %d times at %s", id, rec.topic, origin, n, s)
				case s == origin:
					continue
				case n == 0 && slices.Contains(wanted, s):
					t.Fatalf("record %d (%s from %s) never reaches %s, which wants it (interest %v, links %v)",
						id, rec.topic, origin, s, interest, m.links)
				case n == 0:
					if slices.Contains(holders, s) {
						t.Fatalf("Holders(%s, %v) includes %s, which never gets record %d", origin, wanted, s, id)
					}
					continue
				}
				if !slices.Contains(wanted, s) && !transit(topo, s, origin, wanted) {
					t.Fatalf("record %d (%s from %s) reaches %s, which neither wants it nor is on a pull chain of %v",
						id, rec.topic, origin, s, wanted)
				}
				if m.full() && !slices.Contains(wanted, s) {
					t.Fatalf("full mesh: record %d (%s from %s) reaches %s, which does not want it", id, rec.topic, origin, s)
				}
				if !slices.Contains(holders, s) {
					t.Fatalf("record %d reaches %s, which is not in Holders(%s, %v) = %v", id, s, origin, wanted, holders)
				}
				if route, _ := topo.Route(origin, s); got.origin != origin || !slices.Equal(got.path, route) {
					t.Fatalf("record %d arrives at %s with origin %s, path %v; want %s, %v", id, s, got.origin, got.path, origin, route)
				}
			}
		}
	})
}

// served returns the interested sites, sorted and distinct, that have site
// on their pull chain toward one of the origins.
func served(topo *Topology, site string, origins, interested []string) []string {
	var out []string
	for _, o := range origins {
		for _, d := range interested {
			if d != o && transit(topo, site, o, []string{d}) {
				out = append(out, d)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// transit reports whether s is on the pull chain toward origin of one of
// the interested sites, walking NextHop.
func transit(topo *Topology, s, origin string, interested []string) bool {
	for _, d := range interested {
		for hop := d; hop != origin; hop, _ = topo.NextHop(hop, origin) {
			if hop == s {
				return true
			}
		}
	}
	return false
}

// flood is a replicator that reads every topic from every neighbour and
// relies on Accept alone.
func flood(m mesh, site string, topics []string, accept func(round int, from, origin string, path []string) bool) replicator {
	var pulls []Pull
	for _, topic := range topics {
		for _, from := range m.sites {
			if m.linked[[2]string{site, from}] {
				pulls = append(pulls, Pull{Topic: topic, From: from, Origins: m.sites})
			}
		}
	}
	return replicator{pulls: func(int) []Pull { return pulls }, accept: accept}
}

func TestPropertyAcceptAlone(t *testing.T) {
	// Without Plan, Accept alone still delivers every record everywhere
	// exactly once, along its route.
	forSeeds(t, func(t *testing.T, r *rand.Rand) {
		m := randomMesh(r)
		topo, err := New(m.sites, m.links)
		if err != nil {
			t.Fatal(err)
		}
		topics := []string{"a", "b"}
		w := world{}
		producedAt := w.produce(r, m, topics, 1+r.IntN(8))
		reps := map[string]replicator{}
		for _, site := range m.sites {
			reps[site] = flood(m, site, topics, func(_ int, from, origin string, path []string) bool {
				return topo.Accept(site, from, origin, path)
			})
		}
		replicate(t, m, w, reps, len(m.sites)+1)
		for id, origin := range producedAt {
			for _, s := range m.sites {
				n, got := w.copies(s, id)
				route, _ := topo.Route(origin, s)
				if n != 1 || (s != origin && !slices.Equal(got.path, route)) {
					t.Fatalf("record %d from %s is %d times at %s, last with path %v; want once, path %v", id, origin, n, s, got.path, route)
				}
			}
		}
	})
}

func TestPropertyRollout(t *testing.T) {
	// During a change of links each site switches from the old topology to
	// the new one at its own time, and starts reading its new next hops
	// from the beginning. Sites then disagree on routes; the path check in
	// Accept must keep records out of the sites they crossed, so
	// replication still comes to rest.
	refused := 0
	forSeeds(t, func(t *testing.T, r *rand.Rand) {
		m := randomMesh(r)
		if m.full() || len(m.sites) < 3 {
			return
		}
		var spare [][2]string // links not in the spanning tree: drop one
		for i, l := range m.links {
			if rest := slices.Delete(slices.Clone(m.links), i, i+1); connected(m, rest) {
				spare = append(spare, l)
			}
		}
		if len(spare) == 0 {
			return
		}
		drop := spare[r.IntN(len(spare))]
		var fewer [][2]string
		for _, l := range m.links {
			if l != drop {
				fewer = append(fewer, l)
			}
		}
		before, err := New(m.sites, m.links)
		if err != nil {
			t.Fatal(err)
		}
		after, err := New(m.sites, fewer)
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(2) == 0 { // a link added rather than removed
			before, after = after, before
		}
		w := world{}
		w.produce(r, m, []string{"a"}, 1+r.IntN(8))
		reps := map[string]replicator{}
		const switchBy = 4
		for _, site := range m.sites {
			at := r.IntN(switchBy)
			current := func(round int) *Topology {
				if round < at {
					return before
				}
				return after
			}
			reps[site] = replicator{
				// Every origin from its next hop in the site's current
				// topology, so a switch starts new streams from the start.
				pulls: func(round int) []Pull {
					var pulls []Pull
					for _, o := range m.sites {
						if hop, ok := current(round).NextHop(site, o); ok {
							pulls = append(pulls, Pull{Topic: "a", From: hop, Origins: []string{o}})
						}
					}
					return pulls
				},
				accept: func(round int, from, origin string, path []string) bool {
					return current(round).Accept(site, from, origin, path)
				},
			}
		}
		refused += replicate(t, m, w, reps, switchBy+len(m.sites)+1)
	})
	if refused == 0 {
		t.Error("no rollout ever offered a site a record that had crossed it; the test does not exercise the path check")
	}
	t.Logf("%d copies refused because the site was on the path", refused)
}

// connected reports whether links join all of m's sites.
func connected(m mesh, links [][2]string) bool {
	_, err := New(m.sites, links)
	return len(links) > 0 && err == nil
}
