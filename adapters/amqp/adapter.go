package amqp

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/trace"
)

// Adapter bridges one AMQP 1.0 broker and one Kafka cluster. It is a
// service.Service: New, Start, Ready, Close.
type Adapter struct {
	cfg    Config
	log    *slog.Logger
	m      *adapters.Metrics
	lm     *linkMetrics
	bridge *adapters.Bridge
	in     *ingress // nil without ingress rules
	rules  []egressRule
	broker *broker
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
	if a.bridge, err = adapters.NewBridge(adapters.BridgeConfig{
		Protocol: "amqp", Site: cfg.Site, Kafka: cfg.Kafka, KafkaOpts: extra, Registry: cfg.Registry,
		LeaseOwner: cfg.containerID(), Metrics: a.m, Log: logger, NotReadyAfter: cfg.NotReadyAfter,
		Trace: cfg.Trace, TraceProtocol: trace.ProtocolAMQP, Registerer: reg,
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
		a.in = &ingress{rules: inRules, host: u.Host, id: cfg.containerID(), log: logger, m: a.lm,
			settleTimeout: cfg.Broker.SendTimeout, credit: uint32(cfg.MaxInFlight), stallTimeout: cfg.Broker.StallTimeout}
		// Each receiver's credit bounds what the broker sends: the queue
		// holds what all receivers may have out beyond the window.
		if a.in.pipe, err = a.bridge.NewIngress(cfg.MaxInFlight, cfg.MaxInFlight*len(inRules), a.in.flushCredit); err != nil {
			return nil, err
		}
		a.lm.credit.Set(float64(cfg.MaxInFlight))
	}
	if a.broker, err = newBroker(cfg, a.in, logger, a.lm); err != nil {
		return nil, err
	}
	a.bridge.SetLink(a.broker)
	for _, r := range outRules {
		s := &sender{rule: r, links: a.broker, site: cfg.Site, id: cfg.containerID(), timeout: cfg.Broker.SendTimeout, m: a.lm, waits: &a.broker.waits}
		if err := a.bridge.AddEgress(r.name, r.group, r.Topics, cfg.MaxInFlight, cfg.Broker.SendTimeout, s); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Start connects to the broker (in the background, retrying with backoff)
// and starts the pipelines. ctx is not kept: Close stops the adapter.
func (a *Adapter) Start(ctx context.Context) error { return a.bridge.Start(ctx) }

// Ready reports whether the broker connection is up with its receivers,
// Kafka answers, and no pipeline has been failing for long.
func (a *Adapter) Ready(ctx context.Context) error { return a.bridge.Ready(ctx) }

// Close stops the adapter gracefully: it stops polling Kafka and taking
// messages (those the broker still sends are Released to the next
// consumer), waits (at most until ctx ends) for messages in flight to be
// written to Kafka and Accepted and for sends to be Accepted, commits
// egress offsets, then closes the connection and the Kafka clients. What
// was not settled by then is delivered again by the broker or Kafka.
func (a *Adapter) Close(ctx context.Context) error { return a.bridge.Close(ctx) }
