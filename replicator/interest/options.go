package interest

import (
	"io"
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultTTL is how long a lease lives without renewal; a publisher
	// renews every third of it.
	DefaultTTL = 30 * time.Second
	// DefaultDiscoveryInterval is how often a Discoverer scans the groups.
	DefaultDiscoveryInterval = 10 * time.Second
)

// DefaultExcludeGroups are the group id prefixes a Discoverer ignores: the
// mesh's own components (their client and group ids start with meshwork-)
// and internal groups.
func DefaultExcludeGroups() []string { return []string{"meshwork-", "_"} }

// cfg holds every option; each constructor reads the fields it needs.
type cfg struct {
	log           *slog.Logger
	metrics       *Metrics
	ttl           time.Duration
	continueFrom  *Table
	expireRemoved bool
	interval      time.Duration
	excludeGroups []string
}

func defaultCfg() cfg {
	return cfg{
		log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		ttl:           DefaultTTL,
		interval:      DefaultDiscoveryInterval,
		excludeGroups: DefaultExcludeGroups(),
	}
}

// Opt is an option of this package. Each constructor takes the narrower
// kind it understands, so a signature shows what can configure it.
type Opt interface{ apply(*cfg) }

// DiscovererOpt configures a Discoverer.
type DiscovererOpt interface {
	Opt
	discovererOpt()
}

// PublisherOpt configures a Publisher; a Discoverer passes the ones it is
// given to its own publisher.
type PublisherOpt interface {
	DiscovererOpt
	publisherOpt()
}

// WatcherOpt configures a Watcher.
type WatcherOpt interface {
	Opt
	watcherOpt()
}

// CommonOpt configures every component.
type CommonOpt interface {
	PublisherOpt
	WatcherOpt
}

// The option types, by what they configure.
type (
	commonOpt     func(*cfg)
	publisherOpt  func(*cfg)
	discovererOpt func(*cfg)
)

func (o commonOpt) apply(c *cfg) { o(c) }
func (commonOpt) discovererOpt() {}
func (commonOpt) publisherOpt()  {}
func (commonOpt) watcherOpt()    {}

func (o publisherOpt) apply(c *cfg) { o(c) }
func (publisherOpt) discovererOpt() {}
func (publisherOpt) publisherOpt()  {}

func (o discovererOpt) apply(c *cfg) { o(c) }
func (discovererOpt) discovererOpt() {}

// Logger sets the logger (default: none).
func Logger(l *slog.Logger) CommonOpt {
	return commonOpt(func(c *cfg) {
		if l != nil {
			c.log = l
		}
	})
}

// WithMetrics counts into m (see NewMetrics); default: not counted.
func WithMetrics(m *Metrics) CommonOpt { return commonOpt(func(c *cfg) { c.metrics = m }) }

// TTL sets how long a published lease lives without renewal (default
// DefaultTTL); the publisher renews every third of it. 0 publishes leases
// that never expire and are never renewed: only for declared interest, which
// must then be removed explicitly.
func TTL(d time.Duration) PublisherOpt { return publisherOpt(func(c *cfg) { c.ttl = d }) }

// Continue makes the publisher keep the Since of an unexpired lease with the
// same key found in t, so interest held before a restart of its holder (or by
// another replica of it) continues instead of starting again. Use the table
// of a Watcher of the same cluster once it is Ready.
func Continue(t *Table) PublisherOpt { return publisherOpt(func(c *cfg) { c.continueFrom = t }) }

// ExpireRemoved makes Set stop renewing the leases it no longer lists
// instead of tombstoning them: they stay in force until they expire, which
// bridges a holder that disappears for less than the TTL. The publisher
// tombstones them once expired, to keep the topic small.
func ExpireRemoved() PublisherOpt { return publisherOpt(func(c *cfg) { c.expireRemoved = true }) }

// DiscoveryInterval sets how often a Discoverer scans (default
// DefaultDiscoveryInterval).
func DiscoveryInterval(d time.Duration) DiscovererOpt {
	return discovererOpt(func(c *cfg) { c.interval = d })
}

// ExcludeGroups replaces the group id prefixes a Discoverer ignores
// (default DefaultExcludeGroups; list them again to keep them).
func ExcludeGroups(prefixes ...string) DiscovererOpt {
	return discovererOpt(func(c *cfg) { c.excludeGroups = append([]string(nil), prefixes...) })
}
