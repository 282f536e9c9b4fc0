package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/trace"
)

// Adapter bridges one MQTT broker session and one Kafka cluster. It is a
// service.Service: New, Start, Ready, Close.
type Adapter struct {
	cfg   Config
	log   *slog.Logger
	m     *adapters.Metrics
	sm    *sessionMetrics
	kafka *kgo.Client // produces ingress records and dead letters
	dead  *adapters.DeadLetters
	trace *trace.Recorder // nil when tracing is off
	in    *ingress        // nil without ingress rules
	out   []*adapters.Egress
	rules []egressRule
	sess  session

	// conn is the latest connection to the broker: the one the messages
	// now being delivered arrived on, and so the one to acknowledge them on.
	conn atomic.Pointer[coalescingConn]

	// work ends deliveries in progress (produce, publish waits); poll ends
	// egress polling. Close ends poll first and work last.
	work, poll         context.Context
	stopWork, stopPoll context.CancelFunc
	wg, egressWG       sync.WaitGroup
}

// session is the adapter's one session with the broker: it hands what it
// receives to the ingress and publishes for egress. session5 (MQTT 5) and
// session311 (MQTT 3.1.1) are the two.
type session interface {
	// connect connects in the background, retrying, until ctx ends.
	connect(ctx context.Context) error
	// ready reports whether the session is up with its subscriptions.
	ready() error
	// publish hands a record to the broker; the Confirm completes with its
	// acknowledgement.
	publish(ctx context.Context, topic string, qos byte, retain bool, r *kgo.Record) adapters.Confirm
	// close disconnects, waiting at most until ctx ends.
	close(ctx context.Context) error
}

// New builds an adapter from cfg, which it validates; it does no I/O.
// extra options go to every Kafka client (tests use them for short
// timeouts).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (_ *Adapter, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mqtt adapter config: %w", err)
	}
	inRules, outRules, _ := cfg.rules() // checked by Validate
	a := &Adapter{cfg: cfg, log: logger, m: adapters.NewMetrics(reg, "mqtt", cfg.Site), sm: newSessionMetrics(reg, cfg.Site), rules: outRules}
	defer func() {
		if err != nil {
			a.closeKafka()
		}
	}()
	// Topic templates name topics that may not exist yet: let the broker
	// create them, where its auto.create.topics.enable allows.
	// Batches are sized to each topic's max.message.bytes, which the
	// ingress reads before it first produces to a topic.
	limits := kafkaclient.NewLimits()
	if a.kafka, err = kafkaclient.New(cfg.Kafka, "mqtt", cfg.Site, append([]kgo.Opt{kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytesFn(limits.BatchMaxBytes)}, extra...)...); err != nil {
		return nil, err
	}
	limits.Use(a.kafka)
	component := "mqtt-adapter/" + cfg.Site
	a.dead = adapters.NewDeadLetters(a.kafka, limits, component, logger, a.m)
	if a.trace, err = trace.NewRecorder(a.kafka, cfg.Site, component, cfg.Trace, logger, reg); err != nil {
		return nil, err
	}
	if len(inRules) > 0 {
		var schemas *adapters.Schemas
		if cfg.Registry.URL != "" {
			if schemas, err = adapters.NewSchemas(cfg.Registry.URL, logger, a.m); err != nil {
				return nil, fmt.Errorf("mqtt adapter: %w", err)
			}
		}
		u, _ := url.Parse(cfg.Broker.URL) // checked by Validate
		a.in = &ingress{rules: inRules, host: u.Host, clientID: cfg.Broker.ClientID}
		a.in.pipe = adapters.NewIngress(adapters.IngressConfig{
			Site: cfg.Site, Component: component,
			MaxInFlight: cfg.MaxInFlight, MaxQueued: cfg.MaxQueued,
			Kafka: a.kafka, DeadLetters: a.dead, Schemas: schemas, Metrics: a.m, Log: logger,
			Limits: limits, NotReadyAfter: cfg.NotReadyAfter,
			AfterSettle: func() { a.in.acks.flush() },
			Trace:       a.trace, Protocol: trace.ProtocolMQTT,
		})
	}
	if cfg.Broker.Protocol == Protocol311 {
		a.sess, err = newSession311(a)
	} else {
		a.sess, err = newSession5(a)
	}
	if err != nil {
		return nil, err
	}
	for _, r := range outRules {
		cl, err := kafkaclient.New(cfg.Kafka, "mqtt", cfg.Site, append(adapters.GroupOptions(r.group, r.topics...), extra...)...)
		if err != nil {
			return nil, fmt.Errorf("mqtt egress %s: %w", r.name, err)
		}
		a.out = append(a.out, adapters.NewEgress(adapters.EgressConfig{
			Rule: r.name, Client: cl, MaxInFlight: cfg.MaxInFlight, Timeout: cfg.Broker.PublishTimeout,
			Sender: &sender{a: a, rule: r}, DeadLetters: a.dead, Metrics: a.m, Log: logger,
			NotReadyAfter: cfg.NotReadyAfter,
			Trace:         a.trace, Protocol: trace.ProtocolMQTT,
		}))
	}
	return a, nil
}

