package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/trace"
)

// Confirm is the peer's confirmation of one record handed to it: done when
// the peer acknowledged it (PUBACK, Accepted, 2xx), or failed. A paho MQTT
// token is one.
type Confirm interface {
	Done() <-chan struct{}
	Error() error
}

// Sender hands records to the peer of an egress rule.
type Sender interface {
	// Send hands r to the peer and returns its confirmation. It may block
	// until the peer confirmed (the returned Confirm is then done). A
	// Confirm failing with ErrSkip means the record is not for the peer
	// (an echo of the adapter's own ingress); with an error Classify calls
	// permanent (see Permanent), that it never can be (it is
	// dead-lettered).
	Send(ctx context.Context, r *kgo.Record) Confirm
}

// ErrSkip is the Confirm error of a record that is not for the peer: it is
// counted as skipped, and committed.
var ErrSkip = errors.New("not for the peer")

// Confirmed returns a Confirm that is already done with err.
func Confirmed(err error) Confirm { return doneConfirm{err} }

type doneConfirm struct{ err error }

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneConfirm) Done() <-chan struct{} { return closed }
func (d doneConfirm) Error() error        { return d.err }

// ErrNoConfirm is the error of a record the peer did not confirm within
// EgressConfig.Timeout; it is sent again.
var ErrNoConfirm = errors.New("no confirmation from the peer in time")

// Abandoner is a Confirm that wants to know when egress stops waiting for
// it (ErrNoConfirm): a peer that never refuses, only stays silent (MQTT
// 3.1.1 has no negative PUBACK), may need its session renewed before the
// record is sent again.
type Abandoner interface {
	Confirm
	Abandon()
}

// EgressConfig is what one egress rule needs.
type EgressConfig struct {
	// Rule names the rule in metrics and logs.
	Rule string
	// Client is the rule's own consumer-group client; Egress closes it.
	// It must be built with kgo.ConsumerGroup, kgo.ConsumeTopics,
	// kgo.AutoCommitMarks and kgo.BlockRebalanceOnPoll (see GroupOptions).
	Client *kgo.Client
	// MaxInFlight bounds the records of a partition handed to the peer and
	// not yet confirmed.
	MaxInFlight int
	// Timeout bounds the wait for one confirmation.
	Timeout     time.Duration
	Sender      Sender
	DeadLetters *DeadLetters
	Metrics     *Metrics
	Log         *slog.Logger
	// NotReadyAfter is how long deliveries may keep failing before Ready
	// says so (0: DefaultNotReadyAfter).
	NotReadyAfter time.Duration
	// Trace (nil: none) records the hops of the records (see
	// tracehops.go); Protocol is the protocol of the peer.
	Trace    *trace.Recorder
	Protocol trace.Protocol
}

// GroupOptions are the consumer options an egress client needs: group,
// topics, commits of marked records only, and rebalances held while
// polled records are delivered.
func GroupOptions(group string, topics ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
	}
}

// Egress carries the records of one rule's Kafka topics to the peer.
// Records of one partition are handed over in order, up to MaxInFlight at a
// time, and marked for commit only once the peer confirmed them, in order:
// the committed offset of a partition never passes a record the peer did
// not confirm. A failed or unconfirmed record is tried again from that
// record on, with backoff (duplicates are possible, as with any
// at-least-once delivery). The group is polled with rebalances held until
// the fetched records are done, so no record of a revoked partition is
// marked after another member took it over.
//
// A record that can never be delivered never holds its partition: one
// whose mesh headers are malformed (envelope.CheckMeshHeaders) is not
// handed to the peer, and one the Sender or the peer refuses for good
// (Permanent, see Classify) goes to its dead-letter topic with the
// reason; both are then committed like a delivered record.
type Egress struct {
	cfg     EgressConfig
	trouble trouble // deliveries failing now
	dropLog rateLog // dead letters, at most one line a second per reason
	spans   *spans  // nil without OpenTelemetry
}

