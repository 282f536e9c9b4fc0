package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// A record a flow reads and can never copy does not stop the flow: it is
// dead-lettered into _mesh.dlq.<topic> here, in the same transaction as the
// copies and positions of its batch (at least once: in the same produce,
// before the positions), so the flow commits and goes on. Two kinds:
//
//   - too large: the copy is larger than the topic's max.message.bytes here
//     (see recordLimits). Retrying cannot help until someone raises it.
//   - malformed mesh headers (envelope.CheckMeshHeaders): loop prevention
//     trusts mesh_origin and mesh_path, so a record whose headers cannot
//     say where it has been is never copied nor given another hop. A
//     well-formed origin or path naming a site outside this mesh is refused
//     too: no site of the mesh would ever copy it (each copies from a site
//     only what entered the mesh there), so passing it over would lose it
//     silently, and guessing an origin for it could copy it back where it
//     came from. Whoever bridges records from another mesh strips or
//     rewrites their mesh headers.
//
// Records without mesh headers are valid: plain Kafka clients write them,
// and they count as produced where they are found. The mesh's own topics
// (starting with _) are not checked: the mesh writes them.

// reasonTooLarge is the refusal reason of a record larger than its topic's
// limit here; the others are envelope.MeshHeaderError reasons.
const reasonTooLarge = "too_large"

// refusal is a record a flow read and dead-letters instead of copying.
type refusal struct {
	rec    *kgo.Record // as read from the source
	reason string      // a bounded label: reasonTooLarge or a MeshHeaderError's Reason
	err    error
}

// checked reports whether the records of topic have their mesh headers
// checked: all but the mesh's own topics.
func checked(topic string) bool { return !strings.HasPrefix(topic, "_") }

// refuseHeaders returns the refusal of r when its mesh headers are
// malformed, nil when they are valid or absent.
func refuseHeaders(r *kgo.Record, known func(string) bool) *refusal {
	err := envelope.CheckMeshHeaders(r.Headers, known)
	if err == nil {
		return nil
	}
	reason := "mesh_headers_malformed"
	var me *envelope.MeshHeaderError
	if errors.As(err, &me) {
		reason = me.Reason()
	}
	return &refusal{rec: r, reason: reason, err: fmt.Errorf("not copied: %w", err)}
}

// refuseSize returns the refusal of r, whose copy c is larger than limit.
func refuseSize(r, c *kgo.Record, limit int32, site string) *refusal {
	n := kafkaclient.RecordBytes(c)
	return &refusal{rec: r, reason: reasonTooLarge, err: fmt.Errorf(
		"not copied: the copy takes up to %d bytes in a batch, over max.message.bytes=%d of %s at %s; raise the topic's max.message.bytes there to copy such records",
		n, limit, c.Topic, site)}
}

// letters returns the dead letters of a batch's refusals, for this site's
// dead-letter topics, which it creates when missing. A letter too large for
// its topic is a reference to the original (dlq.Reference), which always
// fits.
func (f *flow) letters(ctx context.Context, refused []refusal) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, 0, len(refused))
	now := time.Now()
	for _, rf := range refused {
		fail := dlq.Failure{Err: rf.err, Component: "replicator/" + f.d.site, Topic: rf.rec.Topic,
			Partition: rf.rec.Partition, Offset: rf.rec.Offset, Source: f.key.Source, Attempts: 1, Time: now}
		letter, err := dlq.Record(rf.rec, fail)
		if err != nil {
			return nil, err
		}
		if err := f.d.dlq.Ensure(ctx, letter.Topic); err != nil {
			return nil, err
		}
		if err := f.limits.lookup(ctx, f.d.localAdm, letter.Topic); err != nil {
			return nil, err
		}
		if kafkaclient.RecordBytes(letter) > int(f.limits.get(letter.Topic)) {
			if letter, err = dlq.Reference(rf.rec, fail, int(f.limits.get(letter.Topic))); err != nil {
				return nil, err
			}
		}
		letter.Partition = 0 // every dead-letter topic has it
		out = append(out, letter)
	}
	return out, nil
}

// refusalLog says that records were refused, at most once per source and
// topic every interval, with how many it did not say since its last line:
// one bad producer must not flood the log, nor hide the others.
type refusalLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// refusalLogInterval is how often each source topic may log a refusal.
const refusalLogInterval = 10 * time.Second

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, interval: refusalLogInterval, now: time.Now, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// refused logs (or counts, within the interval) a committed refusal of a
// record read from source.
func (l *refusalLog) refused(source string, rf refusal) {
	key := source + "/" + rf.rec.Topic
	now := l.now()
	l.mu.Lock()
	if last, ok := l.last[key]; ok && now.Sub(last) < l.interval {
		l.suppressed[key]++
		l.mu.Unlock()
		return
	}
	n := l.suppressed[key]
	l.last[key] = now
	delete(l.suppressed, key)
	l.mu.Unlock()
	l.log.Warn("replicator: record not copied; dead-lettered here",
		"from", source, "topic", rf.rec.Topic, "partition", rf.rec.Partition, "offset", rf.rec.Offset,
		"reason", rf.reason, "error", rf.err, "dlq", dlq.Topic(rf.rec.Topic),
		"suppressed", n, "suppressed_over", l.interval)
}
