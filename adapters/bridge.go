package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/trace"
)

// Link is a protocol adapter's side of a Bridge: its connection to the
// broker, which hands received messages to the bridge's Ingress and
// carries the egress Senders' messages.
type Link interface {
	// Connect starts connecting in the background, retrying with backoff;
	// it fails only when connecting can never succeed. ctx ends once the
	// pipelines have stopped: a link that settles what they hand back as
	// they stop keeps its connection until Close.
	Connect(ctx context.Context) error
	// Ready reports whether the connection is up with its subscriptions
	// or receivers.
	Ready() error
	// Close disconnects, waiting at most until ctx ends. The bridge calls
	// it last, once the pipelines stopped and egress offsets are committed.
	Close(ctx context.Context) error
}

// BridgeConfig configures a Bridge.
type BridgeConfig struct {
	// Protocol names the adapter (mqtt, amqp) in its Kafka clients' ids,
	// its component name (dead letters, leases) and its logs.
	Protocol string
	Site     string
	// Kafka configures every Kafka client; KafkaOpts are added to each
	// (tests use them for short timeouts).
	Kafka     kafkaclient.Config
	KafkaOpts []kgo.Opt
	// Registry is where rules with a schema find it; empty without such
	// rules.
	Registry Registry
	// LeaseOwner names who holds the egress topics' interest leases (the
	// adapter's client or container id).
	LeaseOwner    string
	Metrics       *Metrics
	Log           *slog.Logger
	NotReadyAfter time.Duration
	// Trace configures the hops the bridge's pipelines record to the
	// site's _mesh.trace; TraceProtocol is the protocol side of them.
	// Registerer takes the recorder's metrics.
	Trace         trace.Config
	TraceProtocol trace.Protocol
	Registerer    prometheus.Registerer
}

// Bridge is what every adapter between a broker and Kafka runs, whatever
// the protocol: one Kafka client producing ingress records and dead
// letters, at most one ingress pipeline, a consumer group per egress rule,
// the egress topics' interest leases, and the lifecycle of them all with
// the adapter's Link: Start, Ready, and a Close that settles what is in
// flight before it disconnects.
type Bridge struct {
	cfg    BridgeConfig
	kafka  *kgo.Client
	limits *kafkaclient.Limits
	dead   *DeadLetters
	trace  *trace.Recorder // nil when tracing is off
	in     *Ingress
	out    []*Egress
	leases map[string][]string // egress rule -> topics
	link   Link

	// work ends deliveries in progress (produce, send waits); poll ends
	// egress polling. Close ends poll first and work once what is in
	// flight is settled.
	work, poll         context.Context
	stopWork, stopPoll context.CancelFunc
	wg, egressWG       sync.WaitGroup
}

