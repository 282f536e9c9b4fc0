package trace

import (
	"fmt"
	"math"
	"testing"

	"github.com/meshwork/meshwork/internal/envelope"
)

func TestSampledRate(t *testing.T) {
	const n = 20000
	for _, rate := range []float64{0, 0.01, 0.1, 0.5, 1} {
		byTrace, byEvent := 0, 0
		for i := range n {
			if Sampled(rate, TraceIDOf(envelope.NewTraceParent()), "") {
				byTrace++
			}
			if Sampled(rate, "", fmt.Sprintf("event-%d", i)) {
				byEvent++
			}
		}
		for name, got := range map[string]int{"trace ids": byTrace, "event ids": byEvent} {
			want := rate * n
			if math.Abs(float64(got)-want) > 4*math.Sqrt(want*(1-rate))+1 {
				t.Errorf("rate %g over %s: %d of %d sampled, want about %.0f", rate, name, got, n, want)
			}
		}
	}
}

// Every component decides alike: the decision depends on the ids only, and
// a lower rate keeps a subset of what a higher one keeps.
func TestSampledIsDeterministic(t *testing.T) {
	for range 1000 {
		id := TraceIDOf(envelope.NewTraceParent())
		a := Sampled(0.2, id, "x")
		if Sampled(0.2, id, "y") != a {
			t.Fatal("the event id changed the decision for a trace id")
		}
		if Sampled(0.05, id, "") && !a {
			t.Fatal("rate 0.05 kept a trace that rate 0.2 dropped")
		}
	}
}