// NewEgress returns the egress of one rule; Run runs it.
func NewEgress(cfg EgressConfig) *Egress {
	if cfg.NotReadyAfter <= 0 {
		cfg.NotReadyAfter = DefaultNotReadyAfter
	}
	return &Egress{cfg: cfg, trouble: trouble{after: cfg.NotReadyAfter}, spans: newSpans()}
}

// pollWindows is how many windows of records (MaxInFlight each) one poll
// takes: a partition's window slides over them without a pause, and the
// pause of a new poll (rebalances are held while polled records are
// delivered, and allowed between polls) comes once every pollWindows
// windows.
const pollWindows = 4

// Run polls until poll ends, delivering what it fetched; deliveries in
// progress stop waiting when work ends.
func (e *Egress) Run(poll, work context.Context) {
	cl := e.cfg.Client
	for {
		fs := cl.PollRecords(poll, e.cfg.MaxInFlight*pollWindows)
		if fs.IsClientClosed() || poll.Err() != nil {
			cl.AllowRebalance()
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			e.cfg.Log.Warn("egress: fetch failed", "rule", e.cfg.Rule, "topic", topic, "partition", p, "error", err)
		})
		// Partitions are delivered side by side, each in order.
		var wg sync.WaitGroup
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if work.Err() == nil {
				wg.Go(func() { e.deliver(work, p.Records) })
			}
		})
		wg.Wait()
		cl.AllowRebalance()
	}
}

