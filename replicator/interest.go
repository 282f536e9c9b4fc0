package replicator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/replicator/demand"
)

// interestState is what the replicator knows of the mesh's interest: the
// leases in its site's _mesh.interest (its own site's, and every other
// site's, which the replicators copy there), and the leases it publishes
// for its site: the declared ones of its configuration and, with
// interest.discover, those of the site's consumer groups.
//
// New builds the watcher and the declared leases' publisher, which close
// stops; start builds the discoverer, which run runs and which stops
// renewing when its Run returns.
type interestState struct {
	r        *Replicator
	log      *slog.Logger
	metrics  *demand.Metrics
	watcher  *demand.Watcher
	declared *interest.Publisher
	disc     *demand.Discoverer // nil without discovery, or before start

	declMu sync.Mutex
	decl   []Declared // the declarations in force: the configuration's, then the mesh file's
}

func newInterestState(r *Replicator, reg prometheus.Registerer) (*interestState, error) {
	cfg := r.cfg
	// Each replicator watches its own cluster: label its interest metrics
	// so, so that several replicators can share a registry.
	m, err := demand.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"cluster": cfg.Site}, reg))
	if err != nil {
		return nil, err
	}
	log := r.log.With("component", "interest")
	opts, err := r.clients.options(r.local.Kafka)
	if err != nil {
		return nil, err
	}
	s := &interestState{r: r, log: log, metrics: m, decl: slices.Clone(cfg.Interest.Declared)}
	if s.watcher, err = demand.NewWatcher(opts, demand.Logger(log), demand.WithMetrics(m)); err != nil {
		return nil, fmt.Errorf("interest watcher: %w", err)
	}
	s.declared, err = interest.NewPublisher(r.localCl, cfg.Site, interest.TTL(cfg.Interest.LeaseTTL),
		interest.Continue(s.watcher.Table()), interest.Logger(log), m.PublishOption())
	if err != nil {
		s.watcher.Close()
		return nil, fmt.Errorf("interest publisher: %w", err)
	}
	return s, nil
}

// start builds, with interest.discover, the discoverer of the site's
// consumer groups, for run to run. It is built only then: a Discoverer
// renews its leases from the moment it is built, and only the end of its
// Run stops that.
func (s *interestState) start() error {
	cfg := s.r.cfg
	if !cfg.Interest.Discover {
		return nil
	}
	excl := append(demand.DefaultExcludeGroups(), cfg.Interest.ExcludeGroups...)
	disc, err := demand.NewDiscoverer(s.r.localCl, cfg.Site, demand.TTL(cfg.Interest.LeaseTTL),
		demand.DiscoveryInterval(cfg.Interest.DiscoveryInterval), demand.ExcludeGroups(excl...),
		demand.Continue(s.watcher.Table()), demand.Logger(s.log), demand.WithMetrics(s.metrics))
	if err != nil {
		return fmt.Errorf("interest discovery: %w", err)
	}
	s.disc = disc
	return nil
}

// close stops renewing the declared leases (without removing them: a
// replicator that restarts within their TTL keeps its site's interest) and
// closes the watcher, whether run ran or not.
func (s *interestState) close() {
	_ = s.declared.Close(context.Background())
	s.watcher.Close()
}

// declaredLeases are the leases of the configuration's declarations.
func (s *interestState) declaredLeases() []interest.Lease {
	s.declMu.Lock()
	decl := s.decl
	s.declMu.Unlock()
	var out []interest.Lease
	for _, d := range decl {
		res, at, _ := interest.ParseResume(d.Resume) // checked by Validate
		out = append(out, interest.Lease{
			Topic: d.Topic, Pattern: d.Pattern, Site: s.r.cfg.Site,
			Kind: interest.KindDeclared, SourceID: "replicator-config",
			Resume: res, ResumeAt: at,
		})
	}
	return out
}

// redeclare replaces the declarations in force (the mesh file's interest
// changed) and publishes them: leases no longer declared lapse after their
// TTL, as a removed holder's do.
func (s *interestState) redeclare(ctx context.Context, decl []Declared) error {
	s.declMu.Lock()
	s.decl = slices.Clone(decl)
	s.declMu.Unlock()
	return s.declared.Set(ctx, s.declaredLeases())
}

// run watches, publishes and discovers until ctx ends, and returns once
// the watcher and the discoverer have stopped (close stops the rest).
func (s *interestState) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.watcher.Run(ctx) })
	if s.disc != nil {
		wg.Go(func() { s.disc.Run(ctx) })
	}
	// The declarations are written once (and renewed by the publisher);
	// a Kafka that does not answer yet is waited for.
	_ = retry.Until(ctx, 10*time.Second, func() error { return s.declared.Set(ctx, s.declaredLeases()) },
		func(err error, attempt int, wait time.Duration) {
			s.r.log.Warn("replicator: publishing declared interest failed; trying again", "error", err, "attempt", attempt, "in", wait)
		})
	<-ctx.Done()
}

// ready reports whether the first read of the interest topic reached its
// end: before that, missing leases would stop flows that should go on.
func (s *interestState) ready() bool {
	select {
	case <-s.watcher.Ready():
		return true
	default:
		return false
	}
}

func (s *interestState) changed() <-chan struct{} { return s.watcher.Changes() }

func (s *interestState) topic() string { return interest.Topic }

func (s *interestState) ensureTopic(ctx context.Context) error {
	return interest.EnsureTopic(ctx, s.r.localCl)
}

// resolve returns which sites want which topics (patterns expanded against
// known), and where this site's flows of each topic start; a topic carried
// only for other sites resumes from its checkpoint.
func (s *interestState) resolve(known []string) (map[string][]string, map[string]demand.Start) {
	now := time.Now()
	t := s.watcher.Table()
	wants := t.Resolve(now, known)
	starts := map[string]demand.Start{}
	for topic := range wants {
		if p, ok := t.Policy(now, s.r.cfg.Site, topic); ok {
			starts[topic] = p
		}
	}
	return wants, starts
}
