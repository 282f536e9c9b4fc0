package replicator

import (
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

	mu sync.Mutex
	at int64 // offset read up to in partition 0
	m  map[unit]checkpoint
}

func newCheckpoints(cl *kgo.Client, log *slog.Logger) *checkpoints {
	return &checkpoints{cl: cl, adm: kadm.NewClient(cl), log: log, m: map[unit]checkpoint{}}
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
	for c.offset() < o.Offset {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("checkpoints: reading up to offset %d (at %d): %w", o.Offset, c.offset(), ctx.Err())
		}
		if fs.IsClientClosed() {
			return fmt.Errorf("checkpoints: reading up to offset %d: %w", o.Offset, kgo.ErrClientClosed)
		}
		c.apply(fs)
	}
	return nil
}

func (c *checkpoints) offset() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

// apply takes in the records of one poll.
func (c *checkpoints) apply(fs kgo.Fetches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) {
		c.at = r.Offset + 1 // control records too (the client keeps them), so at reaches the end
		if r.Attrs.IsControl() {
			return
		}
		u, err := parseUnit(string(r.Key))
		if err != nil {
			c.log.Warn("replicator: skipping a checkpoint record this replicator did not write", "offset", r.Offset, "error", err)
			return
		}
		if r.Value == nil {
			delete(c.m, u)
			return
		}
		var cp checkpoint
		if err := json.Unmarshal(r.Value, &cp); err != nil {
			c.log.Warn("replicator: skipping an undecodable checkpoint; the unit resumes from its previous one", "unit", u.String(), "offset", r.Offset, "error", err)
			return
		}
		c.m[u] = cp
	})
}

func (c *checkpoints) get(u unit) (checkpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.m[u]
	return cp, ok
}
