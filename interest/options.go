package interest

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultTTL is how long a lease lives without renewal; a publisher renews
// every third of it.
const DefaultTTL = 30 * time.Second

// Lookup finds a lease by its key: the replicator's table of every lease,
// or what Read returned.
type Lookup interface {
	Lease(key string) (Lease, bool)
}

// options configure a Publisher.
type options struct {
	log           *slog.Logger
	failures      prometheus.Counter
	ttl           time.Duration
	continueFrom  Lookup
	expireRemoved bool
}

func defaultOptions() options {
	return options{log: slog.New(slog.NewTextHandler(io.Discard, nil)), ttl: DefaultTTL}
}

// Option configures a Publisher.
type Option func(*options)

// Logger sets the logger (default: none).
func Logger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// CountFailures counts each write of leases or tombstones that failed in c
// (default: not counted).
func CountFailures(c prometheus.Counter) Option { return func(o *options) { o.failures = c } }

// TTL sets how long a published lease lives without renewal (default
// DefaultTTL); the publisher renews every third of it. 0 publishes leases
// that never expire and are never renewed: only for declared interest, which
// must then be removed explicitly.
func TTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// Continue makes the publisher keep the Since of an unexpired lease with the
// same key found in l, so interest held before a restart of its holder (or
// by another replica of it) continues instead of starting again. Use a
// complete view of the cluster's leases: the table of a watcher that is
// ready, or what Read returned.
func Continue(l Lookup) Option { return func(o *options) { o.continueFrom = l } }

// ExpireRemoved makes Set stop renewing the leases it no longer lists
// instead of tombstoning them: they stay in force until they expire, which
// bridges a holder that disappears for less than the TTL. The publisher
// tombstones them once expired, to keep the topic small.
func ExpireRemoved() Option { return func(o *options) { o.expireRemoved = true } }
