package topology

import (
	"reflect"
	"testing"
)

func checkPlan(t *testing.T, topo *Topology, interest map[string][]string, want map[string][]Pull) {
	t.Helper()
	for _, s := range topo.Sites() {
		if got := topo.Plan(s, interest); !reflect.DeepEqual(got, want[s]) {
			t.Errorf("Plan(%s) =\n  %+v\nwant\n  %+v", s, got, want[s])
		}
	}
}

func TestPlanChainTransit(t *testing.T) {
	// Only c wants t; c can read only b, so b carries a's records for c.
	topo := mustNew(t, "a,b,c", "a-b", "b-c")
	checkPlan(t, topo, map[string][]string{"t": {"c"}}, map[string][]Pull{
		"b": {{Topic: "t", From: "a", Origins: []string{"a"}, For: []string{"c"}}},
		"c": {{Topic: "t", From: "b", Origins: []string{"a", "b"}, For: []string{"c"}}},
	})
	if holders := topo.Holders("a", []string{"c"}); !reflect.DeepEqual(holders, []string{"b", "c"}) {
		t.Errorf("Holders(a, [c]) = %v; want [b c]", holders)
	}
}

func TestPlanFullMesh(t *testing.T) {
	// One hop everywhere: each interested site pulls from each origin, and
	// nobody else carries anything.
	topo := mustNew(t, "east,north,west")
	interest := map[string][]string{
		"orders":   {"west", "east"},
		"payments": {"north"},
		"unwanted": nil,
	}
	checkPlan(t, topo, interest, map[string][]Pull{
		"east": {
			{Topic: "orders", From: "north", Origins: []string{"north"}, For: []string{"east"}},
			{Topic: "orders", From: "west", Origins: []string{"west"}, For: []string{"east"}},
		},
		"north": {
			{Topic: "payments", From: "east", Origins: []string{"east"}, For: []string{"north"}},
			{Topic: "payments", From: "west", Origins: []string{"west"}, For: []string{"north"}},
		},
		"west": {
			{Topic: "orders", From: "east", Origins: []string{"east"}, For: []string{"west"}},
			{Topic: "orders", From: "north", Origins: []string{"north"}, For: []string{"west"}},
		},
	})
}

func TestPlanHubAndSpoke(t *testing.T) {
	topo := mustNew(t, "hub,x,y,z", "hub-x", "hub-y", "hub-z")
	// The hub is not interested but carries t between the spokes.
	checkPlan(t, topo, map[string][]string{"t": {"y", "z", "y"}}, map[string][]Pull{
		"hub": {
			{Topic: "t", From: "x", Origins: []string{"x"}, For: []string{"y", "z"}},
			{Topic: "t", From: "y", Origins: []string{"y"}, For: []string{"z"}},
			{Topic: "t", From: "z", Origins: []string{"z"}, For: []string{"y"}},
		},
		"y": {{Topic: "t", From: "hub", Origins: []string{"hub", "x", "z"}, For: []string{"y"}}},
		"z": {{Topic: "t", From: "hub", Origins: []string{"hub", "x", "y"}, For: []string{"z"}}},
	})
}

func TestPlanInterestedAndTransit(t *testing.T) {
	// a-b-c-d; b and d want t. a carries nothing, c carries in transit
	// only, b for itself and for d.
	topo := mustNew(t, "a,b,c,d", "a-b", "b-c", "c-d")
	checkPlan(t, topo, map[string][]string{"t": {"b", "d"}}, map[string][]Pull{
		"b": {
			{Topic: "t", From: "a", Origins: []string{"a"}, For: []string{"b", "d"}},
			{Topic: "t", From: "c", Origins: []string{"c", "d"}, For: []string{"b"}},
		},
		"c": {
			{Topic: "t", From: "b", Origins: []string{"a", "b"}, For: []string{"d"}},
			{Topic: "t", From: "d", Origins: []string{"d"}, For: []string{"b"}},
		},
		"d": {{Topic: "t", From: "c", Origins: []string{"a", "b", "c"}, For: []string{"d"}}},
	})
}

func TestPlanIgnoresUnknownNames(t *testing.T) {
	// A lease from a site no longer in the topology must not stop the
	// others' replication; the unknown site and the empty topic are skipped.
	topo := mustNew(t, "east,west")
	interest := map[string][]string{"t": {"west", "north"}, "": {"west"}, "gone": {"north"}}
	want := []Pull{{Topic: "t", From: "east", Origins: []string{"east"}, For: []string{"west"}}}
	if got := topo.Plan("west", interest); !reflect.DeepEqual(got, want) {
		t.Errorf("Plan(west) = %+v; want %+v", got, want)
	}
	if got := topo.Plan("north", interest); got != nil {
		t.Errorf("Plan of an unknown site = %+v; want nothing", got)
	}
	if got := topo.Holders("north", []string{"east"}); got != nil {
		t.Errorf("Holders of an unknown origin = %v; want none", got)
	}
	if got := topo.Holders("east", []string{"south", "west"}); !reflect.DeepEqual(got, []string{"west"}) {
		t.Errorf("Holders(east, [south west]) = %v; want [west]", got)
	}
}
