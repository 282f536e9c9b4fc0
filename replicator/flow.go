package replicator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/replicator/demand"
	"github.com/meshwork/meshwork/trace"
)

// route says which records of a unit come to this site and where copying
// starts when the unit had stopped.
type route struct {
	// Origins are the sites whose records this site takes from the unit's
	// source (one hop in a full mesh: the source itself).
	Origins []string
	// Start applies when the unit starts after a pause: see startOffsets.
	Start demand.Start
}

func (r route) equal(o route) bool { return slices.Equal(r.Origins, o.Origins) && r.Start == o.Start }

// flowKey names a flow: the units of one source site in one slot.
type flowKey struct {
	Source string
	Slot   int
}

// slotOf spreads a site's units over its slots: by topic and partition, so
// a unit keeps its slot (and its transactional id) whatever else changes.
func slotOf(topic string, partition int32, slots int) int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	h.Write([]byte{byte(partition >> 24), byte(partition >> 16), byte(partition >> 8), byte(partition)})
	return int(h.Sum32() % uint32(slots))
}

// transactionalIDs are stable per (target site, source site, slot), so a
// replica that takes a slot over fences the one that had it. A flow takes
// turns between txnProducers of them: see txnProducers.
func transactionalIDs(target string, k flowKey) []string {
	base := fmt.Sprintf("meshwork-replicator.%s.from.%s.%d", target, k.Source, k.Slot)
	ids := []string{base}
	for i := 1; i < txnProducers; i++ {
		ids = append(ids, fmt.Sprintf("%s.%d", base, i))
	}
	return ids
}

// txnProducers is how many transactional producers an exactly-once flow
// takes turns with. A transaction's records become readable only once the
// coordinator has written its commit markers, which it does after EndTxn
// has returned; a producer that begins its next transaction before that is
// answered CONCURRENT_TRANSACTIONS, and the broker retries after
// add.partitions.to.txn.retry.backoff.ms (20 ms by default). Back-to-back
// transactions on one id met that wait on about one in ten commits here
// (p90 of a commit 22 ms instead of 0.8 ms); with two ids in turn, one
// commits while the other's markers are written.
const txnProducers = 2

// flowDeps is all a flow uses of its replicator: New builds one for each
// source site, which that site's flows share.
type flowDeps struct {
	site string // the site copied into
	mode string // ExactlyOnce or AtLeastOnce
	cfg  Flow
	// accept is the topology's Accept: whether this site takes a record
	// of origin, with path, from the source.
	accept func(site, from, origin string, path []string) bool
	// known reports whether a site is one of the mesh's: mesh headers
	// naming another are refused (see refused.go).
	known   func(site string) bool
	cps     *checkpoints
	m       *flowMetrics
	limiter *rate.Limiter // of the bytes read from the source; nil: none
	clients flowClients
	admin   *kadm.Client // the source's: offsets by time
	// localAdm reads the limits of this site's topics; dlq creates its
	// dead-letter topics.
	localAdm *kadm.Client
	dlq      *dlq.Writer
	refusals *refusalLog
	trace    *trace.Recorder // nil when tracing is off
	log      *slog.Logger    // labelled with the source
}