// NewBridge makes the bridge's producing Kafka client; it does no I/O.
// Topic templates name topics that may not exist yet: the broker creates
// them where its auto.create.topics.enable allows. Batches are sized to
// each topic's max.message.bytes, which the ingress reads before it first
// produces to a topic.
func NewBridge(cfg BridgeConfig) (*Bridge, error) {
	b := &Bridge{cfg: cfg, limits: kafkaclient.NewLimits(), leases: map[string][]string{}}
	var err error
	if b.kafka, err = kafkaclient.New(cfg.Kafka, cfg.Protocol, cfg.Site, append([]kgo.Opt{kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytesFn(b.limits.BatchMaxBytes)}, cfg.KafkaOpts...)...); err != nil {
		return nil, err
	}
	b.limits.Use(b.kafka)
	b.dead = NewDeadLetters(b.kafka, b.limits, b.component(), cfg.Log, cfg.Metrics)
	if b.trace, err = trace.NewRecorder(b.kafka, cfg.Site, b.component(), cfg.Trace, cfg.Log, cfg.Registerer); err != nil {
		b.kafka.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bridge) component() string { return Component(b.cfg.Protocol, b.cfg.Site) }

// Kafka is the producing client.
func (b *Bridge) Kafka() *kgo.Client { return b.kafka }

// DeadLetters writes what the bridge's pipelines cannot deliver.
func (b *Bridge) DeadLetters() *DeadLetters { return b.dead }

// NewIngress makes the bridge's ingress pipeline: at most maxInFlight
// messages handed to Kafka and not yet settled, maxQueued waiting for a
// place; afterSettle (optional) runs after each batch of settlements, as
// IngressConfig says.
func (b *Bridge) NewIngress(maxInFlight, maxQueued int, afterSettle func()) (*Ingress, error) {
	var schemas *Schemas
	if b.cfg.Registry.URL != "" {
		var err error
		if schemas, err = NewSchemas(b.cfg.Registry, b.cfg.Log, b.cfg.Metrics); err != nil {
			return nil, fmt.Errorf("%s adapter: %w", b.cfg.Protocol, err)
		}
	}
	b.in = NewIngress(IngressConfig{
		Site: b.cfg.Site, Component: b.component(),
		MaxInFlight: maxInFlight, MaxQueued: maxQueued,
		Kafka: b.kafka, DeadLetters: b.dead, Schemas: schemas, Metrics: b.cfg.Metrics, Log: b.cfg.Log,
		Limits: b.limits, NotReadyAfter: b.cfg.NotReadyAfter,
		AfterSettle: afterSettle,
		Trace:       b.trace, Protocol: b.cfg.TraceProtocol,
	})
	return b.in, nil
}

// AddEgress adds an egress rule: a consumer group reading topics, handing
// records to send, at most maxInFlight of a partition unconfirmed, each
// confirmation awaited at most timeout. Its topics are leased as interest
// while the bridge runs.
func (b *Bridge) AddEgress(rule, group string, topics []string, maxInFlight int, timeout time.Duration, send Sender) error {
	cl, err := kafkaclient.New(b.cfg.Kafka, b.cfg.Protocol, b.cfg.Site, append(GroupOptions(group, topics...), b.cfg.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("%s egress %s: %w", b.cfg.Protocol, rule, err)
	}
	b.out = append(b.out, NewEgress(EgressConfig{
		Rule: rule, Client: cl, MaxInFlight: maxInFlight, Timeout: timeout, Sender: send,
		DeadLetters: b.dead, Metrics: b.cfg.Metrics, Log: b.cfg.Log, NotReadyAfter: b.cfg.NotReadyAfter,
		Trace: b.trace, Protocol: b.cfg.TraceProtocol,
	}))
	b.leases[rule] = topics
	return nil
}

// SetLink sets the adapter's link to the broker; call it once, before
// Start (Ready may be asked while Start runs).
func (b *Bridge) SetLink(link Link) { b.link = link }

// Start starts the pipelines and has the link connect. ctx is not kept:
// Close stops the bridge.
func (b *Bridge) Start(context.Context) error {
	b.work, b.stopWork = context.WithCancel(context.Background())
	b.poll, b.stopPoll = context.WithCancel(b.work)
	b.trace.Start(b.work)
	if b.in != nil {
		b.wg.Go(func() { b.in.Run(b.work) })
	}
	if err := b.link.Connect(b.work); err != nil {
		b.stopWork()
		b.wg.Wait()
		b.work = nil
		_ = b.trace.Close(context.Background())
		return err
	}
	if len(b.leases) > 0 {
		b.wg.Go(func() {
			if err := LeaseTopics(b.work, b.kafka, b.cfg.Site, b.cfg.LeaseOwner, b.leases, b.cfg.Log); err != nil {
				b.cfg.Log.Warn(b.cfg.Protocol+" egress: the interest leases were not closed; they expire", "error", err)
			}
		})
	}
	for _, e := range b.out {
		b.egressWG.Go(func() { e.Run(b.poll, b.work) })
	}
	return nil
}

// Go runs f until Close: f must return once the context handed to
// Link.Connect ends.
func (b *Bridge) Go(f func()) { b.wg.Go(f) }

// Ready reports whether the link is up, Kafka answers, and no pipeline has
// been failing for long.
func (b *Bridge) Ready(ctx context.Context) error {
	if err := b.link.Ready(); err != nil {
		return err
	}
	if err := b.kafka.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	var errs []error
	if b.in != nil {
		errs = append(errs, b.in.Ready())
	}
	for _, e := range b.out {
		errs = append(errs, e.Ready())
	}
	return errors.Join(errs...)
}

// Close stops the bridge gracefully: it stops polling Kafka and taking
// messages, waits (at most until ctx ends) for messages in flight to be
// written to Kafka and settled upstream and for egress sends to be
// confirmed, commits egress offsets, then closes the link and the Kafka
// clients. What was not settled by then is delivered again by the broker
// or by Kafka. Close also releases a bridge that was never started.
func (b *Bridge) Close(ctx context.Context) error {
	if b.work == nil { // never started
		for _, e := range b.out {
			_ = e.Close(context.Background())
		}
		_ = b.trace.Close(context.Background())
		b.kafka.Close()
		return nil
	}
	var errs []error
	b.stopPoll()
	if b.in != nil {
		errs = append(errs, b.in.Drain(ctx))
	}
	polled := make(chan struct{})
	go func() { b.egressWG.Wait(); close(polled) }()
	select {
	case <-polled:
	case <-ctx.Done():
	}
	b.stopWork()
	<-polled
	b.wg.Wait()
	for _, e := range b.out {
		errs = append(errs, e.Close(ctx))
	}
	errs = append(errs, b.link.Close(ctx))
	errs = append(errs, b.trace.Close(ctx)) // before the client it writes with
	b.kafka.Close()
	return errors.Join(errs...)
}
