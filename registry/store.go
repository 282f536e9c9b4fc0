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

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/retry"
)

// store tails the _schemas topic into state and, while this instance leads,
// writes changes to it.
//
// Who locks what: the state locks itself (see state). The store owns the
// writer's turn, a one-slot semaphore that serialises every write from its
// plan to its apply (update, lead, stepDown and close take it), and wmu,
// which guards only the writer pointer and the closed flag and is never
// held across I/O, so that isWriter answers at once even while a write is
// in progress.
type store struct {
	topic  string
	logger *slog.Logger
	state  *state

	// phase says how far loading the log has come (loading, awaitingLog,
	// loaded); the API serves nothing before loaded.
	phase atomic.Int32
	// catchUp, set on a follower site before the store runs, returns the
	// position the primary's state has reached, or 0 when it cannot tell.
	// Loading ends once this instance has reached it too (target).
	catchUp func(ctx context.Context) int64
	target  atomic.Int64

	// turn is held by the one write in progress. A channel rather than a
	// mutex, so that waiting for it ends with the waiter's context.
	turn chan struct{}
	// quit is closed by close: writes waiting for their turn or for their
	// records to be applied give up.
	quit chan struct{}

	// checkRecord refuses a record the log would not take (limits).
	checkRecord func(key, value []byte) error

	wmu    sync.Mutex
	writer *kgo.Client // the transactional producer; nil unless this instance leads
	closed bool        // set by close: no writer is installed any more
}

func newStore(topic string, logger *slog.Logger, st *state) *store {
	return &store{topic: topic, logger: logger, state: st, turn: make(chan struct{}, 1), quit: make(chan struct{})}
}

// The phases of loading the log.
const (
	phaseLoading     int32 = iota // reading what the log held when loading began
	phaseAwaitingLog              // the log does not exist at this site yet
	phaseLoaded                   // caught up: the state is complete
)

func (st *store) loaded() bool { return st.phase.Load() == phaseLoaded }

// errNotLeader is returned by a write when this instance does not hold the
// transactional writer.
var errNotLeader = errors.New("this registry instance is not the leader")

// errClosing is returned to writes still waiting when the registry closes.
var errClosing = fmt.Errorf("%w: the instance is closing", errNotLeader)

// ensureTopic creates the _schemas topic with the configs the registry
// relies on (one partition for a total order, compaction so the log stays
// small) if it does not exist, and refuses one that is not compacted:
// retention would delete schemas that clients still name by id.
func ensureTopic(ctx context.Context, cl *kgo.Client, topic string, replicationFactor int16) error {
	_, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{
		Name: topic, Partitions: 1, ReplicationFactor: replicationFactor, Compacted: true,
		Configs: map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
	})
	return err
}