// limit waits until n more bytes may be read from the source.
func (d *flowDeps) limit(ctx context.Context, n int) error {
	l := d.limiter
	if l == nil || n == 0 {
		return nil
	}
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// flow copies the units of one (source site, slot) into this site: it
// reads them read_committed from the source and writes their copies, with
// the source positions, in one transaction at a time.
type flow struct {
	d       *flowDeps
	key     flowKey
	plan    *running       // the units to copy, which change as the flow runs
	units   map[unit]route // those it copies now
	applied int            // the plan version of units
	log     *slog.Logger
	cpErr   atomic.Pointer[error] // at-least-once: a position write failed
	lastCp  time.Time             // when positions were last written
	lastTxn time.Time             // exactly-once: when the last transaction began
	prods   []*kgo.Client         // one at least once; txnProducers, in turn, exactly once
	turn    int                   // exactly-once: the producer of the next transaction
	limits  *recordLimits         // of the topics it writes here, which its producers cut batches by
}

// commitTimeout bounds the writing and commit of one batch.
const commitTimeout = 30 * time.Second

// errRestart asks the manager to start the flow again from its checkpoints.
var errRestart = errors.New("restart from the last checkpoint")

// checkpointFailed notes an at-least-once position write that failed; the
// flow then restarts from the last position written.
func (f *flow) checkpointFailed(_ *kgo.Record, err error) {
	if err != nil {
		f.cpErr.CompareAndSwap(nil, &err)
	}
}

func (f *flow) run(ctx context.Context) error {
	eos := f.d.mode == ExactlyOnce
	ids := []string{""}
	commit := f.commitAtLeastOnce
	if eos {
		ids = transactionalIDs(f.d.site, f.key)
		commit = f.commitExactlyOnce
	}
	defer func() {
		// At-least-once positions still buffered go out before the end.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, p := range f.prods {
			_ = p.Flush(fctx)
			p.Close()
		}
	}()
	f.limits = newRecordLimits()
	for _, id := range ids {
		prod, err := f.d.clients.producer(id, f.limits.get)
		if err != nil {
			return fmt.Errorf("producer to %s: %w", f.d.site, err)
		}
		f.prods = append(f.prods, prod)
		if id != "" {
			// Fences any earlier owner of this slot: its open transaction
			// is aborted before the checkpoints are read.
			if _, _, err := prod.ProducerID(ctx); err != nil {
				return fmt.Errorf("initialising transactional producer %s: %w", id, err)
			}
		}
	}
	if err := f.d.cps.sync(ctx); err != nil {
		return err
	}
	f.units, f.applied, _ = f.plan.plan(ctx)
	if err := f.limits.lookup(ctx, f.d.localAdm, topicsOf(maps.Keys(f.units))...); err != nil {
		return err
	}
	offsets, err := f.startOffsets(ctx, maps.Keys(f.units))
	if err != nil {
		return err
	}
	cons, err := f.d.clients.consumer(offsets, f.plan.heard)
	if err != nil {
		return fmt.Errorf("consumer of %s: %w", f.key.Source, err)
	}
	defer cons.Close()
	f.plan.took(f.units)
	f.log.Info("replicator: flow started", "units", len(f.units), "topics", topicsOf(maps.Keys(f.units)), "mode", f.d.mode)
	defer f.log.Info("replicator: flow stopped")

	state := map[unit]*unitState{}
	for u := range f.units {
		cp, _ := f.d.cps.get(u)
		state[u] = &unitState{copied: cp.Copied}
	}
	for {
		units, version, pollCtx := f.plan.plan(ctx)
		if version != f.applied {
			if err := f.replan(ctx, cons, state, units, version); err != nil {
				return err
			}
		}
		fs := f.poll(pollCtx, cons)
		polled := time.Now()
		if ctx.Err() != nil || fs.IsClientClosed() {
			if !eos {
				f.finalPositions(state)
			}
			return ctx.Err()
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			f.d.m.fetchErrors.WithLabelValues(f.key.Source, t).Inc()
			f.log.Warn("replicator: fetch failed", "topic", t, "partition", p, "error", err)
			fetchErr = err
		})
		b := f.batch(fs, state)
		for u, st := range state {
			if st.pending {
				b.touched = append(b.touched, u)
			}
		}
		if err := f.d.limit(ctx, b.bytes); err != nil {
			return err
		}
		if len(b.copies) == 0 && len(b.refused) == 0 && (len(b.touched) == 0 || time.Since(f.lastCp) < f.d.cfg.CheckpointInterval) {
			if fetchErr != nil {
				select { // a source that is down: do not spin
				case <-time.After(time.Second):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			continue
		}
		// Skipped records advance positions too; those are checkpointed
		// with the next copies, or on their own every checkpoint_interval.
		// A transaction under way is finished even when the flow is told
		// to stop: one left open would hold back every read_committed
		// reader of its partitions here until the transaction timeout.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		err := commit(cctx, b, state)
		cancel()
		if err != nil {
			return err
		}
		f.plan.committed(f.d.m.failing.WithLabelValues(f.key.Source))
		f.traceCopies(b, polled)
	}
}

// traceCopies records a REPLICATED hop for each sampled event b copied
// (committed: each copy has its partition and offset here), held from
// polled, when the flow read it, to now. The mesh's own topics are not
// events and record none (a hop for a copied _mesh.trace record would
// trace the tracing).
func (f *flow) traceCopies(b batch, polled time.Time) {
	rec := f.d.trace
	if rec == nil {
		return
	}
	var hops []trace.Hop
	for _, c := range b.copies {
		if strings.HasPrefix(c.Topic, "_") {
			continue
		}
		ev := trace.EventOf(c.Headers)
		if !rec.SampledEvent(ev) {
			continue
		}
		h := trace.KafkaHop(ev, c, trace.ActionReplicated, trace.OutcomeOK)
		h.Duration = max(h.Time.Sub(polled), time.Microsecond)
		h.Address = "kafka://" + f.key.Source // where it was copied from
		hops = append(hops, h)
	}
	rec.Record(hops...)
}

// replan changes the units the flow copies to units, between two batches:
// the partitions of units no longer planned are removed from the consumer
// (what it had fetched of them is dropped, and read again from their
// checkpoint if they return), and new ones are added at their start
// offsets. The other units, and the producers, are not touched: a
// transaction under way has been committed before, and the next one
// carries only planned units.
func (f *flow) replan(ctx context.Context, cons *kgo.Client, state map[unit]*unitState, units map[unit]route, version int) error {
	began := time.Now()
	var gone, added []unit
	for u := range f.units {
		if _, ok := units[u]; !ok {
			gone = append(gone, u)
		}
	}
	for u := range units {
		if _, ok := f.units[u]; !ok {
			added = append(added, u)
		}
	}
	if len(gone) > 0 {
		if err := f.leave(ctx, state, gone); err != nil {
			return err
		}
		remove := map[string][]int32{}
		for _, u := range gone {
			remove[u.Topic] = append(remove[u.Topic], u.Partition)
			delete(state, u)
			f.d.m.lagRecords.DeleteLabelValues(u.Source, u.Topic, fmt.Sprint(u.Partition))
			f.d.m.lagSeconds.DeleteLabelValues(u.Source, u.Topic, fmt.Sprint(u.Partition))
		}
		cons.RemoveConsumePartitions(remove)
		f.d.m.replans.WithLabelValues(f.key.Source, "removed").Add(float64(len(gone)))
	}
	f.units, f.applied = units, version
	if len(added) > 0 {
		// A unit may come back to this flow, or come from another
		// replica's: its checkpoint is read anew.
		if err := f.d.cps.sync(ctx); err != nil {
			return err
		}
		if err := f.limits.lookup(ctx, f.d.localAdm, topicsOf(slices.Values(added))...); err != nil {
			return err
		}
		offsets, err := f.startOffsets(ctx, slices.Values(added))
		if err != nil {
			return err
		}
		for _, u := range added {
			cp, _ := f.d.cps.get(u)
			state[u] = &unitState{copied: cp.Copied}
		}
		cons.AddConsumePartitions(offsets)
		f.d.m.replans.WithLabelValues(f.key.Source, "added").Add(float64(len(added)))
	}
	f.plan.took(units)
	f.log.Info("replicator: flow changed", "added", len(added), "removed", len(gone), "units", len(units), "took", time.Since(began),
		"added_topics", topicsOf(slices.Values(added)), "removed_topics", topicsOf(slices.Values(gone)))
	return nil
}

// leave writes, at least once, the positions of units the flow stops
// copying that are ahead of their checkpoints, and waits for them: the
// flow may take the same units again before its next commit, from their
// checkpoints. Exactly once, every copy was committed with its position,
// and a position ahead of its checkpoint only passed records that are not
// copied here: they are read again, and skipped again, if the unit returns.
func (f *flow) leave(ctx context.Context, state map[unit]*unitState, gone []unit) error {
	if f.d.mode == ExactlyOnce {
		return nil
	}
	now, prod, n := time.Now(), f.prods[0], 0
	for _, u := range gone {
		if st := state[u]; st.pending {
			prod.Produce(ctx, u.checkpointRecord(checkpoint{NextOffset: st.next, Copied: st.copied, Time: now}), f.checkpointFailed)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		return fmt.Errorf("writing the positions of units leaving the flow (%w): %w", errRestart, err)
	}
	if e := f.cpErr.Load(); e != nil {
		return fmt.Errorf("writing a checkpoint (%w): %w", errRestart, *e)
	}
	return nil
}

// topicsOf lists the topics of units, sorted, each once.
func topicsOf(units iter.Seq[unit]) []string {
	var topics []string
	for u := range units {
		if !slices.Contains(topics, u.Topic) {
			topics = append(topics, u.Topic)
		}
	}
	slices.Sort(topics)
	return topics
}

// finalPositions writes, when an at-least-once flow stops, the positions
// not yet written, so that the next start copies nothing twice.
func (f *flow) finalPositions(state map[unit]*unitState) {
	now, prod := time.Now(), f.prods[0]
	for u, st := range state {
		if st.pending {
			prod.Produce(context.Background(), u.checkpointRecord(checkpoint{NextOffset: st.next, Copied: st.copied, Time: now}), f.checkpointFailed)
		}
	}
	// The deferred flush sends them.
}

// poll returns the next records of the flow's units, waiting for the
// first. In exactly-once mode a flow starts a transaction at most every
// transaction_interval: what arrives before then joins the batch (up to
// max_batch_bytes). Each transaction costs the brokers round trips and log
// writes, so bounding their number keeps the brokers' work per record low.
// A record that finds its flow idle waits for nothing. At-least-once
// batches carry no such cost and go at once.
//
// While it waits, the flow does not poll: each poll lets the client fetch
// again, and a fetch returns with the first record that arrives, so polling
// through the interval cost the source a fetch per record. It sleeps, then
// takes what the client fetched meanwhile and, with one more fetch, what
// arrived after that.
func (f *flow) poll(ctx context.Context, cons *kgo.Client) kgo.Fetches {
	fs := withoutPollEnd(cons.PollFetches(ctx))
	interval := f.d.cfg.TransactionInterval
	if f.d.mode != ExactlyOnce || interval <= 0 || fs.Empty() || ctx.Err() != nil {
		return fs
	}
	if wait := time.Until(f.lastTxn.Add(interval)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fs
		}
	}
	if fetchBytes(fs) >= f.d.cfg.MaxBatchBytes {
		return fs
	}
	// The fetch the client made after the first poll, if it is back; taking
	// it sends the next, which finds what arrived since and comes back
	// within a round trip. A nil context is franz-go's documented way to
	// take only what is buffered, without waiting.
	//lint:ignore SA1012 franz-go's PollFetches returns at once, with what is buffered, for a nil context
	more := cons.PollFetches(nil)
	if more.Empty() {
		return fs
	}
	fs = append(fs, more...)
	lctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	return append(fs, withoutPollEnd(cons.PollFetches(lctx))...)
}

// withoutPollEnd drops the fake fetch a client injects when a poll's
// context expires or is cancelled (a new plan wakes the flow). Only that
// one: a poll can return records and its context end an instant later.
func withoutPollEnd(fs kgo.Fetches) kgo.Fetches {
	return slices.DeleteFunc(fs, func(f kgo.Fetch) bool {
		if len(f.Topics) != 1 || f.Topics[0].Topic != "" || len(f.Topics[0].Partitions) != 1 {
			return false
		}
		p := f.Topics[0].Partitions[0]
		return p.Partition == -1 && (errors.Is(p.Err, context.DeadlineExceeded) || errors.Is(p.Err, context.Canceled))
	})
}

// drainTimeout bounds the wait for the fetch that drains the source at the
// end of a transaction interval: a round trip, as the data is there.
const drainTimeout = 2 * time.Millisecond

func fetchBytes(fs kgo.Fetches) int {
	n := 0
	fs.EachRecord(func(r *kgo.Record) { n += len(r.Key) + len(r.Value) })
	return n
}

// unitState is a unit's progress within a running flow.
type unitState struct {
	next     int64 // next source offset, once something was read
	read     bool
	pending  bool // read past next's last checkpoint
	copied   int64
	lastTime time.Time // timestamp of the last record read
	lastCopy time.Time // when copies of the unit were last committed
}

// copiedUnit is a unit a batch copies, with the timestamp of its first
// record in the batch.
type copiedUnit struct {
	unit
	first time.Time
}

type batch struct {
	copies  []*kgo.Record
	refused []refusal // read and not copied: dead-lettered here
	touched []unit
	copied  []copiedUnit // the units with copies
	bytes   int
}

// batch turns one poll into the copies this site takes and the positions
// they reach.
func (f *flow) batch(fs kgo.Fetches, state map[unit]*unitState) batch {
	var b batch
	site := f.d.site
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		u := unit{Source: f.key.Source, Topic: p.Topic, Partition: p.Partition}
		st, ok := state[u]
		rt := f.units[u]
		if !ok {
			return
		}
		before, first := len(b.copies), time.Time{}
		for _, r := range p.Records {
			b.bytes += len(r.Key) + len(r.Value)
			st.next, st.read, st.pending, st.lastTime = r.Offset+1, true, true, r.Timestamp
			if checked(p.Topic) {
				if rf := refuseHeaders(r, f.d.known); rf != nil {
					b.refused = append(b.refused, *rf)
					continue
				}
			}
			origin, path := envelope.Route(r.Headers)
			if origin == "" {
				origin = f.key.Source // produced at the source by a plain Kafka client
			}
			if !slices.Contains(rt.Origins, origin) || !f.d.accept(site, f.key.Source, origin, path) {
				f.d.m.skipped.WithLabelValues(f.key.Source, p.Topic).Inc()
				continue
			}
			c := copyRecord(r, f.key.Source, site)
			if limit := f.limits.get(p.Topic); kafkaclient.RecordBytes(c) > int(limit) {
				b.refused = append(b.refused, *refuseSize(r, c, limit, site))
				continue
			}
			if len(b.copies) == before {
				first = r.Timestamp
			}
			b.copies = append(b.copies, c)
			st.copied++
		}
		if len(b.copies) > before {
			b.copied = append(b.copied, copiedUnit{u, first})
		}
		if p.HighWatermark >= 0 && st.read {
			lag := max(0, p.HighWatermark-st.next)
			f.d.m.lagRecords.WithLabelValues(f.key.Source, p.Topic, fmt.Sprint(p.Partition)).Set(float64(lag))
			secs := 0.0
			if lag > 0 {
				secs = time.Since(st.lastTime).Seconds()
			}
			f.d.m.lagSeconds.WithLabelValues(f.key.Source, p.Topic, fmt.Sprint(p.Partition)).Set(secs)
		}
	})
	return b
}