func (a *Adapter) closeKafka() {
	for _, e := range a.out {
		_ = e.Close(context.Background())
	}
	if a.kafka != nil {
		a.kafka.Close()
	}
}

// Start connects to the broker (in the background, retrying with backoff)
// and starts the pipelines. ctx is not kept: Close stops the adapter.
func (a *Adapter) Start(context.Context) error {
	a.work, a.stopWork = context.WithCancel(context.Background())
	a.poll, a.stopPoll = context.WithCancel(a.work)
	a.trace.Start(a.work)
	if a.in != nil {
		a.wg.Go(func() { a.in.pipe.Run(a.work) })
	}
	if err := a.sess.connect(a.work); err != nil {
		a.stopWork()
		a.wg.Wait()
		return err
	}
	if len(a.rules) > 0 {
		topics := map[string][]string{}
		for _, r := range a.rules {
			topics[r.name] = r.topics
		}
		a.wg.Go(func() {
			if err := adapters.LeaseTopics(a.work, a.kafka, a.cfg.Site, a.cfg.Broker.ClientID, topics, a.log); err != nil {
				a.log.Warn("mqtt egress: the interest leases were not closed; they expire", "error", err)
			}
		})
	}
	for _, e := range a.out {
		a.egressWG.Go(func() { e.Run(a.poll, a.work) })
	}
	return nil
}

// Ready reports whether the broker session is up with its subscriptions,
// Kafka answers, and no pipeline has been failing for long.
func (a *Adapter) Ready(ctx context.Context) error {
	if err := a.sess.ready(); err != nil {
		return err
	}
	if err := a.kafka.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	var errs []error
	if a.in != nil {
		errs = append(errs, a.in.pipe.Ready())
	}
	for _, e := range a.out {
		errs = append(errs, e.Ready())
	}
	return errors.Join(errs...)
}

// Close stops the adapter gracefully: it stops taking MQTT messages and
// polling Kafka, waits (at most until ctx ends) for messages in flight to be
// acknowledged and publishes to complete, commits egress offsets,
// disconnects from the broker and closes the Kafka clients. What was not
// acknowledged by then is redelivered by the broker or Kafka.
func (a *Adapter) Close(ctx context.Context) error {
	if a.work == nil { // never started
		a.closeKafka()
		return nil
	}
	var errs []error
	a.stopPoll()
	if a.in != nil {
		errs = append(errs, a.in.pipe.Drain(ctx))
	}
	polled := make(chan struct{})
	go func() { a.egressWG.Wait(); close(polled) }()
	select {
	case <-polled:
	case <-ctx.Done():
	}
	a.stopWork()
	<-polled
	a.wg.Wait()
	for _, e := range a.out {
		errs = append(errs, e.Close(ctx))
	}
	errs = append(errs, a.sess.close(ctx))
	a.sm.connected.Set(0)
	errs = append(errs, a.trace.Close(ctx)) // before the client it writes with
	a.kafka.Close()
	return errors.Join(errs...)
}
