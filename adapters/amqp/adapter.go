package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/trace"
)

// Adapter bridges one AMQP 1.0 broker and one Kafka cluster. It is a
// service.Service: New, Start, Ready, Close.
type Adapter struct {
	cfg    Config
	log    *slog.Logger
	m      *adapters.Metrics
	lm     *linkMetrics
	kafka  *kgo.Client // produces ingress records and dead letters
	dead   *adapters.DeadLetters
	trace  *trace.Recorder // nil when tracing is off
	in     *ingress        // nil without ingress rules
	out    []*adapters.Egress
	rules  []egressRule
	broker *broker

	// work ends deliveries in progress (produce, send waits); poll ends
	// egress polling; links ends the connection. Close ends poll first,
	// then (once in-flight messages are settled) work, and links last.
	work, poll, links             context.Context
	stopWork, stopPoll, stopLinks context.CancelFunc
	wg, egressWG, connWG          sync.WaitGroup
	waits                         sync.WaitGroup // egress outcome waits
}

// New builds an adapter from cfg, which it validates; it does no I/O.
// extra options go to every Kafka client (tests use them for short
// timeouts).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (_ *Adapter, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("amqp adapter config: %w", err)
	}
	inRules, outRules, _ := cfg.rules() // checked by Validate
	a := &Adapter{cfg: cfg, log: logger, m: adapters.NewMetrics(reg, "amqp", cfg.Site), lm: newLinkMetrics(reg, cfg.Site), rules: outRules}
	defer func() {
		if err != nil {
			a.closeKafka()
		}
	}()
	limits := kafkaclient.NewLimits()
	if a.kafka, err = kafkaclient.New(cfg.Kafka, "amqp", cfg.Site, append([]kgo.Opt{kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytesFn(limits.BatchMaxBytes)}, extra...)...); err != nil {
		return nil, err
	}
	limits.Use(a.kafka)
	component := "amqp-adapter/" + cfg.Site
	a.dead = adapters.NewDeadLetters(a.kafka, limits, component, logger, a.m)
	if a.trace, err = trace.NewRecorder(a.kafka, cfg.Site, component, cfg.Trace, logger, reg); err != nil {
		return nil, err
	}
	if len(inRules) > 0 {
		var schemas *adapters.Schemas
		if cfg.Registry.URL != "" {
			if schemas, err = adapters.NewSchemas(cfg.Registry.URL, logger, a.m); err != nil {
				return nil, fmt.Errorf("amqp adapter: %w", err)
			}
		}
		u, _ := url.Parse(cfg.Broker.URL) // checked by Validate
		a.in = &ingress{rules: inRules, host: u.Host, id: cfg.containerID(), log: logger, m: a.lm,
			settleTimeout: cfg.Broker.SendTimeout, credit: uint32(cfg.MaxInFlight)}
		// Each receiver's credit bounds what the broker sends: the queue
		// holds what all receivers may have out beyond the window.
		a.in.pipe = adapters.NewIngress(adapters.IngressConfig{
			Site: cfg.Site, Component: component,
			MaxInFlight: cfg.MaxInFlight, MaxQueued: cfg.MaxInFlight * len(inRules),
			Kafka: a.kafka, DeadLetters: a.dead, Schemas: schemas, Metrics: a.m, Log: logger,
			Limits: limits, NotReadyAfter: cfg.NotReadyAfter,
			AfterSettle: a.in.flushCredit,
			Trace:       a.trace, Protocol: trace.ProtocolAMQP,
		})
		a.lm.credit.Set(float64(cfg.MaxInFlight))
	}
	if a.broker, err = newBroker(cfg, a.in, logger, a.lm); err != nil {
		return nil, err
	}
	for _, r := range outRules {
		cl, err := kafkaclient.New(cfg.Kafka, "amqp", cfg.Site, append(adapters.GroupOptions(r.group, r.topics...), extra...)...)
		if err != nil {
			return nil, fmt.Errorf("amqp egress %s: %w", r.name, err)
		}
		a.out = append(a.out, adapters.NewEgress(adapters.EgressConfig{
			Rule: r.name, Client: cl, MaxInFlight: cfg.MaxInFlight, Timeout: cfg.Broker.SendTimeout,
			Sender:      &sender{rule: r, links: a.broker, site: cfg.Site, id: cfg.containerID(), timeout: cfg.Broker.SendTimeout, m: a.lm, waits: &a.waits},
			DeadLetters: a.dead, Metrics: a.m, Log: logger, NotReadyAfter: cfg.NotReadyAfter,
			Trace: a.trace, Protocol: trace.ProtocolAMQP,
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
	a.links, a.stopLinks = context.WithCancel(context.Background())
	a.work, a.stopWork = context.WithCancel(context.Background())
	a.poll, a.stopPoll = context.WithCancel(a.work)
	a.trace.Start(a.work)
	if a.in != nil {
		a.wg.Go(func() { a.in.pipe.Run(a.work) })
	}
	a.connWG.Go(func() { a.broker.run(a.links) })
	if len(a.rules) > 0 {
		topics := map[string][]string{}
		for _, r := range a.rules {
			topics[r.name] = r.topics
		}
		a.wg.Go(func() {
			if err := adapters.LeaseTopics(a.work, a.kafka, a.cfg.Site, a.cfg.containerID(), topics, a.log); err != nil {
				a.log.Warn("amqp egress: the interest leases were not closed; they expire", "error", err)
			}
		})
	}
	for _, e := range a.out {
		a.egressWG.Go(func() { e.Run(a.poll, a.work) })
	}
	return nil
}

// Ready reports whether the broker connection is up with its receivers,
// Kafka answers, and no pipeline has been failing for long.
func (a *Adapter) Ready(ctx context.Context) error {
	if err := a.broker.ready(); err != nil {
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

// Close stops the adapter gracefully: it stops polling Kafka and taking
// messages (those the broker still sends are Released to the next
// consumer), waits (at most until ctx ends) for messages in flight to be
// written to Kafka and Accepted and for sends to be Accepted, commits
// egress offsets, then closes the connection and the Kafka clients. What
// was not settled by then is delivered again by the broker or Kafka.
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
	a.waits.Wait()
	for _, e := range a.out {
		errs = append(errs, e.Close(ctx))
	}
	a.stopLinks()
	a.connWG.Wait()
	errs = append(errs, a.trace.Close(ctx)) // before the client it writes with
	a.kafka.Close()
	return errors.Join(errs...)
}
