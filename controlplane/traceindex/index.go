package traceindex

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/meshwork/meshwork/trace"
)

// Index is the on-disk index of trace hops. Its methods are safe for
// concurrent use: one writer (Follow, or Apply) and any number of readers.
type Index struct {
	cfg   Config
	db    *pebble.DB
	cache interface{ Unref() }
	codec *trace.Codec
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex // serializes writers (Apply, Sweep)
	swept uint64     // the first bucket kept by the last sweep
}

// Open opens (or creates) the index in cfg.Dir.
func Open(cfg Config, log *slog.Logger) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("trace index: %w", err)
	}
	codec, err := trace.NewCodec()
	if err != nil {
		return nil, err
	}
	cache := pebble.NewCache(cfg.CacheBytes)
	db, err := pebble.Open(cfg.Dir, &pebble.Options{
		Cache:        cache,
		MemTableSize: cfg.MemTableBytes,
		// At most two memtables: one written, one flushed.
		MemTableStopWritesThreshold: 2,
		Logger:                      pebbleLogger{log},
	})
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("trace index: opening %s: %w; remove the directory to rebuild the index from _mesh.trace", cfg.Dir, err)
	}
	return &Index{cfg: cfg, db: db, cache: cache, codec: codec, log: log, now: time.Now}, nil
}

// Close closes the store.
func (ix *Index) Close() error {
	err := ix.db.Close()
	ix.cache.Unref()
	return err
}

// Record is one record of _mesh.trace: where it is, and its hops.
type Record struct {
	Partition int32
	Offset    int64
	Hops      []trace.Hop
}

// Apply indexes the hops of recs and stores next, the offsets of
// _mesh.trace to read next by partition, in one atomic batch: the index
// is always exactly the topic up to its stored offsets. Hops older than
// the retention are not indexed.
func (ix *Index) Apply(recs []Record, next map[int32]int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	b := ix.db.NewBatch()
	defer b.Close()
	now := ix.now()
	oldest := now.Add(-ix.cfg.Retention)
	latest := now.Add(ix.cfg.Bucket)
	for _, rec := range recs {
		for i, h := range rec.Hops {
			if h.EventID == "" || h.Time.Before(oldest) {
				continue
			}
			at := h.Time
			if at.After(latest) {
				at = now // a clock far ahead: kept where lookups look
			}
			bucket := ix.bucketOf(at)
			v, err := ix.codec.Marshal([]trace.Hop{h})
			if err != nil {
				return err
			}
			if err := b.Set(hopKey(bucket, h, rec.Partition, rec.Offset, i), v, nil); err != nil {
				return err
			}
			if h.TraceID != "" {
				if err := b.Set(traceKey(bucket, h.TraceID, h.EventID), nil, nil); err != nil {
					return err
				}
			}
			switch h.Action {
			case trace.ActionIngress, trace.ActionProduced, trace.ActionReplicated:
				// Where an event enters a site: what "recent traces of a
				// topic" lists (a delivery or dead letter follows one).
				if err := b.Set(topicKey(bucket, h.Topic, h.Time, h.EventID), []byte(h.TraceID), nil); err != nil {
					return err
				}
			}
		}
	}
	for p, o := range next {
		if err := b.Set(offsetKey(p), binary.BigEndian.AppendUint64(nil, uint64(o)), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("trace index: writing %d records: %w", len(recs), err)
	}
	return nil
}

// Offsets returns the offsets of _mesh.trace to read next, by partition.
func (ix *Index) Offsets() (map[int32]int64, error) {
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOffset}, UpperBound: []byte{prefixOffset + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[int32]int64{}
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) == 5 && len(v) == 8 {
			out[int32(binary.BigEndian.Uint32(k[1:]))] = int64(binary.BigEndian.Uint64(v))
		}
	}
	return out, it.Error()
}

// Sweep drops the buckets wholly older than the retention, with one range
// deletion per kind of key.
func (ix *Index) Sweep() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	keep := ix.bucketOf(ix.now().Add(-ix.cfg.Retention))
	if keep <= ix.swept {
		return nil
	}
	for _, prefix := range []byte{prefixEvent, prefixTrace, prefixTopic} {
		if err := ix.db.DeleteRange([]byte{prefix}, appendBucket(nil, prefix, keep), pebble.NoSync); err != nil {
			return fmt.Errorf("trace index: dropping hops before %s: %w", time.Unix(int64(keep), 0).UTC(), err)
		}
	}
	ix.swept = keep
	return nil
}

// Event returns the hops of the events of id, in causal order: by time,
// and at the same time by the step (ingress, produced, replicated,
// delivered). At most MaxHops.
func (ix *Index) Event(id string) ([]trace.Hop, error) {
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var hops []trace.Hop
	for _, bucket := range ix.buckets(ix.now()) {
		prefix := eventPrefix(bucket, id)
		for it.SeekGE(prefix); it.Valid() && bytes.HasPrefix(it.Key(), prefix); it.Next() {
			hs, err := ix.codec.Unmarshal(it.Value())
			if err != nil || len(hs) != 1 {
				ix.log.Warn("trace index: a stored hop does not decode; skipped", "event_id", id, "error", err)
				continue
			}
			hops = append(hops, hs[0])
			if len(hops) >= ix.cfg.MaxHops {
				break
			}
		}
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	SortCausal(hops)
	return hops, nil
}

// SortCausal sorts hops by time, and at the same time (the hops' times
// are in milliseconds) by step.
func SortCausal(hops []trace.Hop) {
	slices.SortStableFunc(hops, func(a, b trace.Hop) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Action, b.Action))
	})
}

// Trace returns the ids of the events of the trace traceID, at most
// limit.
func (ix *Index) Trace(traceID string, limit int) ([]string, error) {
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTrace}, UpperBound: []byte{prefixTrace + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	seen := map[string]bool{}
	var ids []string
	for _, bucket := range ix.buckets(ix.now()) {
		prefix := tracePrefix(bucket, traceID)
		for it.SeekGE(prefix); it.Valid() && bytes.HasPrefix(it.Key(), prefix) && len(ids) < limit; it.Next() {
			id := string(it.Key()[len(prefix):])
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, it.Error()
}

// Entry is an event that entered a site's topic: its id, trace id and
// when (the first such step at or after the time asked for).
type Entry struct {
	ID      string
	TraceID string
	Time    time.Time
}

// Recent returns the events that entered topic (at any site) at or after
// since, oldest first, each once, at most limit.
func (ix *Index) Recent(topic string, since time.Time, limit int) ([]Entry, error) {
	it, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTopic}, UpperBound: []byte{prefixTopic + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	seen := map[string]bool{}
	var out []Entry
	for _, bucket := range ix.buckets(ix.now()) {
		if bucket+uint64(ix.cfg.Bucket/time.Second) <= uint64(max(since.Unix(), 0)) {
			continue
		}
		prefix := topicPrefix(bucket, topic)
		for it.SeekGE(topicKey(bucket, topic, since, "")); it.Valid() && bytes.HasPrefix(it.Key(), prefix) && len(out) < limit; it.Next() {
			rest := it.Key()[len(prefix):]
			if len(rest) < 8 {
				continue
			}
			id := string(rest[8:])
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, Entry{ID: id, TraceID: string(it.Value()), Time: time.UnixMilli(int64(binary.BigEndian.Uint64(rest[:8]))).UTC()})
		}
	}
	return out, it.Error()
}

// pebbleLogger sends Pebble's log to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("trace index: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("trace index: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("trace index: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
