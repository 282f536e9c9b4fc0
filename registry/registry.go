package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/policy"
)

// Registry is one registry instance: it tails the schema log into memory,
// serves the API from it, and on the primary site takes part in electing
// the one instance that writes. Its lifecycle: New, Start, then Close once
// (also after a failed Start, or none).
type Registry struct {
	cfg     Config
	logger  *slog.Logger
	opts    clientOptions
	state   *state
	store   *store
	metrics *metrics
	limits  *limits
	peers   *http.Client // to the leader instance and the primary site's registry, for forwarded writes
	primary *http.Client // peers with peer_auth, for this instance's own requests to the primary
	authz   *policy.Authorizer
	idIndex atomic.Pointer[idSubjects] // for authorizing reads by id (authz.go)

	mu       sync.Mutex // guards the lifecycle: Start and Close
	started  bool
	closed   bool
	reader   *kgo.Client        // set by Start
	election *election          // set by Start on the primary site
	stopRead context.CancelFunc // ends the reader goroutine
	wg       sync.WaitGroup     // the reader goroutine
}

// clientOptions are the franz-go options of each Kafka client the registry
// makes. New resolves them, which reads the TLS and SASL files they name,
// so a bad file fails New; Start only builds the clients.
type clientOptions struct {
	admin, reader []kgo.Opt // on the cluster the log is read from
	member        []kgo.Opt // the election's group member, on the site's cluster
	writer        []kgo.Opt // the transactional producer, on the site's cluster
}

// New validates cfg and builds an instance. It does no network I/O and
// starts nothing: Start does.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	copts, err := resolveOptions(&cfg)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r := &Registry{cfg: cfg, logger: logger, opts: copts, state: newState(logger)}
	for _, o := range opts {
		o(r)
	}
	if r.peers, r.primary, err = peerClients(cfg); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.store = newStore(cfg.Topic, logger, r.state)
	if cfg.Primary != nil {
		r.store.catchUp = r.primaryPosition
	}
	r.metrics = newMetrics(reg, cfg.Site, r.state)
	r.limits = newLimits(&r.cfg, func(reason string) { r.metrics.rejected.WithLabelValues(reason).Inc() })
	r.store.checkRecord = r.limits.checkRecord
	return r, nil
}

func resolveOptions(cfg *Config) (clientOptions, error) {
	var o clientOptions
	source := cfg.Kafka
	if cfg.Primary != nil && cfg.Primary.Kafka != nil {
		source = *cfg.Primary.Kafka
	}
	var err error
	if o.admin, err = source.Options("registry-admin", cfg.Site); err != nil {
		return o, err
	}
	if o.reader, err = source.Options("registry-reader", cfg.Site); err != nil {
		return o, err
	}
	// The log's partition is added once it exists (store.load).
	o.reader = append(o.reader,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if cfg.Primary != nil {
		return o, nil // no election off the primary site
	}
	if o.member, err = cfg.Kafka.Options("registry-election", cfg.Site); err != nil {
		return o, err
	}
	if o.writer, err = cfg.Kafka.Options("registry-writer", cfg.Site); err != nil {
		return o, err
	}
	o.writer = append(o.writer,
		kgo.TransactionalID(cfg.Group+"-writer"),
		kgo.ProducerBatchMaxBytes(producerBatchMaxBytes),
		kgo.TransactionTimeout(cfg.WriteTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(cfg.Topic),
	)
	return o, nil
}

// newClient builds a Kafka client of component; building one may start
// its background work (a consumer fetches, a group member joins).
func newClient(component string, opts []kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", component, err)
	}
	return cl, nil
}

// Start creates the schema log if this is the primary site and the log is
// missing, starts reading it and joins the leader election. On another
// site, a log that does not exist yet is no error: the replicator creates
// it when it first copies it from the primary, and the instance loads it
// then (Ready says what it waits for; the API answers 503 until then). It
// returns once that work is under way; ctx bounds only the start, the work
// runs until Close. Ready says when the schemas are loaded. On error, Start
// leaves nothing running.
func (r *Registry) Start(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return errors.New("registry: Start called twice or after Close")
	}
	r.started = true

	admin, err := newClient("registry-admin", r.opts.admin)
	if err != nil {
		return err
	}
	defer admin.Close() // needed for the start only
	adm := kafkaclient.NewAdmin(admin)
	if r.cfg.Primary == nil {
		if err := ensureTopic(ctx, admin, r.cfg.Topic, r.cfg.ReplicationFactor); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
	}
	end, err := endOffset(ctx, adm, r.cfg.Topic)
	exists := err == nil
	if exists && r.cfg.Primary == nil {
		// The writer writes here: schemas larger than a record are refused
		// (42209) before they reach Kafka.
		lim, lerr := kafkaclient.DescribeMaxMessageBytes(ctx, adm, r.cfg.Topic)
		if lerr != nil {
			return fmt.Errorf("registry: %w", lerr)
		}
		r.limits.maxRecord.Store(min(lim[r.cfg.Topic].Bytes, producerBatchMaxBytes) - recordOverhead)
	}
	if err != nil && (r.cfg.Primary == nil || !errors.Is(err, kerr.UnknownTopicOrPartition)) {
		return fmt.Errorf("registry: reading the schema log's end at %s: %w", r.logSource(), err)
	}
	reader, err := newClient("registry-reader", r.opts.reader)
	if err != nil {
		return err
	}
	var el *election
	if r.cfg.Primary == nil {
		if el, err = newElection(&r.cfg, r.logger, r.store, r.metrics, r.opts.member, r.opts.writer); err != nil {
			reader.Close()
			return err
		}
	}

	// Nothing fails from here on: start the work.
	run, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.reader, r.election, r.stopRead = reader, el, stop
	awaiting := ""
	if !exists {
		awaiting = r.awaitingLog()
	}
	r.wg.Go(func() { r.store.load(run, reader, end, awaiting) })
	if el != nil {
		el.start(run)
	}
	return nil
}