// commitExactlyOnce writes the copies, the dead letters of the records the
// batch refused, and the positions of the units they touched in one
// transaction: produced together (the transaction
// makes them atomic, so the positions need not wait for the copies'
// acknowledgements), then flushed and committed, or aborted if any failed.
// Transactions take turns between the flow's producers (see txnProducers).
func (f *flow) commitExactlyOnce(ctx context.Context, b batch, state map[unit]*unitState) error {
	letters, err := f.letters(ctx, b.refused)
	if err != nil {
		return err
	}
	now, prod := time.Now(), f.prods[f.turn]
	f.turn = (f.turn + 1) % len(f.prods)
	cps := positions(b, state, now)
	f.lastTxn = now
	if err := prod.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	err = produceAndFlush(ctx, prod, b.copies, letters, cps)
	commit := kgo.TryCommit
	if err != nil {
		commit = kgo.TryAbort
		_ = prod.AbortBufferedRecords(ctx)
	}
	if endErr := prod.EndTransaction(ctx, commit); endErr != nil && err == nil {
		err = endErr
	}
	if err != nil {
		f.d.m.aborts.WithLabelValues(f.key.Source).Inc()
		if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
			return fmt.Errorf("fenced by another replica of %s: %w", f.d.site, err)
		}
		return fmt.Errorf("transaction aborted (%w): %w", errRestart, err)
	}
	f.positionsWritten(b, state, now)
	f.count(b, state)
	return nil
}

