package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// CheckpointTopic holds, at each site, where that site's replicator stands
// in every source partition it copies from: key "<source site>/<topic>/
// <partition>", value {"next_offset": N, ...}. It is compacted and written
// in the same transaction as the copies, so it says exactly what was copied.
const CheckpointTopic = "_mesh.checkpoints"

// unit is one source partition a site copies from.
type unit struct {
	Source    string // the site read from
	Topic     string
	Partition int32
}

func (u unit) key() string { return u.Source + "/" + u.Topic + "/" + strconv.Itoa(int(u.Partition)) }

func (u unit) String() string { return u.key() }

func parseUnit(key string) (unit, error) {
	source, rest, ok := strings.Cut(key, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		return unit{}, fmt.Errorf("checkpoint key %q: want <site>/<topic>/<partition>", key)
	}
	p, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil || p < 0 {
		return unit{}, fmt.Errorf("checkpoint key %q: bad partition", key)
	}
	return unit{Source: source, Topic: rest[:i], Partition: int32(p)}, nil
}

// checkpointTopicConfigs keep the checkpoint topic short. Every
// transaction writes a checkpoint for each unit it touched, and its commit
// marker, and a replicator reads the whole topic when it starts.
// Compaction cleans only closed segments, and the brokers' default segment
// (1 GiB or 7 days) hardly ever closes at this rate: after a few days of
// copying, a start read millions of checkpoints, seconds of CPU and time
// before the first copy. Compaction keeps a commit marker (about 80 bytes)
// for delete.retention.ms after its checkpoints are gone: a day by default,
// 7 GB at a thousand transactions a second; ten minutes bounds that to
// 50 MB. Removing a commit marker early is safe for read_committed readers
// (records not listed as aborted count as committed, and compaction drops
// aborted records before their markers), and the replicator writes no
// tombstones, so nothing else depends on it.
func checkpointTopicConfigs() map[string]string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return map[string]string{
		"cleanup.policy":      "compact",
		"segment.bytes":       strconv.Itoa(8 << 20), // about 50,000 checkpoints
		"segment.ms":          ms(time.Hour),         // when they come slowly
		"delete.retention.ms": ms(10 * time.Minute),
	}
}

// ensureCheckpointTopic creates the checkpoint topic, or gives an existing
// one the configs it lacks. A config set on the topic itself is the
// operator's and stays; one that is not compacted is refused (retention
// would delete the checkpoints, and flows would copy again from the start).
func (r *Replicator) ensureCheckpointTopic(ctx context.Context) error {
	got, err := kafkaclient.EnsureTopic(ctx, r.localCl, kafkaclient.Topic{
		Name: CheckpointTopic, Partitions: 1, ReplicationFactor: r.cfg.ReplicationFactor,
		Configs: checkpointTopicConfigs(), AddMissingConfigs: true, Compacted: true,
	})
	if err != nil {
		return fmt.Errorf("replicator at %s: %w", r.cfg.Site, err)
	}
	if len(got.ConfigsSet) > 0 {
		r.log.Info("replicator: set the checkpoint topic's configs", "topic", CheckpointTopic, "configs", got.ConfigsSet)
	}
	return nil
}

// checkpoint is the value of a checkpoint record.
type checkpoint struct {
	// NextOffset is the source offset to read next.
	NextOffset int64 `json:"next_offset"`
	// Copied is the number of records copied into this site so far.
	Copied int64 `json:"copied"`
	// Time is when the checkpoint was written.
	Time time.Time `json:"time"`
}

func (u unit) checkpointRecord(c checkpoint) *kgo.Record {
	v, _ := json.Marshal(c) // a struct of numbers and a time: cannot fail
	return &kgo.Record{Topic: CheckpointTopic, Key: []byte(u.key()), Value: v, Partition: 0}
}

// checkpoints knows the last committed checkpoint of every unit, as read
// from the site's checkpoint topic (read_committed). It reads only when a
// flow asks (sync, when it starts): every transaction of every flow writes
// to the topic, and following it all the time cost a tenth of the
// replicator's CPU and a fetch at the site for each transaction. Its client
// must keep control records (kgo.KeepControlRecords): a transaction's
// commit marker is the topic's last offset, and sync reads up to it.
type checkpoints struct {
	cl  *kgo.Client
	adm *kadm.Client
	log *slog.Logger

	reading sync.Mutex // one sync reads at a time; the others then find little left
	at      int64      // offset read up to in partition 0; guarded by reading

	mu sync.Mutex
	m  map[unit]checkpoint
}

// newCheckpoints reads with cl and asks adm, a client of its own, for the
// topic's end: cl's view of the topic may be older than the topic (it is
// created after cl, and a client keeps a topic it found missing as missing
// for a while).
func newCheckpoints(cl *kgo.Client, adm *kadm.Client, log *slog.Logger) *checkpoints {
	return &checkpoints{cl: cl, adm: adm, log: log, m: map[unit]checkpoint{}}
}

// sync reads everything committed to the topic so far, so that get returns
// the latest checkpoints; a flow calls it after its producers fenced any
// previous owner of its slot.
func (c *checkpoints) sync(ctx context.Context) error {
	ends, err := c.adm.ListEndOffsets(ctx, CheckpointTopic)
	if err != nil {
		return fmt.Errorf("checkpoints: end offset: %w", err)
	}
	o, ok := ends.Lookup(CheckpointTopic, 0)
	if !ok || o.Err != nil {
		return fmt.Errorf("checkpoints: end offset of %s: %v", CheckpointTopic, o.Err)
	}
	c.reading.Lock()
	defer c.reading.Unlock()
	// The topic holds many checkpoints per unit until compaction catches
	// up; only the last of each is decoded. It is copied: a record would
	// hold on to the whole fetch it came in.
	latest := map[string]rawCheckpoint{}
	defer func() { c.apply(latest) }()
	for c.at < o.Offset {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("checkpoints: reading up to offset %d (at %d): %w", o.Offset, c.at, ctx.Err())
		}
		if fs.IsClientClosed() {
			return fmt.Errorf("checkpoints: reading up to offset %d: %w", o.Offset, kgo.ErrClientClosed)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c.at = r.Offset + 1 // control records too (the client keeps them), so at reaches the end
			if !r.Attrs.IsControl() {
				latest[string(r.Key)] = rawCheckpoint{offset: r.Offset, value: bytes.Clone(r.Value)}
			}
		})
	}
	return nil
}

// rawCheckpoint is a checkpoint record's value, not yet decoded.
type rawCheckpoint struct {
	offset int64
	value  []byte // nil: a tombstone
}

// apply takes in the last record read of each key.
func (c *checkpoints) apply(latest map[string]rawCheckpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, r := range latest {
		u, err := parseUnit(key)
		if err != nil {
			c.log.Warn("replicator: skipping a checkpoint record this replicator did not write", "offset", r.offset, "error", err)
			continue
		}
		if r.value == nil {
			delete(c.m, u)
			continue
		}
		var cp checkpoint
		if err := json.Unmarshal(r.value, &cp); err != nil {
			// Only this replicator writes the topic; a record that is not
			// its own leaves the unit where this process knew it before
			// (a unit it never knew starts anew).
			c.log.Warn("replicator: skipping an undecodable checkpoint; the unit keeps the position it had before this read", "unit", u.String(), "offset", r.offset, "error", err)
			continue
		}
		c.m[u] = cp
	}
}

func (c *checkpoints) get(u unit) (checkpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.m[u]
	return cp, ok
}