// endOffset returns the committed end of the log (read_committed). A log
// that does not exist is an error that wraps kerr.UnknownTopicOrPartition.
func endOffset(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if o, ok := ends.Lookup(topic, -1); ok && o.Err != nil { // kadm's entry for a topic that does not exist
		return 0, fmt.Errorf("topic %s: %w", topic, o.Err)
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

// awaitLogInterval caps the wait between two looks for a log that does
// not exist yet.
const awaitLogInterval = time.Second

// load reads the log into the state until ctx ends, from its start, whose
// end was end. When the log does not exist yet (awaiting says why: a
// follower site whose replicator has not copied it yet), load first waits
// for it, in phaseAwaitingLog, and then loads whatever it holds by then.
// reader is a direct consumer without partitions; load adds the log's.
func (st *store) load(ctx context.Context, reader *kgo.Client, end int64, awaiting string) {
	if awaiting != "" {
		st.phase.Store(phaseAwaitingLog)
		st.logger.Info("waiting for the schema log", "topic", st.topic, "why", awaiting)
		var err error
		if end, err = st.awaitLog(ctx, reader); err != nil {
			return // closing
		}
		st.phase.Store(phaseLoading)
	}
	reader.AddConsumePartitions(map[string]map[int32]kgo.Offset{st.topic: {0: kgo.NewOffset().AtStart()}})
	st.run(ctx, reader, end)
}

// awaitLog waits until the log exists and returns its end offset then, or
// ctx's error. It asks through cl, which consumes nothing yet.
func (st *store) awaitLog(ctx context.Context, cl *kgo.Client) (int64, error) {
	adm := kadm.NewClient(cl)
	var end int64
	err := retry.Until(ctx, awaitLogInterval, func() error {
		// The client keeps what it learnt of a topic, its absence included,
		// for a while (kgo.MetadataMinAge, 5s): forget it, so that the next
		// look asks the cluster.
		cl.PurgeTopicsFromClient(st.topic)
		var err error
		end, err = endOffset(ctx, adm, st.topic)
		return err
	}, func(err error, attempt int, wait time.Duration) {
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			st.logger.Warn("looking for the schema log", "topic", st.topic, "attempt", attempt, "retry_in", wait, "err", err)
		}
	})
	if err != nil {
		return 0, err
	}
	st.logger.Info("the schema log has arrived; loading it", "topic", st.topic, "end_offset", end)
	return end, nil
}

// run applies the log read by reader until ctx ends. It marks the store
// loaded once it has read everything committed when it started (applied
// at least to endAtStart, or, since transaction markers take offsets but
// are never delivered, found nothing more to read for a while) and, on a
// follower site, reached the position the primary had then (catchUp): a
// copy of the log that the replicator is still filling is not complete.
func (st *store) run(ctx context.Context, reader *kgo.Client, endAtStart int64) {
	quiet := time.Duration(0)
	readToEnd := false
	for ctx.Err() == nil {
		pollCtx := ctx
		var cancel context.CancelFunc = func() {}
		if !st.loaded() {
			pollCtx, cancel = context.WithTimeout(ctx, 250*time.Millisecond)
		}
		fs := reader.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return
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
		if st.loaded() {
			continue
		}
		if n == 0 {
			quiet += 250 * time.Millisecond
		} else {
			quiet = 0
		}
		var applied, position int64
		st.state.read(func(v *view) { applied, position = v.nextOffset(), v.position() })
		if !readToEnd && (applied >= endAtStart || (n == 0 && applied > 0 && quiet >= 500*time.Millisecond) || quiet >= 3*time.Second) {
			readToEnd = true
			if st.catchUp != nil {
				st.target.Store(st.catchUp(ctx))
			}
		}
		if readToEnd && position >= st.target.Load() {
			st.phase.Store(phaseLoaded)
			st.logger.Info("schemas loaded", "topic", st.topic, "next_offset", applied, "position", position)
		}
	}
}

// lock takes the writer's turn, or fails when ctx ends or the store
// closes first.
func (st *store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting to write to %s: %w", st.topic, err)
	}
	select {
	case st.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to write to %s: %w", st.topic, ctx.Err())
	case <-st.quit:
		return errClosing
	}
}

func (st *store) unlock() { <-st.turn }

// update makes one change to the log. It takes the writer's turn, runs
// plan under the state's read lock to decide the records from one
// consistent view, writes them in one transaction, ended by the write's
// mark (see writeMark), and returns once they are applied here, so the
// caller reads its own write. The turn is held from the plan to the
// apply, so no concurrent update can take an id or a version that plan
// chose. A plan that returns no records writes nothing and needs no
// leadership; a plan's error is returned as it is.
//
// The position returned is the write's, or, when plan wrote nothing, that
// of the newest write in the state it planned from: an instance that has
// applied that position holds everything the answer was decided from
// (forwarding waits for it, see forward).
func (st *store) update(ctx context.Context, plan func(v *view) ([]logRecord, error)) (position int64, err error) {
	if err := st.lock(ctx); err != nil {
		return 0, err
	}
	defer st.unlock()
	var recs []logRecord
	st.state.read(func(v *view) {
		if recs, err = plan(v); err == nil && len(recs) > 0 {
			position = v.nextOffset()
			recs = append(recs, logRecord{key: noopKey(), value: writeMark{Position: position}})
		} else {
			position = v.position()
		}
	})
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return position, nil
	}
	if err := st.writeLocked(ctx, recs...); err != nil {
		return 0, err
	}
	return position, nil
}

