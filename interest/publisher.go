package interest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
)

// ErrClosed is returned by a Publisher's Set after Close or Remove.
var ErrClosed = errors.New("interest: publisher is closed")

// Publisher owns the leases of one holder process at one site: it writes
// them to Topic, renews them every third of their TTL while it runs, and
// keeps each lease's Since across renewals.
type Publisher struct {
	cl    *kgo.Client
	codec *Codec
	site  string
	cfg   options

	stop context.CancelFunc
	done chan struct{}

	// mu guards the state below and is held across writes, so a renewal
	// never resurrects a lease that Set just tombstoned.
	mu       sync.Mutex
	leases   map[string]Lease // published and renewed
	retiring map[string]Lease // no longer renewed, tombstoned once expired
	closed   bool
	ensured  bool // Topic exists
}

// NewPublisher returns a publisher of site's leases, producing with cl
// (which it does not close; acks=all is best). Its first write creates
// Topic if missing (EnsureTopic). Renewal runs in the background until
// Close or Remove.
func NewPublisher(cl *kgo.Client, site string, opts ...Option) (*Publisher, error) {
	c := defaultOptions()
	for _, o := range opts {
		o(&c)
	}
	if err := envelope.ValidSite(site); err != nil {
		return nil, fmt.Errorf("interest: publisher site %q: %w", site, err)
	}
	if c.ttl < 0 {
		return nil, fmt.Errorf("interest: TTL %s is negative; use 0 for leases that never expire", c.ttl)
	}
	if c.ttl > 0 && c.ttl < 30*time.Millisecond {
		return nil, fmt.Errorf("interest: TTL %s is too short to renew in time; use at least 30ms (default %s)", c.ttl, DefaultTTL)
	}
	codec, err := NewCodec()
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &Publisher{
		cl: cl, codec: codec, site: site, cfg: c,
		stop: stop, done: make(chan struct{}),
		leases: map[string]Lease{}, retiring: map[string]Lease{},
	}
	if c.ttl == 0 {
		close(p.done) // nothing to renew
	} else {
		go p.renewLoop(ctx)
	}
	return p, nil
}

// Set replaces the publisher's leases with leases and writes what changed
// before it returns: new and changed leases, and tombstones for the ones no
// longer listed (with ExpireRemoved, those are left to expire instead).
// Each lease's Site may be empty (the publisher's site) and Since zero: it
// keeps the Since of the lease with the same key it already holds, or of an
// unexpired one in the Continue table, or is now. Expires is set from the
// TTL. Nothing is written if a lease is invalid.
func (p *Publisher) Set(ctx context.Context, leases []Lease) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	now := time.Now()
	next := make(map[string]Lease, len(leases))
	for _, l := range leases {
		if l.Site == "" {
			l.Site = p.site
		}
		if l.Site != p.site {
			return fmt.Errorf("%w %s: the publisher holds leases of site %q only", ErrInvalidLease, l.describe(), p.site)
		}
		key := l.Key()
		if _, dup := next[key]; dup {
			return fmt.Errorf("%w %s: listed twice", ErrInvalidLease, l.describe())
		}
		if l.Since.IsZero() {
			l.Since = p.since(key, now)
		}
		l.Expires = p.expires(now)
		if err := l.Validate(); err != nil {
			return err
		}
		next[key] = l
	}

	var recs []*kgo.Record
	for key, l := range next {
		if old, ok := p.leases[key]; ok && old.SameInterest(l) {
			next[key] = old // unchanged: the renewal loop keeps it fresh
			continue
		}
		r, err := p.codec.Record(l)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	retiring := maps.Clone(p.retiring)
	for key, old := range p.leases {
		if _, ok := next[key]; ok {
			continue
		}
		if p.cfg.expireRemoved && p.cfg.ttl > 0 {
			retiring[key] = old
		} else {
			recs = append(recs, Tombstone(old))
		}
	}
	for key := range next {
		delete(retiring, key)
	}
	if err := p.write(ctx, recs); err != nil {
		return err
	}
	p.leases, p.retiring = next, retiring
	return nil
}

// since returns the Since of a new lease with key.
func (p *Publisher) since(key string, now time.Time) time.Time {
	if l, ok := p.leases[key]; ok {
		return l.Since
	}
	if l, ok := p.retiring[key]; ok && !l.Expired(now) {
		return l.Since
	}
	if p.cfg.continueFrom != nil {
		if l, ok := p.cfg.continueFrom.Lease(key); ok && !l.Expired(now) {
			return l.Since
		}
	}
	return now.Truncate(time.Millisecond)
}

func (p *Publisher) expires(now time.Time) time.Time {
	if p.cfg.ttl == 0 {
		return time.Time{}
	}
	return now.Add(p.cfg.ttl)
}

// Leases returns the leases the publisher holds, sorted by key.
func (p *Publisher) Leases() []Lease {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := slices.Sorted(maps.Keys(p.leases))
	out := make([]Lease, len(keys))
	for i, k := range keys {
		out[i] = p.leases[k]
	}
	return out
}

// Close stops renewing without tombstoning: the leases stay in force until
// they expire, so a holder that restarts within the TTL keeps its interest
// continuous. It waits for a renewal under way, at most until ctx ends.
func (p *Publisher) Close(ctx context.Context) error {
	p.stop()
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("interest: closing the publisher: %w", ctx.Err())
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

// Remove stops renewing and tombstones every lease the publisher holds or
// still lets expire: the interest ends now.
func (p *Publisher) Remove(ctx context.Context) error {
	if err := p.Close(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var recs []*kgo.Record
	for _, m := range []map[string]Lease{p.leases, p.retiring} {
		for _, l := range m {
			recs = append(recs, Tombstone(l))
		}
	}
	if err := p.write(ctx, recs); err != nil {
		return err
	}
	p.leases, p.retiring = map[string]Lease{}, map[string]Lease{}
	return nil
}

// renewLoop rewrites the leases every third of the TTL, sooner after a
// failed write, and tombstones retired leases once they expired.
func (p *Publisher) renewLoop(ctx context.Context) {
	defer close(p.done)
	every := p.cfg.ttl / 3
	wait := every
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = every
		wctx, cancel := context.WithTimeout(ctx, every)
		err := p.renew(wctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			p.cfg.log.Warn("interest: renewing leases failed; retrying soon, they expire unless a renewal succeeds",
				"site", p.site, "leases", len(p.Leases()), "error", err)
			wait = max(every/4, 10*time.Millisecond)
		}
	}
}

func (p *Publisher) renew(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	renewed := make(map[string]Lease, len(p.leases))
	var recs []*kgo.Record
	for key, l := range p.leases {
		l.Expires = p.expires(now)
		r, err := p.codec.Record(l)
		if err != nil {
			return err // cannot happen: validated by Set
		}
		recs = append(recs, r)
		renewed[key] = l
	}
	var expired []string
	for key, l := range p.retiring {
		if l.Expired(now) {
			recs = append(recs, Tombstone(l))
			expired = append(expired, key)
		}
	}
	if err := p.write(ctx, recs); err != nil {
		return err
	}
	p.leases = renewed
	for _, key := range expired {
		delete(p.retiring, key)
	}
	return nil
}

func (p *Publisher) write(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if !p.ensured {
		if err := EnsureTopic(ctx, p.cl); err != nil {
			return err
		}
		p.ensured = true
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		if p.cfg.failures != nil {
			p.cfg.failures.Inc()
		}
		return fmt.Errorf("interest: writing %d lease records to %s: %w", len(recs), Topic, err)
	}
	return nil
}