// Ready reports whether the instance serves complete data and can take
// writes: the schema log is loaded (on a follower site: exists there and
// has caught up with the position the primary named when it was read to
// its end) and, on the primary site, a leader is known.
func (r *Registry) Ready(context.Context) error {
	if err := r.notLoaded(); err != nil {
		return err
	}
	if r.cfg.Primary == nil {
		var leader string
		r.state.read(func(v *view) { leader = v.leaderURL() })
		if leader == "" {
			return errors.New("no leader elected yet")
		}
	}
	return nil
}

// notLoaded says why the state is not complete yet, or nil once it is.
func (r *Registry) notLoaded() error {
	switch r.store.phase.Load() {
	case phaseLoaded:
		return nil
	case phaseAwaitingLog:
		return errors.New(r.awaitingLog())
	}
	if target := r.store.target.Load(); target > 0 {
		var position int64
		r.state.read(func(v *view) { position = v.position() })
		return fmt.Errorf("still loading the schema log %s from %s: at write position %d of the primary's %d. %s",
			r.cfg.Topic, r.logSource(), position, target, r.logHint())
	}
	return fmt.Errorf("still loading the schema log %s from %s", r.cfg.Topic, r.logSource())
}

// IsLeader reports whether this instance writes the schema log.
func (r *Registry) IsLeader() bool { return r.store.isWriter() }

// Close stops the instance, gracefully at most until ctx ends: a leader
// finishes the write in progress, gives up the writer and leaves the
// election group, so another instance takes over at once. Then it stops
// reading the log, waits for every goroutine Start started and closes the
// Kafka clients. It is safe after a failed Start or none; calls after the
// first do nothing. A Close during Start waits for Start to return.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	if r.election != nil {
		r.election.stopLeading()
	}
	errs = append(errs, r.store.close(ctx))
	if r.election != nil {
		errs = append(errs, r.election.stop(ctx))
	}
	r.metrics.leader.Set(0)
	if r.stopRead != nil {
		r.stopRead()
	}
	r.wg.Wait()
	if r.reader != nil {
		r.reader.Close()
	}
	return errors.Join(errs...)
}

// peerClients are the HTTP clients of the requests to the other
// registries, with peer_tls for https ones: one for forwarded writes, one
// with peer_auth for this instance's own requests.
func peerClients(cfg Config) (peers, primary *http.Client, err error) {
	tc, err := cfg.PeerTLS.Client("peer_tls")
	if err != nil {
		return nil, nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	authed, err := cfg.PeerAuth.Transport(tr, "peer_auth")
	if err != nil {
		return nil, nil, err
	}
	return &http.Client{Timeout: cfg.WriteTimeout, Transport: tr}, &http.Client{Timeout: cfg.WriteTimeout, Transport: authed}, nil
}