// commitAtLeastOnce writes the copies and the dead letters of the records
// the batch refused, and flushes them; then, at most
// every checkpoint_interval, the positions of the units they touched,
// without waiting for them: the next commit, or the flow's end, flushes
// them (a position lost with a crash only means copying some records
// again). A position write that failed restarts the flow from the last
// one written, at the next commit.
func (f *flow) commitAtLeastOnce(ctx context.Context, b batch, state map[unit]*unitState) error {
	if e := f.cpErr.Load(); e != nil {
		return fmt.Errorf("writing a checkpoint (%w): %w", errRestart, *e)
	}
	letters, err := f.letters(ctx, b.refused)
	if err != nil {
		return err
	}
	now, prod := time.Now(), f.prods[0]
	if err := produceAndFlush(ctx, prod, b.copies, letters); err != nil {
		return fmt.Errorf("produce (%w): %w", errRestart, err)
	}
	// Positions go at most every checkpoint_interval: each write is a
	// produce request to the one checkpoint partition, which all flows
	// share, and a lost one only means copying some records again.
	if now.Sub(f.lastCp) >= f.d.cfg.CheckpointInterval {
		for _, r := range positions(b, state, now) {
			// Not bound to ctx, which ends with this call: the next
			// commit, or the flow's end, flushes them.
			prod.Produce(context.Background(), r, f.checkpointFailed)
		}
		f.positionsWritten(b, state, now)
	}
	f.count(b, state)
	return nil
}

