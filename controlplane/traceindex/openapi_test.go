package traceindex

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// The fragment is valid JSON and documents exactly the handler's paths.
func TestOpenAPIFragmentMatchesTheHandler(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(doc.Paths)); !slices.Equal(got, []string{"/v1/events/{id}/trace", "/v1/traces"}) {
		t.Fatalf("paths %v", got)
	}
	for p, ops := range doc.Paths {
		if _, ok := ops["get"]; !ok || len(ops) != 1 {
			t.Errorf("%s: operations %v, want get only", p, slices.Collect(maps.Keys(ops)))
		}
	}
}
