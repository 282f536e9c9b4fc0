package catalog

import (
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Table holds every entry read from a cluster's Topic: each site's, since
// the replicators carry every site's entries everywhere. It is safe for
// concurrent use.
type Table struct {
	codec *Codec
	log   *slog.Logger

	mu      sync.RWMutex
	entries map[string]Entry
	invalid int64
}

// NewTable returns an empty table that decodes with c and logs records it
// cannot read to log (nil: nowhere).
func NewTable(c *Codec, log *slog.Logger) *Table {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Table{codec: c, log: log, entries: map[string]Entry{}}
}

// Apply applies one record of Topic: an entry replaces the one with its
// key, a tombstone removes it; a record that cannot be read is counted,
// logged and otherwise ignored. It reports whether the table changed other
// than by an entry's Updated time.
func (t *Table) Apply(r *kgo.Record) bool {
	key, e, err := t.codec.Decode(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.invalid++
		t.log.Warn("catalog: ignoring a record that is not a valid entry", "partition", r.Partition, "offset", r.Offset, "key", key, "error", err)
		return false
	}
	old, had := t.entries[key]
	if e == nil {
		delete(t.entries, key)
		return had
	}
	t.entries[key] = *e
	return !had || !old.Same(*e)
}

// Invalid returns how many records could not be read.
func (t *Table) Invalid() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.invalid
}

// Entry returns the entry of site's holding of topic.
func (t *Table) Entry(site, topic string) (Entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.entries[site+"/"+topic]
	return e, ok
}

// Entries returns every entry, sorted by key.
func (t *Table) Entries() []Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Entry, 0, len(t.entries))
	for _, k := range slices.Sorted(maps.Keys(t.entries)) {
		out = append(out, t.entries[k])
	}
	return out
}

// Origins returns, by topic, the entries of the sites that hold it as
// their origin, sorted by site.
func (t *Table) Origins() map[string][]Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string][]Entry{}
	for _, e := range t.entries {
		if e.Role == RoleOrigin {
			out[e.Topic] = append(out[e.Topic], e)
		}
	}
	for _, es := range out {
		slices.SortFunc(es, func(a, b Entry) int {
			switch {
			case a.Site < b.Site:
				return -1
			case a.Site > b.Site:
				return 1
			}
			return 0
		})
	}
	return out
}

// Of returns the entries site publishes, by topic.
func (t *Table) Of(site string) map[string]Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]Entry{}
	for _, e := range t.entries {
		if e.Site == site {
			out[e.Topic] = e
		}
	}
	return out
}