// deliver hands the records of one partition to the peer in order and
// marks each for commit once confirmed, until all are done or ctx ends.
//
// The window slides: a record is handed over as soon as the one
// MaxInFlight before it is confirmed, not once the whole window is, so the
// peer always has up to MaxInFlight records of the partition to confirm
// and a slow confirmation holds back only what is past the window. When a
// record fails, what was handed over after it is abandoned (it may still
// arrive: at least once) and the partition starts again from that record
// after a backoff.
func (e *Egress) deliver(ctx context.Context, recs []*kgo.Record) {
	bo := retry.Backoff(5 * time.Second)
	confirms := make([]Confirm, min(len(recs), e.cfg.MaxInFlight)) // a ring: record i at i % len
	starts := make([]time.Time, len(confirms))
	var spans []oteltrace.Span // the ring's spans, when spans are recorded
	if e.spans != nil {
		spans = make([]oteltrace.Span, len(confirms))
	}
	for len(recs) > 0 {
		sent, done := 0, 0
		var err error
		for done < len(recs) {
			for ; sent < len(recs) && sent-done < len(confirms); sent++ {
				i := sent % len(confirms)
				sctx := ctx
				if spans != nil {
					sctx, spans[i] = e.spans.startEgress(ctx, recs[sent], e.cfg.Protocol, e.cfg.Rule)
				}
				confirms[i], starts[i] = e.send(sctx, recs[sent]), time.Now()
				e.cfg.Metrics.egressInFlight.Inc()
			}
			i := done % len(confirms)
			err = e.settle(ctx, recs[done], confirms[i], starts[i])
			e.cfg.Metrics.egressInFlight.Dec()
			if spans != nil {
				endSpan(spans[i], err)
			}
			if err != nil {
				if spans != nil {
					for n := done + 1; n < sent; n++ {
						endSpan(spans[n%len(spans)], ErrStopped) // sent again
					}
				}
				break
			}
			e.cfg.Client.MarkCommitRecords(recs[done])
			done++
		}
		e.cfg.Metrics.egressInFlight.Sub(float64(sent - done - min(1, sent-done))) // the failed one is counted out already
		clear(confirms)
		recs = recs[done:]
		if err == nil {
			e.trouble.succeeded()
			bo.Reset()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		e.trouble.failed(err)
		e.cfg.Metrics.Retry("egress")
		wait := bo.NextBackOff()
		e.cfg.Log.Warn("egress: delivery failed; trying again", "rule", e.cfg.Rule, "topic", recs[0].Topic,
			"partition", recs[0].Partition, "offset", recs[0].Offset, "in", wait, "error", err)
		e.cfg.Metrics.retrying.WithLabelValues("egress").Inc()
		slept := retry.Sleep(ctx, wait)
		e.cfg.Metrics.retrying.WithLabelValues("egress").Dec()
		if !slept {
			return
		}
	}
}

// send hands one record to the peer; one with malformed mesh headers is
// refused for good without being handed over.
func (e *Egress) send(ctx context.Context, r *kgo.Record) Confirm {
	if err := envelope.CheckMeshHeaders(r.Headers, nil); err != nil {
		return Confirmed(Permanent(ReasonEnvelope, err))
	}
	return e.cfg.Sender.Send(ctx, r)
}

// settle waits for one record's confirmation and counts its outcome; it
// returns an error when the record must be sent again.
func (e *Egress) settle(ctx context.Context, r *kgo.Record, c Confirm, start time.Time) error {
	err := e.wait(ctx, c)
	switch {
	case err == nil:
		e.cfg.Metrics.publish.WithLabelValues(e.cfg.Rule).Observe(time.Since(start).Seconds())
		e.cfg.Metrics.egress.WithLabelValues(e.cfg.Rule, ResultPublished).Inc()
		e.traceEgress(r, start, trace.OutcomeOK, nil)
	case errors.Is(err, ErrSkip):
		e.cfg.Metrics.egress.WithLabelValues(e.cfg.Rule, ResultSkipped).Inc()
	case permanent(err):
		if dlqErr := e.cfg.DeadLetters.Write(ctx, r, dlq.Failure{Err: err, Partition: r.Partition, Offset: r.Offset, Attempts: 1}); dlqErr != nil {
			return dlqErr
		}
		_, reason := Classify(err)
		e.cfg.Metrics.deadLetters.WithLabelValues("egress", reason).Inc()
		if ok, skipped := e.dropLog.allow(reason); ok {
			e.cfg.Log.Warn("egress: record dead-lettered", "rule", e.cfg.Rule, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
				"reason", reason, "error", err, "dead_letter_topic", dlq.Topic(r.Topic), "not_logged_since_last", skipped)
		}
		e.cfg.Metrics.egress.WithLabelValues(e.cfg.Rule, ResultDLQ).Inc()
		e.traceEgress(r, start, trace.OutcomeDLQ, err)
	default:
		if ctx.Err() == nil {
			e.traceEgress(r, start, trace.OutcomeRetried, err)
		}
		return err
	}
	return nil
}

// permanent reports whether err is a final refusal (see Classify).
func permanent(err error) bool {
	perm, _ := Classify(err)
	return perm
}

func (e *Egress) wait(ctx context.Context, c Confirm) error {
	select {
	case <-c.Done():
		return c.Error()
	default:
	}
	timer := time.NewTimer(e.cfg.Timeout)
	defer timer.Stop()
	select {
	case <-c.Done():
		return c.Error()
	case <-timer.C:
		if a, ok := c.(Abandoner); ok {
			a.Abandon()
		}
		return ErrNoConfirm
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close commits what was marked and leaves the group, waiting for both at
// most until ctx ends.
func (e *Egress) Close(ctx context.Context) error {
	err := e.cfg.Client.CommitMarkedOffsets(ctx)
	_ = e.cfg.Client.LeaveGroupContext(ctx) // Close alone waits for the leave without a bound
	e.cfg.Client.Close()
	if err != nil {
		return fmt.Errorf("egress %s: commit at shutdown: %w", e.cfg.Rule, err)
	}
	return nil
}

// Ready reports an error while deliveries of the last NotReadyAfter failed:
// the records are kept (not committed) and retried, but the rule is stuck.
func (e *Egress) Ready() error { return e.trouble.err("egress " + e.cfg.Rule + ": deliveries") }
