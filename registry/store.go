package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// store tails the _schemas topic into state and, while this instance leads,
// writes changes to it.
type store struct {
	topic  string
	logger *slog.Logger
	state  *state
	reader *kgo.Client

	caughtUp atomic.Bool

	mu     sync.Mutex // serializes writes
	writer *kgo.Client
}

// ensureTopic creates the _schemas topic with the configs the registry
// relies on (one partition for a total order, compaction so the log stays
// small) if it does not exist.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, replicationFactor int16) error {
	configs := map[string]*string{
		"cleanup.policy":        kadm.StringPtr("compact"),
		"min.compaction.lag.ms": kadm.StringPtr("0"),
	}
	resp, err := adm.CreateTopic(ctx, 1, replicationFactor, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// run applies the log until ctx ends. It marks the store caught up once it
// has read everything committed when it started: applied at least to
// endAtStart, or, since transaction markers take offsets but are never
// delivered, found nothing more to read for a while.
func (st *store) run(ctx context.Context, endAtStart int64) error {
	quiet := time.Duration(0)
	for ctx.Err() == nil {
		pollCtx := ctx
		var cancel context.CancelFunc = func() {}
		if !st.caughtUp.Load() {
			pollCtx, cancel = context.WithTimeout(ctx, 250*time.Millisecond)
		}
		fs := st.reader.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		n := 0
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				st.logger.Warn("reading _schemas", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			st.state.apply(r.Offset, r.Key, r.Value)
			n++
		})
		if st.caughtUp.Load() {
			continue
		}
		if n == 0 {
			quiet += 250 * time.Millisecond
		} else {
			quiet = 0
		}
		applied, _ := st.state.waitCh()
		if applied >= endAtStart || (n == 0 && applied > 0 && quiet >= 500*time.Millisecond) || quiet >= 3*time.Second {
			st.caughtUp.Store(true)
			st.logger.Info("schemas loaded", "topic", st.topic, "next_offset", applied)
		}
	}
	return nil
}

// waitApplied blocks until the record at offset has been applied.
func (st *store) waitApplied(ctx context.Context, offset int64) error {
	for {
		applied, ch := st.state.waitCh()
		if applied > offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for offset %d of %s to be applied: %w", offset, st.topic, ctx.Err())
		}
	}
}

// errNotLeader is returned by write when this instance does not hold the
// transactional writer.
var errNotLeader = errors.New("this registry instance is not the leader")

// write appends records to the log in one transaction and returns once they
// have been applied here, so the caller reads its own write.
func (st *store) write(ctx context.Context, recs ...logRecord) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.writeLocked(ctx, recs...)
}

func (st *store) writeLocked(ctx context.Context, recs ...logRecord) error {
	w := st.writer
	if w == nil {
		return errNotLeader
	}
	if err := w.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		k, v, err := r.encode()
		if err != nil {
			_ = w.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
		krs = append(krs, &kgo.Record{Topic: st.topic, Partition: 0, Key: k, Value: v})
	}
	res := w.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		_ = w.EndTransaction(ctx, kgo.TryAbort)
		return st.failed(fmt.Errorf("write to %s: %w", st.topic, err))
	}
	if err := w.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return st.failed(fmt.Errorf("commit to %s: %w", st.topic, err))
	}
	last := krs[len(krs)-1].Offset
	return st.waitApplied(ctx, last)
}

// failed handles a failed write. A fenced producer means another instance
// took the writer: this one steps down at once rather than keep failing, and
// its writes go to the new leader from then on. Call with st.mu held.
func (st *store) failed(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		st.logger.Warn("registry writer fenced by another instance; stepping down", "err", err)
		if st.writer != nil {
			st.writer.Close()
			st.writer = nil
		}
		return fmt.Errorf("%w: %w", errNotLeader, err)
	}
	return err
}

// setWriter installs (or, with nil, removes) the transactional writer.
func (st *store) setWriter(w *kgo.Client) {
	st.mu.Lock()
	old := st.writer
	st.writer = w
	st.mu.Unlock()
	if old != nil && old != w {
		old.Close()
	}
}

func (st *store) isWriter() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.writer != nil
}

// endOffset returns the committed end of the log (read_committed).
func endOffset(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok {
		return 0, fmt.Errorf("topic %s has no partition 0", topic)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("end offset of %s: %w", topic, o.Err)
	}
	return o.Offset, nil
}
