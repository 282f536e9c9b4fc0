package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/trace"
)

// Message is one upstream message on its way into Kafka. An adapter fills
// it in and Submits it; the pipeline owns it from then on.
type Message struct {
	// Rule names the rule that took the message, for metrics and logs.
	// Empty: no rule took it; it is settled in its turn and not written
	// (counted as unmatched).
	Rule string
	// Record is what the message becomes in Kafka: topic, key, value, and
	// any headers of the adapter's own.
	Record *kgo.Record
	// Envelope goes into Record's headers, completed (a new ce_id and so
	// on, where absent) when the message is submitted.
	Envelope envelope.Envelope
	// Schema, when set (FormatJSON, FormatAvro), enforces the topic's
	// registered schema on the value.
	Schema string
	// Source is the upstream address, e.g. mqtt://broker/factory/1/temp;
	// dead letters name it.
	Source string
	// Invalid, when set, says why the message can never be written as it
	// is (a malformed envelope, say): it goes to the dead-letter topic of
	// Record.Topic with that reason.
	Invalid error
	// Unroutable marks an Invalid message that has no event topic an
	// adapter may write (see Topic): it goes to dlq.UnroutableTopic, with
	// Record.Topic holding what its address rendered to.
	Unroutable bool
	// BestEffort messages (MQTT QoS 0) are dropped, and counted, when the
	// queue is full, and not tried again when Kafka refuses them: the
	// upstream would never redeliver them anyway.
	BestEffort bool
	// Settle is called once, on the pipeline's release goroutine (or, once
	// the pipeline stopped, on the goroutine of Run) and in the order
	// messages were submitted: with nil once Kafka has the message (or its
	// dead letter), so it may be acknowledged upstream; with an error when
	// it never will be (the pipeline stopped first), and then the upstream
	// must not acknowledge it: it redelivers it.
	Settle func(err error)

	received time.Time
	attempts int
	traced   bool                        // its INGRESS hop was recorded
	span     oteltrace.Span              // nil without tracing
	bo       *backoff.ExponentialBackOff // set on the first retry
	// Guarded by Ingress.mu.
	done   bool
	err    error
	result string
}

// ErrStopped settles the messages the pipeline stopped before Kafka had
// them.
var ErrStopped = errors.New("the pipeline stopped before Kafka took the message")

// IngressConfig is what an ingress pipeline needs.
type IngressConfig struct {
	// Site becomes mesh_origin of the events; Component names the adapter
	// in dead letters (e.g. mqtt-adapter/east).
	Site, Component string
	// MaxInFlight bounds the messages handed to Kafka and not yet settled;
	// MaxQueued those submitted and waiting for a place in that window.
	MaxInFlight, MaxQueued int
	// Kafka produces the records (acks=all); DeadLetters writes what Kafka
	// refuses for good; Schemas (nil without a registry) enforces schemas.
	Kafka       *kgo.Client
	DeadLetters *DeadLetters
	Schemas     *Schemas
	Metrics     *Metrics
	Log         *slog.Logger
	// Limits, when set, are the limits Kafka's batches were sized with
	// (see kafkaclient.Limits): a record over its topic's limit is
	// dead-lettered before it is produced.
	Limits *kafkaclient.Limits
	// NotReadyAfter is how long produces may keep failing, or a message
	// wait for Kafka, before Ready says so (0: DefaultNotReadyAfter).
	NotReadyAfter time.Duration
	// AfterSettle, when set, runs on the release goroutine after each batch
	// of Settle calls: an adapter that gathers acknowledgements in Settle
	// writes them there, together.
	AfterSettle func()
	// Trace (nil: none) records the hops of the messages (see
	// tracehops.go); Protocol is the protocol they arrive by.
	Trace    *trace.Recorder
	Protocol trace.Protocol
}

// Ingress carries messages into Kafka and settles them in arrival order.
//
// Submit queues a message (it must not block the protocol's reader, so it
// blocks only beyond MaxQueued reliable messages, which holds the upstream
// back through its transport). One goroutine takes the queue in order,
// waits for a place in the window, enforces the schema and produces; Kafka
// completes messages in any order; a second goroutine settles them from
// the head of the arrival order while the head is done, so the upstream
// sees acknowledgements in the order of its messages (MQTT 3.1.1 §4.6
// asks it) however Kafka completes.
//
// Back-pressure: when Kafka is slow the window fills, the queue behind it,
// and nothing is settled: the upstream stops at its own in-flight limit.
// Memory is bounded by MaxInFlight + MaxQueued messages.
type Ingress struct {
	cfg      IngressConfig
	queue    chan *Message
	window   chan struct{}
	kick     chan struct{} // a message completed
	progress chan struct{} // messages were settled, for Drain

	// stopMu orders Submit's check of stopping against Drain setting it,
	// so nothing is queued once Drain began waiting; stop unblocks
	// submitters waiting for a place in the queue.
	stopMu   sync.RWMutex
	stopping bool
	stop     chan struct{}

	pending atomic.Int64 // queued or in flight

	mu    sync.Mutex
	order []*Message // in flight, in arrival order
	// broken is set when a message will never be settled with nil (the
	// pipeline stops): no later message may be acknowledged either.
	broken bool

	// Retries and dead-letter writes run on goroutines the pipeline owns.
	tasksMu sync.Mutex
	tasks   sync.WaitGroup
	ended   bool

	trouble trouble // produces failing now
	dropLog rateLog // dead letters, at most one line a second per reason
	spans   *spans  // nil without OpenTelemetry
}

