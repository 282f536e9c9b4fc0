package interest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNotDeclared is wrapped by Withdraw's error when the site has no such
// declared lease.
var ErrNotDeclared = errors.New("no such declared interest")

// Declare publishes once, with cl (a client of l.Site's cluster), the
// declared lease l: l.Kind is set to KindDeclared, and Since is kept from
// the same lease in current (the cluster's leases, see Read) when there is
// one, so redeclaring does not restart the interest. ttl 0 declares it
// until withdrawn; else it lapses after ttl, as nothing renews it. This is
// how meshctl and the control plane declare interest for operators.
func Declare(ctx context.Context, cl *kgo.Client, l Lease, ttl time.Duration, current Leases) (Lease, error) {
	l.Kind = KindDeclared
	probe := l
	probe.Since = time.Now()
	if err := probe.Validate(); err != nil {
		return Lease{}, err
	}
	p, err := NewPublisher(cl, l.Site, TTL(ttl), Continue(current))
	if err != nil {
		return Lease{}, err
	}
	defer p.Close(ctx) // stops renewing: a declaration with a ttl lapses on its own
	if err := p.Set(ctx, []Lease{l}); err != nil {
		return Lease{}, err
	}
	return p.Leases()[0], nil
}

// Withdraw tombstones the declared lease of l.Site, l.SourceID and l.Topic
// (a pattern when l.Pattern) with cl, a client of the site's cluster. It
// fails with ErrNotDeclared, and a hint, when current holds no such lease.
func Withdraw(ctx context.Context, cl *kgo.Client, l Lease, current Leases) error {
	l.Kind = KindDeclared
	if _, ok := current.Lease(l.Key()); !ok {
		hint := "'meshctl interest list' (GET /v1/interest) shows what is declared"
		other := l
		other.Pattern = !l.Pattern
		if _, ok := current.Lease(other.Key()); ok && other.Pattern {
			hint = "it is declared as a pattern: add --pattern (pattern: true)"
		} else if ok {
			hint = "it is declared as a topic name: leave out --pattern (pattern: false)"
		}
		return fmt.Errorf("%w: site %s has no declared interest in %q named %q; %s", ErrNotDeclared, l.Site, l.Topic, l.SourceID, hint)
	}
	if err := cl.ProduceSync(ctx, Tombstone(l)).FirstErr(); err != nil {
		return fmt.Errorf("removing %s: %w", l.Key(), err)
	}
	return nil
}
