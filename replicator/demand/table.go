package demand

import (
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshwork/meshwork/interest"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Table is the view of every lease read from _mesh.interest, safe for
// concurrent use. Expired leases stay until tombstoned (so they can be
// listed), but count for nothing.
type Table struct {
	codec *interest.Codec
	log   *slog.Logger

	mu      sync.RWMutex
	leases  map[string]entry
	invalid int64
}

type entry struct {
	lease interest.Lease
	re    *regexp.Regexp // with lease.Pattern
}

// NewTable returns an empty table decoding with c and logging undecodable
// records to log (nil: not logged).
func NewTable(c *interest.Codec, log *slog.Logger) *Table {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Table{codec: c, log: log, leases: map[string]entry{}}
}

// Apply applies one record of Topic: a lease replaces the one with its key,
// a tombstone deletes it. A record that cannot be decoded is counted
// (Invalid), logged and otherwise ignored; control records are ignored.
// Apply reports whether the active interest changed: a lease appeared,
// disappeared or changed other than by renewal.
func (t *Table) Apply(r *kgo.Record) bool {
	if r.Attrs.IsControl() {
		return false
	}
	key, l, err := t.codec.Decode(r)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.invalid++
		t.log.Warn("interest: ignoring a record that is not a valid lease",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "key", key, "error", err)
		return false
	}
	old, had := t.leases[key]
	wasActive := had && !old.lease.Expired(now)
	if l == nil {
		delete(t.leases, key)
		return wasActive
	}
	e := entry{lease: *l}
	if l.Pattern {
		e.re, _ = interest.CompilePattern(l.Topic) // validated by Decode
	}
	t.leases[key] = e
	isActive := !l.Expired(now)
	if wasActive != isActive {
		return true
	}
	return isActive && !old.lease.SameInterest(*l)
}

// Invalid returns how many records could not be decoded.
func (t *Table) Invalid() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.invalid
}

// Lease returns the lease with key, expired or not.
func (t *Table) Lease(key string) (interest.Lease, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.leases[key]
	return e.lease, ok
}

// Leases returns every lease, expired ones included, sorted by key.
func (t *Table) Leases() []interest.Lease {
	return t.collect(func(interest.Lease) bool { return true })
}

// Active returns the leases in force at now, sorted by key.
func (t *Table) Active(now time.Time) []interest.Lease {
	return t.collect(func(l interest.Lease) bool { return !l.Expired(now) })
}

func (t *Table) collect(keep func(interest.Lease) bool) []interest.Lease {
	t.mu.RLock()
	defer t.mu.RUnlock()
	keys := make([]string, 0, len(t.leases))
	for k, e := range t.leases {
		if keep(e.lease) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]interest.Lease, len(keys))
	for i, k := range keys {
		out[i] = t.leases[k].lease
	}
	return out
}

// Resolve returns, for every topic some site is interested in at now, the
// sorted names of those sites. A lease on a topic name counts whether or
// not the topic exists anywhere; a pattern counts for the names in topics
// it matches, internal topics (starting with _) never included.
func (t *Table) Resolve(now time.Time, topics []string) map[string][]string {
	out := map[string][]string{}
	add := func(topic, site string) {
		if !slices.Contains(out[topic], site) {
			out[topic] = append(out[topic], site)
		}
	}
	t.mu.RLock()
	for _, e := range t.leases {
		if e.lease.Expired(now) {
			continue
		}
		if !e.lease.Pattern {
			add(e.lease.Topic, e.lease.Site)
			continue
		}
		for _, topic := range topics {
			if e.matches(topic) {
				add(topic, e.lease.Site)
			}
		}
	}
	t.mu.RUnlock()
	for _, sites := range out {
		slices.Sort(sites)
	}
	return out
}

func (e entry) matches(topic string) bool {
	if !e.lease.Pattern {
		return e.lease.Topic == topic
	}
	return !strings.HasPrefix(topic, "_") && e.re.MatchString(topic)
}

// Start says where a flow of one topic into one site starts.
type Start struct {
	// Resume and At (with ResumeTimestamp) are the policy chosen.
	Resume interest.Resume
	At     time.Time
	// Since is the earliest Since of the leases in force: the site's
	// interest has been continuous since then. A checkpoint written after
	// Since means the flow only paused for a restart, and goes on from the
	// checkpoint whatever the policy.
	Since time.Time
}

// Policy returns where a flow of topic into site starts, from the leases
// of site in force at now that name or match topic; false when there are
// none. When they disagree, the choice that skips nothing any holder asked
// for wins:
//
//  1. EARLIEST, a replay of everything retained, if any lease asks for it;
//  2. else CHECKPOINT: everything since the flow stopped (and, with no
//     checkpoint yet, everything), while records before the checkpoint
//     were already copied to the site;
//  3. else TIMESTAMP, from the earliest ResumeAt asked for;
//  4. else LATEST.
func (t *Table) Policy(now time.Time, site, topic string) (Start, bool) {
	rank := [...]int{interest.ResumeEarliest: 0, interest.ResumeCheckpoint: 1, interest.ResumeTimestamp: 2, interest.ResumeLatest: 3}
	var (
		s     Start
		found bool
	)
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.leases {
		l := e.lease
		if l.Site != site || l.Expired(now) || !e.matches(topic) {
			continue
		}
		if !found {
			s, found = Start{Resume: l.Resume, At: l.ResumeAt, Since: l.Since}, true
			continue
		}
		if l.Since.Before(s.Since) {
			s.Since = l.Since
		}
		switch {
		case rank[l.Resume] < rank[s.Resume]:
			s.Resume, s.At = l.Resume, l.ResumeAt
		case l.Resume == interest.ResumeTimestamp && s.Resume == interest.ResumeTimestamp && l.ResumeAt.Before(s.At):
			s.At = l.ResumeAt
		}
	}
	return s, found
}

// nextExpiry returns the earliest expiry after after.
func (t *Table) nextExpiry(after time.Time) (time.Time, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var next time.Time
	for _, e := range t.leases {
		x := e.lease.Expires
		if !x.IsZero() && x.After(after) && (next.IsZero() || x.Before(next)) {
			next = x
		}
	}
	return next, !next.IsZero()
}

// expiredBetween reports whether a lease expired in (from, to].
func (t *Table) expiredBetween(from, to time.Time) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.leases {
		x := e.lease.Expires
		if !x.IsZero() && x.After(from) && !x.After(to) {
			return true
		}
	}
	return false
}