// NewIngress returns a pipeline; Run runs it.
func NewIngress(cfg IngressConfig) *Ingress {
	if cfg.NotReadyAfter <= 0 {
		cfg.NotReadyAfter = DefaultNotReadyAfter
	}
	return &Ingress{
		trouble:  trouble{after: cfg.NotReadyAfter},
		cfg:      cfg,
		queue:    make(chan *Message, cfg.MaxQueued),
		window:   make(chan struct{}, cfg.MaxInFlight),
		kick:     make(chan struct{}, 1),
		progress: make(chan struct{}, 1),
		stop:     make(chan struct{}),
		spans:    newSpans(),
	}
}

// Submit hands m to the pipeline and reports whether it took it. It does
// not take m once Drain began (the upstream redelivers it), nor a
// BestEffort m when the queue is full (counted as dropped).
func (in *Ingress) Submit(m *Message) bool {
	m.received = time.Now()
	if m.Rule != "" {
		if in.spans != nil {
			in.spans.startIngress(m, in.cfg.Protocol)
		}
		m.Envelope.Complete(in.cfg.Site, m.received)
	}
	in.stopMu.RLock()
	defer in.stopMu.RUnlock()
	if in.stopping {
		return false
	}
	in.pending.Add(1)
	in.cfg.Metrics.queued.Inc()
	select {
	case in.queue <- m:
		return true
	default:
	}
	if m.BestEffort {
		in.cfg.Metrics.queued.Dec()
		in.unpend()
		in.cfg.Metrics.ingress.WithLabelValues(m.Rule, ResultDropped).Inc()
		return false
	}
	select { // beyond MaxQueued: hold the upstream back
	case in.queue <- m:
		return true
	case <-in.stop:
		in.cfg.Metrics.queued.Dec()
		in.unpend()
		return false
	}
}

// Run runs the pipeline until ctx ends, and returns once every goroutine
// it started has ended. Messages not written to Kafka by then never will
// be: they are settled with ErrStopped, and their upstream delivers them
// again.
func (in *Ingress) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { in.produceLoop(ctx) })
	wg.Go(func() { in.releaseLoop(ctx) })
	wg.Wait()
	in.tasksMu.Lock()
	in.ended = true
	in.tasksMu.Unlock()
	in.tasks.Wait()
	in.abandon()
}

// abandon settles, with ErrStopped and in arrival order, the messages the
// pipeline still holds once it stopped: an upstream that can hand a
// message back (AMQP Released) does so at once, instead of when its link
// closes.
func (in *Ingress) abandon() {
	in.mu.Lock()
	left := in.order
	in.order = nil
	in.broken = true
	in.mu.Unlock()
	for _, m := range left {
		m.Settle(ErrStopped)
		in.cfg.Metrics.inFlight.Dec()
		in.unpend()
		<-in.window
	}
	for {
		select {
		case m := <-in.queue:
			in.cfg.Metrics.queued.Dec()
			m.Settle(ErrStopped)
			in.unpend()
		default:
			return
		}
	}
}

// spawn runs f on a goroutine Run waits for; after Run, it does not.
func (in *Ingress) spawn(f func()) bool {
	in.tasksMu.Lock()
	defer in.tasksMu.Unlock()
	if in.ended {
		return false
	}
	in.tasks.Go(f)
	return true
}

