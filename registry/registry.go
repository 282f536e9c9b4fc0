package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// Registry is one registry instance: it tails the schema log into memory,
// serves the API from it, and on the primary site takes part in electing
// the one instance that writes.
type Registry struct {
	cfg     Config
	logger  *slog.Logger
	state   *state
	store   *store
	metrics *metrics
	parsed  sync.Map // schema id -> avro.Schema; ids never change meaning
	keys    sync.Map // schema id -> avrocompat.EquivalenceKey

	clients []*kgo.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New starts a registry instance: it creates the schema log if this is the
// primary site and the log is missing, starts reading it, and joins the
// leader election. It returns once the clients are built; Ready says when
// the schemas are loaded.
func New(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (_ *Registry, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	r := &Registry{cfg: cfg, logger: logger, state: newState(logger)}
	r.metrics = newMetrics(reg, cfg.Site, r.state)
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	source := cfg.Kafka
	if cfg.Primary != nil && cfg.Primary.Kafka != nil {
		source = *cfg.Primary.Kafka
	}
	admin, err := kafkaclient.New(source, "registry-admin", cfg.Site)
	if err != nil {
		return nil, err
	}
	r.clients = append(r.clients, admin)
	adm := kafkaclient.NewAdmin(admin)
	if cfg.Primary == nil {
		if err := ensureTopic(ctx, adm, cfg.Topic, cfg.ReplicationFactor); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	end, err := endOffset(ctx, adm, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("registry: %w (on a non-primary site, the schema log arrives with the replicator or from primary.kafka)", err)
	}
	reader, err := kafkaclient.New(source, "registry-reader", cfg.Site,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	r.clients = append(r.clients, reader)
	r.store = &store{topic: cfg.Topic, logger: logger, state: r.state, reader: reader}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.wg.Go(func() { _ = r.store.run(runCtx, end) })
	if cfg.Primary == nil {
		if err := r.startElection(runCtx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Ready reports whether the instance serves complete data and can take
// writes: the schema log is loaded and, on the primary site, a leader is
// known.
func (r *Registry) Ready(context.Context) error {
	if !r.store.caughtUp.Load() {
		return errors.New("still loading the schema log")
	}
	if r.cfg.Primary == nil {
		r.state.mu.RLock()
		leader := r.state.leader.URL
		r.state.mu.RUnlock()
		if leader == "" {
			return errors.New("no leader elected yet")
		}
	}
	return nil
}

// IsLeader reports whether this instance writes the schema log.
func (r *Registry) IsLeader() bool { return r.store.isWriter() }

// Close stops the instance; a leader gives up its role so another instance
// takes over at once.
func (r *Registry) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.store != nil {
		r.store.setWriter(nil)
	}
	for i := len(r.clients) - 1; i >= 0; i-- {
		r.clients[i].Close()
	}
	r.wg.Wait()
	r.clients = nil
}

// startElection joins the election group. The schema log has a single
// partition, so exactly one member of the group is assigned it: that member
// is the leader. On assignment it takes the transactional writer, whose
// initialization fences any previous leader still trying to write, and
// announces itself in the log; followers forward writes to the announced URL.
func (r *Registry) startElection(ctx context.Context) error {
	elected := make(chan bool, 4)
	member, err := kafkaclient.New(r.cfg.Kafka, "registry-election", r.cfg.Site,
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(r.cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[r.cfg.Topic]) > 0 {
				elected <- true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[r.cfg.Topic]) > 0 {
				elected <- false
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[r.cfg.Topic]) > 0 {
				elected <- false
			}
		}),
	)
	if err != nil {
		return err
	}
	r.clients = append(r.clients, member)
	// Membership is all the election needs: nothing is read through it.
	member.PauseFetchTopics(r.cfg.Topic)
	r.wg.Go(func() {
		// Group membership progresses in the background, but a client that
		// is never polled never learns of assignments; poll with the topic
		// paused, which returns no records.
		for ctx.Err() == nil {
			member.PollFetches(ctx)
		}
	})
	r.wg.Go(func() { r.leadWhileElected(ctx, elected) })
	return nil
}

func (r *Registry) leadWhileElected(ctx context.Context, elected <-chan bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-elected:
			if !e {
				if r.store.isWriter() {
					r.logger.Info("registry leadership lost")
				}
				r.store.setWriter(nil)
				r.metrics.leader.Set(0)
				continue
			}
			if err := r.lead(ctx); err != nil {
				r.logger.Error("could not take registry leadership; will retry on the next assignment", "err", err)
				r.store.setWriter(nil)
				r.metrics.leader.Set(0)
			}
		}
	}
}

// lead takes the writer and announces this instance as leader.
func (r *Registry) lead(ctx context.Context) error {
	w, err := kafkaclient.New(r.cfg.Kafka, "registry-writer", r.cfg.Site,
		kgo.TransactionalID(r.cfg.Group+"-writer"),
		kgo.TransactionTimeout(r.cfg.WriteTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(r.cfg.Topic),
	)
	if err != nil {
		return err
	}
	r.store.setWriter(w)
	wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	// Writing the announcement also waits until this instance has applied
	// everything before it, so it decides from complete state.
	if err := r.store.write(wctx, logRecord{key: leaderKey(), value: leaderValue{URL: r.cfg.advertised(), Instance: w.OptValue(kgo.ClientID).(string)}}); err != nil {
		return fmt.Errorf("announce leadership: %w", err)
	}
	r.metrics.leader.Set(1)
	r.logger.Info("registry leader", "url", r.cfg.advertised())
	return nil
}
