package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/trace"
)

// Adapter bridges one MQTT broker session and one Kafka cluster. It is a
// service.Service: New, Start, Ready, Close.
type Adapter struct {
	cfg    Config
	log    *slog.Logger
	m      *adapters.Metrics
	sm     *sessionMetrics
	bridge *adapters.Bridge
	in     *ingress // nil without ingress rules
	rules  []egressRule
	sess   session

	// conn is the latest connection to the broker: the one the messages
	// now being delivered arrived on, and so the one to acknowledge them on.
	conn atomic.Pointer[coalescingConn]
}

// session is the adapter's one session with the broker: it hands what it
// receives to the ingress and publishes for egress. session5 (MQTT 5) and
// session311 (MQTT 3.1.1) are the two.
type session interface {
	// Connect connects in the background, retrying, until ctx ends; Ready
	// reports whether the session is up with its subscriptions; Close
	// disconnects, waiting at most until ctx ends.
	adapters.Link
	// publish hands a record to the broker; the Confirm completes with its
	// acknowledgement.
	publish(ctx context.Context, topic string, qos byte, retain bool, r *kgo.Record) adapters.Confirm
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
	if a.bridge, err = adapters.NewBridge(adapters.BridgeConfig{
		Protocol: "mqtt", Site: cfg.Site, Kafka: cfg.Kafka, KafkaOpts: extra, Registry: cfg.Registry,
		LeaseOwner: cfg.Broker.ClientID, Metrics: a.m, Log: logger, NotReadyAfter: cfg.NotReadyAfter,
		Trace: cfg.Trace, TraceProtocol: trace.ProtocolMQTT, Registerer: reg,
	}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = a.bridge.Close(context.Background())
		}
	}()
	if len(inRules) > 0 {
		u, _ := url.Parse(cfg.Broker.URL) // checked by Validate
		a.in = &ingress{rules: inRules, host: u.Host, clientID: cfg.Broker.ClientID}
		if a.in.pipe, err = a.bridge.NewIngress(cfg.MaxInFlight, cfg.MaxQueued, func() { a.in.acks.flush() }); err != nil {
			return nil, err
		}
	}
	if cfg.Broker.Protocol == Protocol311 {
		a.sess, err = newSession311(a)
	} else {
		a.sess, err = newSession5(a)
	}
	if err != nil {
		return nil, err
	}
	a.bridge.SetLink(a.sess)
	for _, r := range outRules {
		if err := a.bridge.AddEgress(r.name, r.group, r.Topics, cfg.MaxInFlight, cfg.Broker.PublishTimeout, &sender{a: a, rule: r}); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Start connects to the broker (in the background, retrying with backoff)
// and starts the pipelines. ctx is not kept: Close stops the adapter.
func (a *Adapter) Start(ctx context.Context) error { return a.bridge.Start(ctx) }

// Ready reports whether the broker session is up with its subscriptions,
// Kafka answers, and no pipeline has been failing for long.
func (a *Adapter) Ready(ctx context.Context) error { return a.bridge.Ready(ctx) }

// Close stops the adapter gracefully: it stops taking MQTT messages and
// polling Kafka, waits (at most until ctx ends) for messages in flight to be
// acknowledged and publishes to complete, commits egress offsets,
// disconnects from the broker and closes the Kafka clients. What was not
// acknowledged by then is redelivered by the broker or Kafka.
func (a *Adapter) Close(ctx context.Context) error {
	err := a.bridge.Close(ctx)
	a.sm.connected.Set(0)
	return err
}
