package trace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/retry"
)

// Recorder writes the hops of one component to its site's Topic. Record
// never blocks: hops wait in a bounded queue, a goroutine gathers them
// into batches of at most MaxBatch (or what arrived within FlushInterval)
// and produces each batch as one record, asynchronously. When the queue is
// full, or the Kafka client's buffer is, hops are dropped and counted:
// tracing never holds the data path back.
//
// A nil *Recorder is valid and records nothing, so a component without
// tracing passes nil.
type Recorder struct {
	cfg             Config
	site, component string
	cl              *kgo.Client
	codec           *Codec
	log             *slog.Logger
	m               *metrics
	queue           chan Hop

	startOnce, closeOnce sync.Once
	stopping             chan struct{}      // closed by Close: write what is queued and end
	abort                context.CancelFunc // ends the creation of the topic
	done                 chan struct{}

	// inflight counts records produced and not yet acknowledged; acked
	// is signalled at each acknowledgement, for Close.
	inflight atomic.Int64
	acked    chan struct{}

	logMu    sync.Mutex
	loggedAt time.Time // last log line about a failure, at most one a minute
}

// NewRecorder returns the recorder of component (like mqtt-adapter/east)
// at site, which produces with cl (the component's own producer: records
// of Topic are small and never transactional). It does no I/O: Start
// starts it. reg (nil: none) takes its metrics.
func NewRecorder(cl *kgo.Client, site, component string, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	codec, err := NewCodec()
	if err != nil {
		return nil, err
	}
	return &Recorder{cfg: cfg, site: site, component: component, cl: cl, codec: codec, log: log,
		m: newMetrics(reg, component), queue: make(chan Hop, cfg.QueueSize), done: make(chan struct{}), stopping: make(chan struct{}), acked: make(chan struct{}, 1)}, nil
}

// Sampled reports whether the event's hops are recorded (see Sampled): a
// component asks before it builds a hop. False for a nil recorder.
func (r *Recorder) Sampled(traceID, eventID string) bool {
	return r != nil && Sampled(r.cfg.SampleRate, traceID, eventID)
}

// Record queues hops (already sampled: see Sampled), filling in the site
// and component where empty. It never blocks; what does not fit in the
// queue is dropped and counted.
func (r *Recorder) Record(hops ...Hop) {
	if r == nil {
		return
	}
	for _, h := range hops {
		if h.Site == "" {
			h.Site = r.site
		}
		if h.Component == "" {
			h.Component = r.component
		}
		select {
		case r.queue <- h:
			r.m.queued.Inc()
		default:
			r.m.hops.WithLabelValues(ResultDropped).Inc()
		}
	}
}

// Start creates Topic when it is missing (in the background, trying again
// until it succeeds or Close) and starts writing. ctx is not kept.
func (r *Recorder) Start(context.Context) {
	if r == nil {
		return
	}
	r.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		r.abort = cancel
		go func() {
			defer close(r.done)
			r.run(ctx)
		}()
	})
}

// Close writes what is queued, waiting for Kafka at most until ctx ends,
// and stops the recorder. The Kafka client stays open: it is the
// component's.
func (r *Recorder) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.startOnce.Do(func() { close(r.done) }) // never started: nothing runs
	if r.abort == nil {
		return nil
	}
	defer r.abort()
	r.closeOnce.Do(func() { close(r.stopping) })
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("trace: %d hops not written at shutdown: %w", len(r.queue), ctx.Err())
	}
	// The last batches were produced; wait for their acknowledgements.
	for r.inflight.Load() > 0 {
		select {
		case <-r.acked:
		case <-ctx.Done():
			return fmt.Errorf("trace: %d records of hops not acknowledged at shutdown: %w", r.inflight.Load(), ctx.Err())
		}
	}
	return nil
}

// EnsureTopic creates Topic at cl's cluster when it is missing, with the
// partitions and retention of cfg; an existing topic gets the retention
// only if it has none of its own.
func EnsureTopic(ctx context.Context, cl *kgo.Client, cfg Config) error {
	_, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{
		Name:       Topic,
		Partitions: cfg.Partitions,
		Configs: map[string]string{
			"cleanup.policy": "delete",
			"retention.ms":   strconv.FormatInt(cfg.Retention.Milliseconds(), 10),
		},
		AddMissingConfigs: true,
		AwaitServed:       true,
	})
	return err
}

func (r *Recorder) run(ctx context.Context) {
	err := retry.Until(ctx, 30*time.Second, func() error { return EnsureTopic(ctx, r.cl, r.cfg) },
		func(err error, attempt int, wait time.Duration) {
			r.warn("trace: cannot create "+Topic+"; hops wait (and are dropped when the queue is full) until it exists", "attempt", attempt, "in", wait, "error", err)
		})
	if err != nil {
		return // aborted by Close: Kafka cannot take the hops
	}
	batch := make([]Hop, 0, r.cfg.MaxBatch)
	tick := time.NewTicker(r.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case h := <-r.queue:
			r.m.queued.Dec()
			batch = append(batch, h)
			if len(batch) < r.cfg.MaxBatch {
				continue
			}
		case <-tick.C:
		case <-r.stopping:
			r.write(batch)
			r.drain()
			return
		}
		r.write(batch)
		batch = batch[:0]
	}
}

// drain writes what is queued, in batches.
func (r *Recorder) drain() {
	batch := make([]Hop, 0, r.cfg.MaxBatch)
	for {
		select {
		case h := <-r.queue:
			r.m.queued.Dec()
			batch = append(batch, h)
			if len(batch) == r.cfg.MaxBatch {
				r.write(batch)
				batch = batch[:0]
			}
			continue
		default:
		}
		break
	}
	r.write(batch)
}

// write produces one record carrying hops, without waiting for Kafka.
func (r *Recorder) write(hops []Hop) {
	if len(hops) == 0 {
		return
	}
	rec, err := r.codec.Record(r.site, r.component, hops)
	if err != nil {
		r.m.hops.WithLabelValues(ResultFailed).Add(float64(len(hops)))
		r.warn("trace: hops not encoded", "error", err)
		return
	}
	n := float64(len(hops))
	r.inflight.Add(1)
	r.cl.TryProduce(context.Background(), rec, func(_ *kgo.Record, err error) {
		defer func() {
			r.inflight.Add(-1)
			select {
			case r.acked <- struct{}{}:
			default:
			}
		}()
		switch {
		case err == nil:
			r.m.hops.WithLabelValues(ResultWritten).Add(n)
			r.m.records.Inc()
		case errors.Is(err, kgo.ErrMaxBuffered):
			r.m.hops.WithLabelValues(ResultDropped).Add(n)
		default:
			r.m.hops.WithLabelValues(ResultFailed).Add(n)
			r.warn("trace: Kafka refused a record of hops", "topic", Topic, "hops", n, "error", err)
		}
	})
}

// warn logs at most one line a minute: a failing trace topic must not
// flood the log of a component that otherwise works.
func (r *Recorder) warn(msg string, args ...any) {
	r.logMu.Lock()
	now := time.Now()
	if now.Sub(r.loggedAt) < time.Minute {
		r.logMu.Unlock()
		return
	}
	r.loggedAt = now
	r.logMu.Unlock()
	r.log.Warn(msg, args...)
}
