package topology

import (
	"maps"
	"slices"
)

// Pull is one stream a site's replicator reads: Topic from the neighbour
// From, keeping the records whose origin is in Origins (a record without
// mesh_origin has origin From) and passing each to Accept before copying.
type Pull struct {
	Topic   string
	From    string
	Origins []string // sorted
	// For lists the interested sites this pull serves, sorted. When the
	// pulling site is not among them it carries Topic in transit only.
	For []string
}

// Plan returns what site's replicator pulls, given interest: topic -> the
// sites interested in it, for the whole mesh. For each topic and origin O
// other than site, site pulls O's records from NextHop(site, O) when an
// interested site other than O has site on its pull chain toward O (see the
// package documentation). Pulls are sorted by Topic, then From.
//
// Interest is runtime data (leases the sites publish), not configuration:
// names the topology does not know, such as a site since removed from it,
// and empty topic names are ignored rather than failing the whole plan, as
// no route leads to such a site anyway. A site unknown to the topology
// pulls nothing.
func (t *Topology) Plan(site string, interest map[string][]string) []Pull {
	s, ok := t.index[site]
	if !ok {
		return nil
	}
	var plan []Pull
	for _, topic := range slices.Sorted(maps.Keys(interest)) {
		wanted := t.ids(interest[topic])
		if topic == "" || len(wanted) == 0 {
			continue
		}
		byFrom := map[int]*Pull{}
		for o := range t.sites {
			if o == s {
				continue
			}
			var served []string
			for _, d := range wanted {
				if d != o && t.onChain(s, d, o) {
					served = append(served, t.sites[d])
				}
			}
			if len(served) == 0 {
				continue
			}
			from := t.parent[o][s]
			p := byFrom[from]
			if p == nil {
				p = &Pull{Topic: topic, From: t.sites[from]}
				byFrom[from] = p
			}
			p.Origins = append(p.Origins, t.sites[o]) // o ascends: sorted
			p.For = append(p.For, served...)
		}
		for _, from := range slices.Sorted(maps.Keys(byFrom)) {
			p := byFrom[from]
			slices.Sort(p.For)
			p.For = slices.Compact(p.For)
			plan = append(plan, *p)
		}
	}
	return plan
}

// Holders returns the sites that hold origin's records of a topic the
// interested sites want, origin excluded, in lexical order: the interested
// sites other than origin and the sites their records cross in transit.
// Names the topology does not know are ignored, as in Plan.
func (t *Topology) Holders(origin string, interested []string) []string {
	o, ok := t.index[origin]
	if !ok {
		return nil
	}
	hold := make([]bool, len(t.sites))
	for _, d := range t.ids(interested) {
		for s := d; s != o; s = t.parent[o][s] {
			hold[s] = true
		}
	}
	var holders []string
	for s, h := range hold {
		if h {
			holders = append(holders, t.sites[s])
		}
	}
	return holders
}

// onChain reports whether s is on d's pull chain toward o: d, its next hop
// toward o, and so on, o excluded.
func (t *Topology) onChain(s, d, o int) bool {
	for ; d != o; d = t.parent[o][d] {
		if d == s {
			return true
		}
	}
	return false
}

// ids maps the known site names to sorted, distinct indices.
func (t *Topology) ids(sites []string) []int {
	var ids []int
	for _, name := range sites {
		if i, ok := t.index[name]; ok {
			ids = append(ids, i)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
