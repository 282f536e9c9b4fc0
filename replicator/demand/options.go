package demand

import (
	"io"
	"log/slog"
	"time"

	"github.com/meshwork/meshwork/interest"
)

// DefaultDiscoveryInterval is how often a Discoverer scans the groups.
const DefaultDiscoveryInterval = 5 * time.Second

// DefaultExcludeGroups are the group id prefixes a Discoverer ignores: the
// mesh's own components (their client and group ids start with meshwork-)
// and internal groups.
func DefaultExcludeGroups() []string { return []string{"meshwork-", "_"} }

// cfg holds every option; each constructor reads the fields it needs.
type cfg struct {
	log           *slog.Logger
	metrics       *Metrics
	ttl           time.Duration
	continueFrom  interest.Lookup
	interval      time.Duration
	excludeGroups []string
}

func defaultCfg() cfg {
	return cfg{
		log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		ttl:           interest.DefaultTTL,
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

// WatcherOpt configures a Watcher.
type WatcherOpt interface {
	Opt
	watcherOpt()
}

// CommonOpt configures both.
type CommonOpt interface {
	DiscovererOpt
	WatcherOpt
}

type (
	commonOpt     func(*cfg)
	discovererOpt func(*cfg)
)

func (o commonOpt) apply(c *cfg) { o(c) }
func (commonOpt) discovererOpt() {}
func (commonOpt) watcherOpt()    {}

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

// TTL sets how long a discovered lease lives without renewal (default
// interest.DefaultTTL); it must be longer than the discovery interval.
func TTL(d time.Duration) DiscovererOpt { return discovererOpt(func(c *cfg) { c.ttl = d }) }

// Continue keeps the Since of leases already in force in l (see
// interest.Continue): use the table of a ready Watcher of the same cluster.
func Continue(l interest.Lookup) DiscovererOpt {
	return discovererOpt(func(c *cfg) { c.continueFrom = l })
}

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