func (in *Ingress) produceLoop(ctx context.Context) {
	for {
		var m *Message
		select {
		case m = <-in.queue:
		case <-ctx.Done():
			return
		}
		in.cfg.Metrics.queued.Dec()
		select {
		case in.window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		in.cfg.Metrics.inFlight.Inc()
		in.mu.Lock()
		in.order = append(in.order, m)
		in.mu.Unlock()
		switch {
		case m.Rule == "":
			in.complete(m, nil, ResultUnmatched)
		case m.Invalid != nil:
			m.Envelope.SetKafka(m.Record)
			in.deadLetterAsync(ctx, m, m.Invalid, m.Unroutable)
		case m.Schema != "" && in.cfg.Schemas != nil:
			v, err := in.cfg.Schemas.Enforce(ctx, m.Schema, m.Record.Topic, m.Record.Value)
			switch {
			case ctx.Err() != nil:
				in.complete(m, ctx.Err(), "")
				continue
			case err != nil:
				m.Envelope.SetKafka(m.Record)
				in.deadLetterAsync(ctx, m, Permanent(ReasonSchema, err), false)
				continue
			}
			m.Record.Value = v
			m.Envelope.ContentType = AvroContentType
			fallthrough
		default:
			m.Envelope.SetKafka(m.Record)
			if in.cfg.Limits != nil {
				if err := in.cfg.Limits.Check(ctx, m.Record); err != nil {
					// It can never fit: no round trip, no retry, and no
					// batch refused with it.
					in.deadLetterAsync(ctx, m, err, false)
					continue
				}
			}
			in.produce(ctx, m)
		}
	}
}

func (in *Ingress) produce(ctx context.Context, m *Message) {
	m.attempts++
	in.cfg.Kafka.Produce(ctx, m.Record, func(_ *kgo.Record, err error) {
		perm, reason := Classify(err)
		if reason == ReasonTooLarge && in.cfg.Limits != nil {
			in.cfg.Limits.Forget(m.Record.Topic) // its limit may have changed
		}
		switch {
		case err == nil:
			in.trouble.succeeded()
			in.traceIngress(m, ResultProduced, nil)
			in.complete(m, nil, ResultProduced)
		case ctx.Err() != nil:
			in.complete(m, err, "")
		case m.BestEffort:
			in.cfg.Log.Warn("ingress: best-effort message not taken by Kafka; dropped", "rule", m.Rule, "topic", m.Record.Topic, "error", err)
			in.complete(m, nil, ResultFailed)
		case perm && (m.attempts > 1 || !batchWide(reason)):
			// A refusal Kafka gives a whole batch is final only once the
			// record was refused twice: the first time it may only have
			// shared a batch with the record at fault.
			in.deadLetterAsync(ctx, m, err, false)
		default:
			in.trouble.failed(err)
			in.traceIngress(m, resultRetried, err)
			in.cfg.Metrics.Retry("ingress")
			in.cfg.Metrics.retrying.WithLabelValues("ingress").Inc()
			if m.bo == nil {
				m.bo = retry.Backoff(5 * time.Second)
			}
			wait := m.bo.NextBackOff()
			in.cfg.Log.Warn("ingress: produce failed; trying again", "rule", m.Rule, "topic", m.Record.Topic, "attempts", m.attempts, "in", wait, "error", err)
			m.Record = retryRecord(m.Record)
			if !in.spawn(func() {
				defer in.cfg.Metrics.retrying.WithLabelValues("ingress").Dec()
				if !retry.Sleep(ctx, wait) {
					in.complete(m, ctx.Err(), "")
					return
				}
				in.produce(ctx, m)
			}) {
				in.cfg.Metrics.retrying.WithLabelValues("ingress").Dec()
				in.complete(m, ErrStopped, "")
			}
		}
	})
}

// batchWide reports whether Kafka gives refusals for reason to a whole
// batch, so that a record may be refused for another's fault.
func batchWide(reason string) bool { return reason == ReasonTooLarge || reason == ReasonInvalid }

// retryRecord copies what a record carries, so it can be produced afresh.
func retryRecord(r *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers, Context: r.Context}
}

// deadLetterAsync writes m to its dead-letter topic on a goroutine the
// pipeline owns; m completes once it is written.
func (in *Ingress) deadLetterAsync(ctx context.Context, m *Message, cause error, unroutable bool) {
	if !in.spawn(func() { in.deadLetter(ctx, m, cause, unroutable) }) {
		in.complete(m, ErrStopped, "")
	}
}

func (in *Ingress) deadLetter(ctx context.Context, m *Message, cause error, unroutable bool) {
	f := dlq.Failure{Err: cause, Topic: m.Record.Topic, Offset: -1, Source: m.Source, Attempts: m.attempts, Unroutable: unroutable}
	if err := in.cfg.DeadLetters.Write(ctx, m.Record, f); err != nil {
		in.complete(m, err, "")
		return
	}
	_, reason := Classify(cause)
	if unroutable {
		reason = ReasonTopic
	} else if reason == "" {
		reason = ReasonRefused
	}
	in.cfg.Metrics.deadLetters.WithLabelValues("ingress", reason).Inc()
	in.traceIngress(m, ResultDLQ, cause)
	if ok, suppressed := in.dropLog.allow(reason); ok {
		in.cfg.Log.Warn("ingress: message dead-lettered", "rule", m.Rule, "topic", m.Record.Topic, "source", truncate(m.Source, 256),
			"reason", reason, "error", cause, "dead_letter_topic", dlq.Topic(m.Record.Topic), "not_logged_since_last", suppressed)
	}
	in.complete(m, nil, ResultDLQ)
}

