package traceindex

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/trace"
)

// partitionsInterval is how often Follow looks for new partitions of
// _mesh.trace; sweepInterval how often it drops old buckets.
const (
	partitionsInterval = 30 * time.Second
	sweepInterval      = time.Minute
)

// FollowOptions are the options of the client Follow reads with, to add
// to the site's client options (kafkaclient.New): every partition of
// _mesh.trace assigned directly, read_committed, from the offsets stored
// in the index (the start, for an index that is new or was lost).
func (ix *Index) FollowOptions() ([]kgo.Opt, error) {
	next, err := ix.Offsets()
	if err != nil {
		return nil, fmt.Errorf("trace index: reading its offsets: %w", err)
	}
	return []kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{trace.Topic: ix.startOffsets(next, []int32{0})}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, nil
}

func (ix *Index) startOffsets(next map[int32]int64, partitions []int32) map[int32]kgo.Offset {
	out := map[int32]kgo.Offset{}
	for _, p := range partitions {
		if o, ok := next[p]; ok {
			out[p] = kgo.NewOffset().At(o)
		} else {
			out[p] = kgo.NewOffset().AtStart()
		}
	}
	for p, o := range next {
		out[p] = kgo.NewOffset().At(o)
	}
	return out
}

// Follow indexes what cl (made with FollowOptions) reads until ctx ends.
// It adds partitions of _mesh.trace as they appear, and drops old
// buckets every minute. A record that is not a batch of hops is skipped
// (and logged).
func (ix *Index) Follow(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	known := map[int32]bool{0: true}
	next, _ := ix.Offsets()
	for p := range next {
		known[p] = true
	}
	lookedAt, sweptAt := time.Time{}, time.Time{}
	for ctx.Err() == nil {
		if time.Since(lookedAt) > partitionsInterval {
			lookedAt = time.Now()
			ix.addPartitions(ctx, cl, adm, known)
		}
		if time.Since(sweptAt) > sweepInterval {
			sweptAt = time.Now()
			if err := ix.Sweep(); err != nil {
				ix.log.Warn("trace index: dropping old hops failed; trying again in a minute", "error", err)
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollRecords(pctx, 5000)
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ix.log.Warn("trace index: reading failed", "topic", t, "partition", p, "error", err)
			}
		})
		var recs []Record
		reached := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) {
			reached[r.Partition] = r.Offset + 1
			hops, err := ix.codec.Decode(r)
			if err != nil {
				ix.log.Warn("trace index: a record of _mesh.trace is not a batch of hops; skipped", "partition", r.Partition, "offset", r.Offset, "error", err)
				return
			}
			recs = append(recs, Record{Partition: r.Partition, Offset: r.Offset, Hops: hops})
		})
		if len(reached) == 0 {
			continue
		}
		if err := ix.Apply(recs, reached); err != nil {
			// The offsets were not stored either: read again from them.
			ix.log.Error("trace index: writing failed; reading again from the last stored offsets", "error", err)
			stored, _ := ix.Offsets()
			cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{trace.Topic: epochOffsets(stored, reached)})
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func epochOffsets(stored, reached map[int32]int64) map[int32]kgo.EpochOffset {
	out := map[int32]kgo.EpochOffset{}
	for p := range reached {
		out[p] = kgo.EpochOffset{Epoch: -1, Offset: stored[p]}
	}
	return out
}

// addPartitions starts reading the partitions of _mesh.trace not read yet.
func (ix *Index) addPartitions(ctx context.Context, cl *kgo.Client, adm *kadm.Client, known map[int32]bool) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	td, err := adm.ListTopics(lctx, trace.Topic)
	if err != nil {
		ix.log.Warn("trace index: cannot list the partitions of _mesh.trace; trying again", "error", err)
		return
	}
	d, ok := td[trace.Topic]
	if !ok || d.Err != nil {
		return // not created yet: the first recorder or replicator creates it
	}
	var added []int32
	for p := range d.Partitions {
		if !known[p] {
			known[p] = true
			added = append(added, p)
		}
	}
	if len(added) > 0 {
		next, _ := ix.Offsets()
		offsets := map[int32]kgo.Offset{}
		for _, p := range added {
			offsets[p] = kgo.NewOffset().AtStart()
			if o, ok := next[p]; ok {
				offsets[p] = kgo.NewOffset().At(o)
			}
		}
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{trace.Topic: offsets})
		ix.log.Info("trace index: reading new partitions of _mesh.trace", "partitions", added)
	}
}
