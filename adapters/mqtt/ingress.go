package mqtt

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/registry/serde"
)

// HeaderAdapter names the MQTT adapter (by its client id) that produced a
// record from MQTT. With mesh_origin it lets egress recognise its own
// ingress's records and not echo them back to the broker.
const HeaderAdapter = "mesh_adapter"

// The ingress pipeline. paho calls handle for each PUBLISH, in arrival order
// (order matters), on its router goroutine; handle must not block, or paho
// stops reading the connection and misses its keep-alive. So handle only
// maps the message to a record and queues it. One goroutine (run) takes the
// queue in order, waits for a place in the in-flight window, and produces;
// Kafka's promises mark entries done in any order; a second goroutine (acks)
// releases PUBACKs from the head of the arrival-ordered list while the head
// is done, so the broker sees PUBACKs in the order of its PUBLISHes (MQTT
// 3.1.1 §4.6) however Kafka completes.
//
// Back-pressure: when Kafka is slow the window fills, the queue fills
// behind it, and no PUBACK leaves: the broker stops sending at its own
// in-flight limit for the session (Mosquitto's max_inflight_messages, the
// client's receive maximum on MQTT 5 brokers) and keeps the rest. Memory is
// bounded by max_in_flight + max_queued messages. Only when the broker
// sends beyond max_queued unacknowledged messages does handle block, which
// stalls paho's reader: TCP back-pressure then holds the broker, and if the
// keep-alive lapses the broker redelivers the unacknowledged messages after
// the reconnect. QoS 0 messages, which the broker never redelivers, are
// dropped and counted when the queue is full.
type ingress struct {
	a      *Adapter
	rules  []IngressRule
	host   string // broker host, for ce_source
	queue  chan *entry
	window chan struct{}
	kick   chan struct{} // an entry completed
	// progress is signalled each time entries are released, for Close.
	progress chan struct{}

	// stopMu orders handle's check of stopping against Close setting it,
	// so nothing is queued after Close began waiting for the pipeline to
	// drain. stop unblocks handlers waiting for a place in the queue.
	stopMu   sync.RWMutex
	stopping bool
	stop     chan struct{}

	pending atomic.Int64 // queued or in flight

	mu    sync.Mutex
	order []*entry // in flight, in arrival order
	// broken is set when an entry will never be acknowledged (the adapter
	// is stopping hard): no later entry may be acknowledged either.
	broken bool
}

type entry struct {
	msg      paho.Message
	conn     *coalescingConn // the connection msg arrived on
	rule     *IngressRule    // nil: the message matched no rule
	rec      *kgo.Record
	env      envelope.Envelope // written to rec's headers just before producing
	received time.Time
	attempts int

	done   bool
	err    error
	result string
}

