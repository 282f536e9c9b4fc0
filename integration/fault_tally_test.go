package integration

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"
)

// tally counts what a fault case sent, what the mesh acknowledged (a
// PUBACK, a Kafka produce ack, a 200 from the registry) and what was
// delivered at the far end, by message number: the suite's one verdict is
// that nothing acknowledged is lost. Duplicates are reported, and each case
// says whether its delivery guarantee allows them.
type tally struct {
	mu        sync.Mutex
	sent      int
	acked     map[int]bool
	delivered map[int]int
}

func newTally() *tally {
	return &tally{acked: map[int]bool{}, delivered: map[int]int{}}
}

func (c *tally) send() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent++
	return c.sent - 1
}

func (c *tally) ack(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked[n] = true
}

func (c *tally) deliver(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delivered[n]++
}

// counts returns sent, acknowledged, delivered (distinct), duplicated
// (deliveries beyond the first) and lost (acknowledged, never delivered).
func (c *tally) counts() (sent, acked, delivered, dup, lost int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.delivered {
		dup += k - 1
	}
	for n := range c.acked {
		if c.delivered[n] == 0 {
			lost++
		}
	}
	return c.sent, len(c.acked), len(c.delivered), dup, lost
}

// missing returns the acknowledged messages not delivered yet.
func (c *tally) missing() int {
	_, _, _, _, lost := c.counts()
	return lost
}

// firstLost names a few acknowledged messages that were not delivered, for
// a failure message.
func (c *tally) firstLost(k int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for n := range c.acked {
		if c.delivered[n] == 0 {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out[:min(k, len(out))]
}

// report logs the case's row of the fault table (and appends it to the
// file MESH_FAULTS_TABLE names, which `make faults` collects into
// bench/results/faults.md), then fails the test if anything acknowledged
// was lost, or if dupsAllowed is false and something arrived twice.
func (c *tally) report(t *testing.T, fault, load string, dupsAllowed bool, took time.Duration) {
	t.Helper()
	sent, acked, delivered, dup, lost := c.counts()
	row := fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %s |", fault, load, sent, acked, delivered, dup, lost, took.Round(time.Second))
	t.Log("fault table row:\n" + faultTableHeader + "\n" + row)
	if path := os.Getenv("MESH_FAULTS_TABLE"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("fault table: %v", err)
		} else {
			fmt.Fprintln(f, row)
			f.Close()
		}
	}
	if lost > 0 {
		t.Errorf("%s: %d acknowledged messages lost (first: %v)", fault, lost, c.firstLost(10))
	}
	if dup > 0 && !dupsAllowed {
		t.Errorf("%s: %d duplicates where the guarantee allows none", fault, dup)
	}
}

const faultTableHeader = "| fault | load | sent | acked | delivered | dup | lost | took |\n|---|---|---|---|---|---|---|---|"

// faultsFull reports whether the full fault matrix runs (MESH_FAULTS=full,
// as `make faults` sets); otherwise `make e2e` runs one case of each kind.
func faultsFull() bool { return os.Getenv("MESH_FAULTS") == "full" }

// fullOnly skips a case that only the full matrix runs.
func fullOnly(t *testing.T) {
	t.Helper()
	if !faultsFull() {
		t.Skip("in the full fault matrix only: make faults (MESH_FAULTS=full)")
	}
}