// positions are the checkpoint records, as of now, of the units b touched.
func positions(b batch, state map[unit]*unitState, now time.Time) []*kgo.Record {
	cps := make([]*kgo.Record, 0, len(b.touched))
	for _, u := range b.touched {
		st := state[u]
		cps = append(cps, u.checkpointRecord(checkpoint{NextOffset: st.next, Copied: st.copied, Time: now}))
	}
	return cps
}

// produceAndFlush produces every record of recs with prod, flushes it (and
// with it whatever prod held before), and returns the flush's error or
// else the first record's that failed.
func produceAndFlush(ctx context.Context, prod *kgo.Client, recs ...[]*kgo.Record) error {
	var (
		mu    sync.Mutex
		first error
	)
	failed := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	}
	for _, rs := range recs {
		for _, r := range rs {
			prod.Produce(ctx, r, failed)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// positionsWritten notes that the positions of the units b touched were
// written at now.
func (f *flow) positionsWritten(b batch, state map[unit]*unitState, now time.Time) {
	for _, u := range b.touched {
		state[u].pending = false
	}
	f.lastCp = now
}

// count adds a committed batch to the metrics, with the copy gaps: for
// each unit it copied whose first record was already at the source when
// the unit's previous copies were committed, the time since then. That
// record waited on the flow for the whole gap; a record written after the
// previous commit says only how the source is fed, and is not counted.
func (f *flow) count(b batch, state map[unit]*unitState) {
	now := time.Now()
	gaps := f.d.m.copyGap.WithLabelValues(f.key.Source)
	for _, c := range b.copied {
		st := state[c.unit]
		if st == nil || st.lastCopy.Equal(now) {
			continue
		}
		if !st.lastCopy.IsZero() && !c.first.After(st.lastCopy) {
			gaps.Observe(now.Sub(st.lastCopy).Seconds())
		}
		st.lastCopy = now
	}
	bytes := 0
	perTopic := map[string]int{}
	for _, r := range b.copies {
		bytes += len(r.Key) + len(r.Value)
		perTopic[r.Topic]++
	}
	for t, n := range perTopic {
		f.d.m.copied.WithLabelValues(f.key.Source, t).Add(float64(n))
	}
	f.d.m.copiedBytes.WithLabelValues(f.key.Source).Add(float64(bytes))
	for _, rf := range b.refused {
		f.d.m.refused.WithLabelValues(f.key.Source, rf.reason).Inc()
		f.d.refusals.refused(f.key.Source, rf)
	}
	f.d.m.transactions.WithLabelValues(f.key.Source).Inc()
}

// startOffsets says where each unit's copying starts: at its checkpoint,
// unless the interest began after the checkpoint was written (it returned
// after a pause) and asks for the latest, earliest or a time; a unit never
// copied starts at the source's earliest offset (nothing written before the
// interest is missed, as a new consumer group would read from the start).
func (f *flow) startOffsets(ctx context.Context, units iter.Seq[unit]) (map[string]map[int32]kgo.Offset, error) {
	out := map[string]map[int32]kgo.Offset{}
	var byTime []unit
	for u := range units {
		rt := f.units[u]
		if out[u.Topic] == nil {
			out[u.Topic] = map[int32]kgo.Offset{}
		}
		cp, ok := f.d.cps.get(u)
		o := kgo.NewOffset().AtStart()
		switch {
		case ok && (rt.Start.Resume == interest.ResumeCheckpoint || !rt.Start.Since.After(cp.Time)):
			o = kgo.NewOffset().At(cp.NextOffset)
		case rt.Start.Resume == interest.ResumeLatest:
			o = kgo.NewOffset().AtEnd()
		case rt.Start.Resume == interest.ResumeTimestamp:
			byTime = append(byTime, u)
		}
		out[u.Topic][u.Partition] = o
	}
	if len(byTime) == 0 {
		return out, nil
	}
	// Offsets by time are looked up at the source.
	for _, u := range byTime {
		at := f.units[u].Start.At
		res, err := f.d.admin.ListOffsetsAfterMilli(ctx, at.UnixMilli(), u.Topic)
		if err != nil {
			return nil, fmt.Errorf("offsets after %s of %s at %s: %w", at.Format(time.RFC3339), u.Topic, u.Source, err)
		}
		if lo, ok := res.Lookup(u.Topic, u.Partition); ok && lo.Err == nil {
			out[u.Topic][u.Partition] = kgo.NewOffset().At(lo.Offset)
		}
	}
	return out, nil
}

// copyRecord is r as this site receives it from source: same key, value,
// timestamp, partition and headers, with the hop stamped into its envelope.
func copyRecord(r *kgo.Record, source, site string) *kgo.Record {
	// The source record's context: with the Kafka clients' tracing hooks,
	// the copy's publish span follows the span of the record's fetch.
	return &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp,
		Headers: envelope.StampHop(r.Headers, source, site), Context: r.Context}
}

// sameUnits reports whether two flows copy the same units the same way.
func sameUnits(a, b map[unit]route) bool {
	return maps.EqualFunc(a, b, route.equal)
}