func newIngress(a *Adapter, rules []IngressRule, host string) *ingress {
	return &ingress{
		a:        a,
		rules:    rules,
		host:     host,
		queue:    make(chan *entry, a.cfg.MaxQueued),
		window:   make(chan struct{}, a.cfg.MaxInFlight),
		kick:     make(chan struct{}, 1),
		progress: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
}

// subscriptions returns the filters to subscribe to, with their QoS.
func (in *ingress) subscriptions() map[string]byte {
	subs := make(map[string]byte, len(in.rules))
	for i := range in.rules {
		r := &in.rules[i]
		if q, ok := subs[r.filter.subscription]; !ok || r.QoS > q {
			subs[r.filter.subscription] = r.QoS
		}
	}
	return subs
}

// handle is paho's publish handler.
func (in *ingress) handle(_ paho.Client, msg paho.Message) {
	now := time.Now()
	e := &entry{msg: msg, conn: in.a.conn.Load(), received: now}
	for i := range in.rules {
		if vars, ok := in.rules[i].filter.match(msg.Topic()); ok {
			e.rule = &in.rules[i]
			e.rec, e.env = in.record(e.rule, msg, vars, now)
			break
		}
	}
	in.stopMu.RLock()
	defer in.stopMu.RUnlock()
	if in.stopping {
		return // not acknowledged: the broker delivers it again to the next session
	}
	in.pending.Add(1)
	in.a.m.queued.Inc()
	if msg.Qos() == 0 {
		select {
		case in.queue <- e:
		default:
			in.a.m.queued.Dec()
			in.unpend()
			in.count(e, resultDropped)
		}
		return
	}
	select {
	case in.queue <- e:
	default:
		// Beyond max_queued: block paho's reader (see the type's comment).
		select {
		case in.queue <- e:
		case <-in.stop:
			in.a.m.queued.Dec()
			in.unpend()
		}
	}
}

// record maps one message to a Kafka record carrying the envelope.
func (in *ingress) record(r *IngressRule, msg paho.Message, vars map[string]string, now time.Time) (*kgo.Record, envelope.Envelope) {
	topic := msg.Topic()
	lookup := func(name string) string {
		if name == varTopic {
			return topic
		}
		return vars[name]
	}
	rec := &kgo.Record{
		Topic:     kafkaTopic(r.topic.render(lookup)),
		Key:       []byte(r.key.render(lookup)),
		Value:     msg.Payload(),
		Timestamp: now,
		Headers:   []kgo.RecordHeader{{Key: HeaderAdapter, Value: []byte(in.a.cfg.Broker.ClientID)}},
	}
	env := envelope.Envelope{
		Source:      (&url.URL{Scheme: "mqtt", Host: in.host, Path: "/" + topic}).String(),
		Type:        rec.Topic,
		ContentType: r.ContentType,
	}
	if r.t != nil {
		env.Type = r.t.render(lookup)
	}
	env.Complete(in.a.cfg.Site, now)
	return rec, env
}

// run produces queued entries in order, each after taking a place in the
// window, until ctx ends.
func (in *ingress) run(ctx context.Context) {
	for {
		var e *entry
		select {
		case e = <-in.queue:
		case <-ctx.Done():
			return
		}
		in.a.m.queued.Dec()
		select {
		case in.window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		in.a.m.inFlight.Inc()
		in.mu.Lock()
		in.order = append(in.order, e)
		in.mu.Unlock()
		if e.rule == nil {
			in.complete(e, nil, "")
			continue
		}
		if e.rule.Schema != nil {
			if err := in.enforce(ctx, e); err != nil {
				if ctx.Err() != nil {
					in.complete(e, err, "")
					continue
				}
				e.env.SetKafka(e.rec)
				go in.deadLetter(ctx, e, err)
				continue
			}
		}
		e.env.SetKafka(e.rec)
		in.produce(ctx, e)
	}
}

func (in *ingress) produce(ctx context.Context, e *entry) {
	e.attempts++

	in.a.kafka.Produce(ctx, e.rec, func(_ *kgo.Record, err error) {
		switch {
		case err == nil:
			in.complete(e, nil, resultProduced)
		case ctx.Err() != nil:
			in.complete(e, err, "")
		case e.msg.Qos() == 0:
			in.a.log.Warn("mqtt ingress: QoS 0 message not taken by Kafka", "rule", e.rule.Name, "topic", e.rec.Topic, "error", err)
			in.complete(e, nil, resultFailed)
		case permanent(err) && e.attempts > 1:
			// Refused twice: the first refusal may have been of a batch
			// this record only shared with the record at fault.
			go in.deadLetter(ctx, e, err)
		default:
			in.a.m.retries.WithLabelValues("ingress").Inc()
			in.a.log.Warn("mqtt ingress: produce failed; trying again", "rule", e.rule.Name, "topic", e.rec.Topic, "attempts", e.attempts, "error", err)
			e.rec = retryRecord(e.rec)
			time.AfterFunc(backoff(e.attempts), func() { in.produce(ctx, e) })
		}
	})
}

// avroContentType is the content-type of events in the Confluent wire
// format.
const avroContentType = "application/vnd.apache.avro+binary"

// enforce encodes (json) or checks (avro) e's payload with the schema of its
// Kafka topic. It returns the reason a payload does not fit, or ctx's error:
// registry outages are waited out, holding the pipeline (and so the acks)
// back like a Kafka outage does.
func (in *ingress) enforce(ctx context.Context, e *entry) error {
	for attempt := 1; ; attempt++ {
		var err error
		switch e.rule.Schema.Format {
		case FormatJSON:
			var v []byte
			if v, err = in.a.serde.EncodeJSON(ctx, e.rec.Topic, "", e.rec.Value); err == nil {
				e.rec.Value = v
			}
		case FormatAvro:
			_, err = in.a.serde.Validate(ctx, e.rec.Value)
		}
		switch {
		case err == nil:
			e.env.ContentType = avroContentType
			return nil
		case payloadError(err), ctx.Err() != nil:
			return err
		}
		in.a.m.retries.WithLabelValues("registry").Inc()
		in.a.log.Warn("mqtt ingress: schema registry unavailable; trying again", "rule", e.rule.Name, "topic", e.rec.Topic, "attempts", attempt, "error", err)
		select {
		case <-time.After(backoff(attempt)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// payloadError reports whether err says that a payload does not fit the
// topic's schema (or that the topic has none registered), as opposed to a
// registry that does not answer.
func payloadError(err error) bool {
	for _, target := range []error{serde.ErrPayloadMismatch, serde.ErrNotFramed, serde.ErrUnknownID, serde.ErrNotRegistered, serde.ErrInvalidSchema} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// permanent reports whether Kafka refused a record for good, so that trying
// again cannot help (e.g. it is too large).
func permanent(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && !ke.Retriable
}

// retryRecord copies what a record carries, so it can be produced afresh.
func retryRecord(r *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
}

// deadLetter writes an entry Kafka refused to its topic's DLQ, trying until
// the write succeeds or ctx ends; only then is the message acknowledged.
func (in *ingress) deadLetter(ctx context.Context, e *entry, cause error) {
	f := dlq.Failure{
		Err:       cause,
		Component: "mqtt-adapter/" + in.a.cfg.Site,
		Topic:     e.rec.Topic,
		Offset:    -1,
		Source:    "mqtt://" + in.host + "/" + e.msg.Topic(),
		Attempts:  e.attempts,
	}
	for attempt := 1; ; attempt++ {
		f.Time = time.Now()
		err := in.a.dlq.Write(ctx, e.rec, f)
		if err == nil {
			in.a.m.dlq.WithLabelValues(e.rule.Name).Inc()
			in.complete(e, nil, resultDLQ)
			return
		}
		in.a.log.Warn("mqtt ingress: dead-letter write failed; trying again", "rule", e.rule.Name, "topic", e.rec.Topic, "error", err)
		select {
		case <-time.After(backoff(attempt)):
		case <-ctx.Done():
			in.complete(e, ctx.Err(), "")
			return
		}
	}
}

func (in *ingress) complete(e *entry, err error, result string) {
	in.mu.Lock()
	e.done, e.err, e.result = true, err, result
	in.mu.Unlock()
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// acks releases completed entries from the head of the arrival order, until
// ctx ends.
func (in *ingress) acks(ctx context.Context) {
	var ready []*entry
	var w ackWriter
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
		in.order = in.order[n:]
		for _, e := range ready {
			if e.err != nil {
				in.broken = true
			}
		}
		broken := in.broken
		in.mu.Unlock()
		if !broken {
			for _, e := range ready {
				if e.msg.Qos() > 0 {
					w.add(e.conn, e.msg)
				}
			}
			w.flush()
		}
		for _, e := range ready {
			in.release(e)
		}
	}
}

func (in *ingress) release(e *entry) {
	if e.err == nil {
		if e.rule == nil {
			in.a.m.unmatched.Inc()
		} else {
			in.count(e, e.result)
			in.a.m.ackLatency.WithLabelValues(e.rule.Name).Observe(time.Since(e.received).Seconds())
		}
	}
	in.a.m.inFlight.Dec()
	<-in.window
	in.unpend()
}

// unpend counts one message out of the pipeline and tells drain.
func (in *ingress) unpend() {
	in.pending.Add(-1)
	select {
	case in.progress <- struct{}{}:
	default:
	}
}

func (in *ingress) count(e *entry, result string) {
	name := "unmatched"
	if e.rule != nil {
		name = e.rule.Name
	}
	in.a.m.ingress.WithLabelValues(name, strconv.Itoa(int(e.msg.Qos())), result).Inc()
}

// drain stops taking messages and waits until every queued or in-flight
// message was acknowledged, or ctx ends.
func (in *ingress) drain(ctx context.Context) error {
	close(in.stop)
	in.stopMu.Lock()
	in.stopping = true
	in.stopMu.Unlock()
	for in.pending.Load() > 0 {
		select {
		case <-in.progress:
		case <-ctx.Done():
			return errors.New("mqtt ingress: messages still in flight at shutdown; the broker delivers them again")
		}
	}
	return nil
}

// backoff is the wait before attempt n+1: exponential from 100ms, capped.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < attempt && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}
