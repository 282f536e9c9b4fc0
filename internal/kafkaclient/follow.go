package kafkaclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/retry"
)

// FollowOptions are the consuming options of a client that follows a
// compacted topic of the mesh (_mesh.interest, _mesh.catalog) from its
// start: its partitions directly (no group), read_committed, keeping the
// control records, so that the follower knows when it reached the end even
// when the topic's last offset is a transaction marker.
func FollowOptions(topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(time.Second),
	}
}

// CommittedEnds returns, for each partition of topic that holds committed
// records, the offset a follower (read_committed, keeping control records)
// must reach to have read them all; none when the topic does not exist.
func CommittedEnds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	targets := map[int32]int64{}
	for p, end := range ends[topic] {
		if errors.Is(end.Err, kerr.UnknownTopicOrPartition) {
			return map[int32]int64{}, nil // no topic, nothing to read
		}
		if end.Err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, end.Err)
		}
		start, ok := starts.Lookup(topic, p)
		if !ok || start.Err != nil {
			return nil, fmt.Errorf("start offset of %s/%d: %v", topic, p, start.Err)
		}
		if start.Offset < end.Offset {
			targets[p] = end.Offset
		}
	}
	return targets, nil
}

// Follow reads topic with cl (built with FollowOptions) until ctx ends or
// cl is closed. It passes the data records of each poll, in order, to
// apply, and calls caughtUp once, when it has read everything committed to
// the topic when it began (at once when there is nothing). Errors are
// logged and retried.
func Follow(ctx context.Context, cl *kgo.Client, topic string, log *slog.Logger, apply func([]*kgo.Record), caughtUp func()) {
	adm := kadm.NewClient(cl)
	var targets map[int32]int64
	err := retry.Until(ctx, 5*time.Second, func() error {
		var err error
		targets, err = CommittedEnds(ctx, adm, topic)
		return err
	}, func(err error, attempt int, wait time.Duration) {
		log.Warn("listing the end offsets of a topic to follow failed; retrying", "topic", topic, "attempt", attempt, "in", wait, "error", err)
	})
	if err != nil {
		return // ctx ended
	}
	pos := map[int32]int64{}
	done := false
	if reached(targets, pos) {
		done = true
		caughtUp()
	}
	var recs []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		failed := false
		fs.EachError(func(t string, p int32, err error) {
			failed = true
			log.Warn("reading a followed topic failed; retrying", "topic", t, "partition", p, "error", err)
		})
		if recs = dataRecords(fs, pos, recs[:0]); len(recs) > 0 {
			apply(recs)
		}
		if !done && reached(targets, pos) {
			done = true
			caughtUp()
		}
		if failed && fs.NumRecords() == 0 && !retry.Sleep(ctx, time.Second) {
			return
		}
	}
}

// ReadToEnd reads topic with cl (built with FollowOptions) from its start
// to its committed end as of the call, passing the data records of each
// poll, in order, to apply: a one-off read (meshctl, the control plane),
// where Follow keeps reading. It fails at once if the end cannot be listed.
func ReadToEnd(ctx context.Context, cl *kgo.Client, topic string, apply func([]*kgo.Record)) error {
	targets, err := CommittedEnds(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return err
	}
	pos := map[int32]int64{}
	var recs []*kgo.Record
	for !reached(targets, pos) {
		fs := cl.PollFetches(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case fs.IsClientClosed():
			return kgo.ErrClientClosed
		}
		if recs = dataRecords(fs, pos, recs[:0]); len(recs) > 0 {
			apply(recs)
		}
	}
	return nil
}

// dataRecords appends the data records of fs to recs, and moves pos past
// every record, control records too, so that pos reaches the end of a
// topic whose last offset is a transaction marker.
func dataRecords(fs kgo.Fetches, pos map[int32]int64, recs []*kgo.Record) []*kgo.Record {
	fs.EachRecord(func(r *kgo.Record) {
		pos[r.Partition] = r.Offset + 1
		if !r.Attrs.IsControl() {
			recs = append(recs, r)
		}
	})
	return recs
}

// reached reports whether pos is at or past every target.
func reached(targets, pos map[int32]int64) bool {
	for p, end := range targets {
		if pos[p] < end {
			return false
		}
	}
	return true
}