func (in *Ingress) complete(m *Message, err error, result string) {
	endIngress(m, result, err)
	in.mu.Lock()
	m.done, m.err, m.result = true, err, result
	in.mu.Unlock()
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// releaseLoop settles completed messages from the head of the arrival
// order, until ctx ends.
func (in *Ingress) releaseLoop(ctx context.Context) {
	var ready []*Message
	counters := map[[2]string]*ruleCounters{}
	for {
		select {
		case <-in.kick:
		case <-ctx.Done():
			return
		}
		in.mu.Lock()
		n := 0
		for n < len(in.order) && in.order[n].done {
			n++
		}
		ready = append(ready[:0], in.order[:n]...)
		clear(in.order[:n])
		in.order = in.order[n:]
		for _, m := range ready {
			if m.err != nil {
				in.broken = true
			}
		}
		broken := in.broken
		in.mu.Unlock()
		if len(ready) == 0 {
			continue
		}
		for _, m := range ready {
			switch {
			case broken && m.err == nil:
				m.Settle(ErrStopped)
			case m.err != nil:
				m.Settle(fmt.Errorf("%w: %w", ErrStopped, m.err))
			default:
				m.Settle(nil)
			}
		}
		if in.cfg.AfterSettle != nil {
			in.cfg.AfterSettle()
		}
		now := time.Now()
		for _, m := range ready {
			if m.err == nil {
				c := counters[[2]string{m.Rule, m.result}]
				if c == nil {
					c = in.counters(m.Rule, m.result)
					counters[[2]string{m.Rule, m.result}] = c
				}
				c.count.Inc()
				if c.latency != nil {
					c.latency.Observe(now.Sub(m.received).Seconds())
				}
			}
			in.cfg.Metrics.inFlight.Dec()
			// Counted out before its place is freed, so that pending
			// never holds a settled message beside a full window.
			in.unpend()
			<-in.window
		}
	}
}

// ruleCounters caches the metrics of one (rule, result): the release
// goroutine counts every message.
type ruleCounters struct {
	count   interface{ Inc() }
	latency interface{ Observe(float64) } // nil for unmatched messages
}

func (in *Ingress) counters(rule, result string) *ruleCounters {
	c := &ruleCounters{count: in.cfg.Metrics.ingress.WithLabelValues(rule, result)}
	if rule != "" {
		c.latency = in.cfg.Metrics.ackLatency.WithLabelValues(rule)
	}
	return c
}

// unpend counts one message out of the pipeline and tells Drain.
func (in *Ingress) unpend() {
	in.pending.Add(-1)
	select {
	case in.progress <- struct{}{}:
	default:
	}
}

// Stopping reports whether Drain began: the pipeline takes no more
// messages.
func (in *Ingress) Stopping() bool {
	in.stopMu.RLock()
	defer in.stopMu.RUnlock()
	return in.stopping
}

// Drain stops taking messages and waits until every queued or in-flight
// message was settled, or ctx ends.
func (in *Ingress) Drain(ctx context.Context) error {
	in.stopMu.Lock()
	if !in.stopping {
		in.stopping = true
		close(in.stop)
	}
	in.stopMu.Unlock()
	for in.pending.Load() > 0 {
		select {
		case <-in.progress:
		case <-ctx.Done():
			return fmt.Errorf("ingress: %d messages still in flight at shutdown; their upstream delivers them again", in.pending.Load())
		}
	}
	return nil
}

// Ready reports an error while the oldest message in flight has waited
// more than NotReadyAfter for Kafka, or Kafka has refused the produces of
// that long: the messages are kept and retried (the client library
// retries what Kafka calls retriable by itself), but the adapter is not
// doing its job.
func (in *Ingress) Ready() error {
	in.mu.Lock()
	var oldest time.Time
	if len(in.order) > 0 {
		oldest = in.order[0].received
	}
	n := len(in.order)
	in.mu.Unlock()
	failing := in.trouble.err("kafka: produces")
	if !oldest.IsZero() && time.Since(oldest) > in.cfg.NotReadyAfter {
		waiting := fmt.Errorf("kafka: %d messages in flight, the oldest waiting %s", n, time.Since(oldest).Truncate(time.Second))
		return errors.Join(waiting, failing)
	}
	return failing
}
