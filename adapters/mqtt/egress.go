package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
)

// egress carries the records of one rule's Kafka topics to MQTT. Records of
// one partition are published in order, up to max_in_flight at a time, and
// marked for commit only once the broker acknowledged them, in order: the
// committed offset of a partition never passes a record whose publish did
// not complete. A failed or timed-out publish is tried again from that
// record on (QoS 1 allows the duplicates this makes). The group is polled
// with rebalances blocked until the fetched records are done, so no record
// of a revoked partition is marked after another member took it over.
type egress struct {
	a    *Adapter
	rule *EgressRule
	cl   *kgo.Client
}

func newEgress(a *Adapter, r *EgressRule, opts ...kgo.Opt) (*egress, error) {
	opts = append([]kgo.Opt{
		kgo.ConsumerGroup(r.Group),
		kgo.ConsumeTopics(r.Topics...),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
	}, opts...)
	cl, err := newKafkaClient(a.cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("mqtt egress %s: %w", r.Name, err)
	}
	return &egress{a: a, rule: r, cl: cl}, nil
}

// run polls until poll ends, delivering what it fetched; deliveries in
// progress stop waiting when work ends.
func (e *egress) run(poll, work context.Context) {
	for {
		fs := e.cl.PollRecords(poll, e.a.cfg.MaxInFlight)
		if fs.IsClientClosed() || poll.Err() != nil {
			e.cl.AllowRebalance()
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			e.a.log.Warn("mqtt egress: fetch failed", "rule", e.rule.Name, "topic", topic, "partition", p, "error", err)
		})
		// Partitions are delivered side by side, each in order.
		var wg sync.WaitGroup
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if work.Err() == nil {
				wg.Go(func() { e.deliver(work, p.Records) })
			}
		})
		wg.Wait()
		e.cl.AllowRebalance()
	}
}

// deliver publishes the records of one partition in order and marks each
// for commit after its publish completed, until all are done or ctx ends.
func (e *egress) deliver(ctx context.Context, recs []*kgo.Record) {
	for attempt := 0; len(recs) > 0; {
		n := min(len(recs), e.a.cfg.MaxInFlight)
		tokens := make([]paho.Token, n)
		for i, r := range recs[:n] {
			if e.echo(r) {
				continue
			}
			topic := e.topic(r)
			if topic == "" || strings.ContainsAny(topic, "+#") {
				tokens[i] = e.deadLetter(ctx, r, fmt.Errorf("mqtt egress: template %q gives %q, not a topic to publish to", e.rule.mqttTopic.src, topic))
				continue
			}
			tokens[i] = e.publish(ctx, topic, r)
		}
		start := time.Now()
		done := 0
		var err error
		for i, t := range tokens {
			if t != nil {
				if err = e.wait(ctx, t); err != nil {
					break
				}
				if dt, ok := t.(doneToken); !ok || !dt.deadLetter {
					e.a.m.publishTime.WithLabelValues(e.rule.Name).Observe(time.Since(start).Seconds())
					e.a.m.egress.WithLabelValues(e.rule.Name, resultPublished).Inc()
				}
			} else {
				e.a.m.egress.WithLabelValues(e.rule.Name, resultSkipped).Inc()
			}
			e.cl.MarkCommitRecords(recs[i])
			done++
		}
		recs = recs[done:]
		if err == nil {
			attempt = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		attempt++
		e.a.m.retries.WithLabelValues("egress").Inc()
		e.a.log.Warn("mqtt egress: publish failed; trying again", "rule", e.rule.Name, "topic", recs[0].Topic,
			"partition", recs[0].Partition, "offset", recs[0].Offset, "attempts", attempt, "error", err)
		select {
		case <-time.After(backoff(attempt)):
		case <-ctx.Done():
			return
		}
	}
}

// publish hands r to the broker. Over MQTT 3.1.1 the token completes with
// the PUBACK, so deliver keeps up to max_in_flight publishes outstanding;
// over MQTT 5 it returns once the PUBACK arrived (see sessionV5).
func (e *egress) publish(ctx context.Context, topic string, r *kgo.Record) paho.Token {
	if e.a.v5 != nil {
		return e.a.v5.publish(ctx, topic, e.rule.QoS, e.rule.Retain, r)
	}
	return e.a.mqtt.Publish(topic, e.rule.QoS, e.rule.Retain, r.Value)
}

// deadLetter writes r to its topic's DLQ and returns a completed token
// carrying the outcome, so that deliver treats it like a publish.
func (e *egress) deadLetter(ctx context.Context, r *kgo.Record, cause error) paho.Token {
	err := e.a.dlq.Write(ctx, r, dlq.Failure{
		Err:       cause,
		Component: "mqtt-adapter/" + e.a.cfg.Site,
		Partition: r.Partition,
		Offset:    r.Offset,
		Attempts:  1,
		Time:      time.Now(),
	})
	if err == nil {
		e.a.m.dlq.WithLabelValues(e.rule.Name).Inc()
	}
	return doneToken{err: err, deadLetter: true}
}

// doneToken is a paho.Token that has already completed: a publish over
// MQTT 5, or a record written to the DLQ instead.
type doneToken struct {
	err        error
	deadLetter bool
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { return closedChan }
func (t doneToken) Error() error                 { return t.err }

var errPublishTimeout = errors.New("no acknowledgement from the broker in time")

func (e *egress) wait(ctx context.Context, t paho.Token) error {
	timer := time.NewTimer(e.a.cfg.Broker.PublishTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-timer.C:
		return errPublishTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// echo reports whether r came from this adapter's own ingress at this site:
// carrying it back to the broker would loop.
func (e *egress) echo(r *kgo.Record) bool {
	var adapter, origin string
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderAdapter:
			adapter = string(h.Value)
		case envelope.HeaderOrigin:
			origin = string(h.Value)
		}
	}
	return adapter == e.a.cfg.Broker.ClientID && origin == e.a.cfg.Site
}

// topic renders the rule's MQTT topic for r.
func (e *egress) topic(r *kgo.Record) string {
	return e.rule.mqttTopic.render(func(name string) string {
		switch name {
		case varKey:
			return string(r.Key)
		case varTopic:
			return r.Topic
		}
		want := name[len(headerPrefix):]
		for _, h := range r.Headers {
			if h.Key == want {
				return string(h.Value)
			}
		}
		return ""
	})
}

// close commits what was marked and leaves the group.
func (e *egress) close(ctx context.Context) error {
	err := e.cl.CommitMarkedOffsets(ctx)
	e.cl.Close()
	if err != nil {
		return fmt.Errorf("mqtt egress %s: commit at shutdown: %w", e.rule.Name, err)
	}
	return nil
}