// writeLocked appends records to the log in one transaction and returns
// once they have been applied here. Call with the turn held.
func (st *store) writeLocked(ctx context.Context, recs ...logRecord) error {
	w := st.currentWriter()
	if w == nil {
		return errNotLeader
	}
	if err := w.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		k, v, err := r.encode()
		if err == nil && st.checkRecord != nil {
			err = st.checkRecord(k, v)
		}
		if err != nil {
			_ = w.EndTransaction(ctx, kgo.TryAbort)
			return err
		}
		krs = append(krs, &kgo.Record{Topic: st.topic, Partition: 0, Key: k, Value: v})
	}
	res := w.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		_ = w.EndTransaction(ctx, kgo.TryAbort)
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return fmt.Errorf("%w: write to %s: %w", errSchemaTooLarge(), st.topic, err)
		}
		return st.failed(w, fmt.Errorf("write to %s: %w", st.topic, err))
	}
	if err := w.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return st.failed(w, fmt.Errorf("commit to %s: %w", st.topic, err))
	}
	last := krs[len(krs)-1].Offset
	return st.waitApplied(ctx, last)
}

// waitApplied blocks until the record at offset has been applied.
func (st *store) waitApplied(ctx context.Context, offset int64) error {
	err := st.state.await(ctx, st.quit, func(v *view) bool { return v.nextOffset() > offset })
	if err != nil {
		return fmt.Errorf("waiting for offset %d of %s to be applied: %w", offset, st.topic, err)
	}
	return nil
}

// failed handles a failed write by w. A fenced producer means another
// instance took the writer: this one steps down at once rather than keep
// failing, and its writes go to the new leader from then on. Call with the
// turn held.
func (st *store) failed(w *kgo.Client, err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		st.logger.Warn("registry writer fenced by another instance; stepping down", "err", err)
		st.wmu.Lock()
		mine := st.writer == w // else close took it, and closed it
		if mine {
			st.writer = nil
		}
		st.wmu.Unlock()
		if mine {
			w.Close()
		}
		return fmt.Errorf("%w: %w", errNotLeader, err)
	}
	return err
}

// lead installs w as the writer and writes announce with it, in one turn:
// no other write comes between, so every write by this leader is planned
// from state applied at least up to its announcement, which is to say
// complete. When the announcement fails, w is removed and closed. lead
// takes ownership of w.
func (st *store) lead(ctx context.Context, w *kgo.Client, announce logRecord) error {
	if err := st.lock(ctx); err != nil {
		w.Close()
		return err
	}
	defer st.unlock()
	if !st.swapWriter(w) {
		return errClosing
	}
	if err := st.writeLocked(ctx, announce); err != nil {
		st.swapWriter(nil)
		return err
	}
	return nil
}

// stepDown removes the writer, after the write in progress if any.
func (st *store) stepDown(ctx context.Context) error {
	if err := st.lock(ctx); err != nil {
		return err
	}
	defer st.unlock()
	st.swapWriter(nil)
	return nil
}

// swapWriter installs w (or, with nil, none) and closes the writer it
// replaces. It refuses (closing w) once the store is closed. Call with the
// turn held, or from close.
func (st *store) swapWriter(w *kgo.Client) bool {
	st.wmu.Lock()
	old, closed := st.writer, st.closed
	if !closed {
		st.writer = w
	}
	st.wmu.Unlock()
	if closed {
		if w != nil {
			w.Close()
		}
		return false
	}
	if old != nil && old != w {
		old.Close()
	}
	return true
}

func (st *store) currentWriter() *kgo.Client {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	return st.writer
}

func (st *store) isWriter() bool { return st.currentWriter() != nil }

// close gives up the writer for good and ends every write. It waits, at
// most until ctx ends, for the write in progress to finish; after that it
// closes the writer under it, which fails the write. Writes still waiting
// for their turn or their apply get errClosing. Call once.
func (st *store) close(ctx context.Context) error {
	var err error
	select {
	case st.turn <- struct{}{}: // no write in progress, whatever ctx says
	default:
		err = st.lock(ctx)
	}
	if err == nil {
		defer st.unlock()
	}
	close(st.quit)
	st.wmu.Lock()
	w := st.writer
	st.writer, st.closed = nil, true
	st.wmu.Unlock()
	if w != nil {
		w.Close()
	}
	if err != nil {
		return fmt.Errorf("registry: stopped the write in progress: %w", err)
	}
	return nil
}
