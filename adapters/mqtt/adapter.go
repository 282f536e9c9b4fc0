package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/registry/serde"
)

// Adapter bridges one MQTT broker session and one Kafka cluster. Its
// lifecycle: New, Start, then Close once.
type Adapter struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	mqtt  paho.Client
	kafka *kgo.Client // produces ingress records and dead letters
	dlq   *dlq.Writer
	serde *serde.Serde // nil without a registry
	in    *ingress
	out   []*egress
	v5    *sessionV5 // egress's MQTT 5 session; nil with egress_protocol 3.1.1 or no egress
	// interest leases the egress topics at the site; nil without egress.
	interest *interest.Publisher

	subscribed atomic.Bool
	// conn is the latest connection to the broker: the one the messages
	// now being delivered arrived on, and so the one to acknowledge them on.
	conn atomic.Pointer[coalescingConn]

	// work ends deliveries in progress (produce, publish waits); poll ends
	// egress polling. Close ends poll first and work last.
	work, poll         context.Context
	stopWork, stopPoll context.CancelFunc
	wg, egressWG       sync.WaitGroup
}

// New builds an adapter from cfg, which it validates. extra options go to
// every Kafka client (tests use them for short timeouts).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mqtt adapter config: %w", err)
	}
	a := &Adapter{cfg: cfg, log: logger, m: newMetrics(reg, cfg.Site)}
	var err error
	// Topic templates name topics that may not exist yet: let the broker
	// create them, where its auto.create.topics.enable allows.
	if a.kafka, err = newKafkaClient(cfg, append([]kgo.Opt{kgo.AllowAutoTopicCreation()}, extra...)...); err != nil {
		return nil, err
	}
	a.dlq = dlq.NewWriter(a.kafka)
	if cfg.Registry.URL != "" {
		if a.serde, err = newSerde(cfg.Registry); err != nil {
			a.kafka.Close()
			return nil, err
		}
	}
	u, _ := url.Parse(cfg.Broker.URL) // checked by Validate
	if len(cfg.Ingress) > 0 {
		a.in = newIngress(a, a.cfg.Ingress, u.Host)
	}
	for i := range a.cfg.Egress {
		e, err := newEgress(a, &a.cfg.Egress[i], extra...)
		if err != nil {
			a.closeKafka()
			return nil, err
		}
		a.out = append(a.out, e)
	}
	opts, err := a.clientOptions()
	if err != nil {
		a.closeKafka()
		return nil, err
	}
	a.mqtt = paho.NewClient(opts)
	return a, nil
}

func newKafkaClient(cfg Config, opts ...kgo.Opt) (*kgo.Client, error) {
	return kafkaclient.New(cfg.Kafka, "mqtt", cfg.Site, opts...)
}

// newSerde encodes with the latest version of each topic's value subject,
// so that devices need not know schema ids.
func newSerde(r Registry) (*serde.Serde, error) {
	cl, err := sr.NewClient(sr.URLs(r.URL))
	if err != nil {
		return nil, fmt.Errorf("mqtt adapter: schema registry %s: %w", r.URL, err)
	}
	s, err := serde.New(cl, serde.UseLatest(true))
	if err != nil {
		return nil, fmt.Errorf("mqtt adapter: schema registry %s: %w", r.URL, err)
	}
	return s, nil
}

func (a *Adapter) closeKafka() {
	for _, e := range a.out {
		e.cl.Close()
	}
	a.kafka.Close()
}

func (a *Adapter) clientOptions() (*paho.ClientOptions, error) {
	b := a.cfg.Broker
	opts := paho.NewClientOptions().
		AddBroker(b.URL).
		SetClientID(b.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(b.CleanSession).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetKeepAlive(b.KeepAlive).
		SetConnectTimeout(b.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(b.MaxReconnectInterval).
		SetOnConnectHandler(a.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			a.subscribed.Store(false)
			a.m.connected.Set(0)
			a.log.Warn("mqtt: connection lost; reconnecting", "broker", b.URL, "error", err)
		}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { a.m.reconnects.Inc() }).
		SetCustomOpenConnectionFn(func(uri *url.URL, opts paho.ClientOptions) (net.Conn, error) {
			c, err := openConnection(uri, opts)
			if err == nil {
				a.conn.Store(c)
			}
			return c, err
		}).
		// QoS 1 PUBACKs bypass paho (see ackWriter), so paho must not keep
		// the messages they acknowledge.
		SetStore(newSessionStore())
	if a.in != nil {
		// Every message goes through the default handler, also those the
		// broker resends from the session before the subscriptions are
		// renewed; rules are matched by the adapter itself.
		opts.SetDefaultPublishHandler(a.in.handle)
	}
	if b.Username != "" {
		opts.SetUsername(b.Username)
		pass, err := config.Secret(b.Password, b.PasswordFile, "mqtt broker.password_file")
		if err != nil {
			return nil, err
		}
		opts.SetPassword(pass)
	}
	if b.tlsScheme() {
		tc, err := b.TLS.Client("broker.tls")
		if err != nil {
			return nil, err
		}
		opts.SetTLSConfig(tc)
	}
	return opts, nil
}

// onConnect renews the subscriptions after every (re)connection. paho runs
// it on its own goroutine, so it may wait for the SUBACK.
func (a *Adapter) onConnect(c paho.Client) {
	a.m.connected.Set(1)
	a.log.Info("mqtt: connected", "broker", a.cfg.Broker.URL, "client_id", a.cfg.Broker.ClientID)
	if a.in == nil {
		a.subscribed.Store(true)
		return
	}
	subs := a.in.subscriptions()
	t := c.SubscribeMultiple(subs, nil)
	if !t.WaitTimeout(a.cfg.Broker.ConnectTimeout) {
		a.log.Error("mqtt: no SUBACK in time", "broker", a.cfg.Broker.URL)
		return
	}
	if err := t.Error(); err != nil {
		a.log.Error("mqtt: subscribe failed", "broker", a.cfg.Broker.URL, "error", err)
		return
	}
	if st, ok := t.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				a.log.Error("mqtt: the broker refused a subscription", "filter", f)
				return
			}
		}
	}
	a.subscribed.Store(true)
}

// Start connects to the broker (in the background, retrying with backoff)
// and starts the pipelines. ctx is not kept: Close stops the adapter.
func (a *Adapter) Start(context.Context) error {
	a.work, a.stopWork = context.WithCancel(context.Background())
	a.poll, a.stopPoll = context.WithCancel(a.work)
	if a.in != nil {
		a.wg.Go(func() { a.in.run(a.work) })
		a.wg.Go(func() { a.in.acks(a.work) })
	}
	// With connect retry, the token completes once connected, or with an
	// error when the broker refuses the session (e.g. bad credentials).
	t := a.mqtt.Connect()
	a.wg.Go(func() {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				a.log.Error("mqtt: connect failed", "broker", a.cfg.Broker.URL, "error", err)
			}
		case <-a.work.Done():
		}
	})
	if len(a.out) > 0 && a.cfg.Broker.EgressProtocol == Protocol5 {
		var err error
		if a.v5, err = a.newSessionV5(a.work); err != nil {
			a.stopWork()
			a.wg.Wait()
			return err
		}
	}
	if len(a.out) > 0 {
		var err error
		if a.interest, err = interest.NewPublisher(a.kafka, a.cfg.Site, interest.Logger(a.log)); err != nil {
			return fmt.Errorf("mqtt egress: %w", err)
		}
		a.wg.Go(func() { a.publishInterest(a.work) })
	}
	for _, e := range a.out {
		a.egressWG.Go(func() { e.run(a.poll, a.work) })
	}
	return nil
}

// Ready reports whether the broker session is up with its subscriptions and
// Kafka answers.
func (a *Adapter) Ready(ctx context.Context) error {
	if !a.mqtt.IsConnectionOpen() {
		return fmt.Errorf("mqtt: not connected to %s", a.cfg.Broker.URL)
	}
	if !a.subscribed.Load() {
		return fmt.Errorf("mqtt: subscriptions at %s not confirmed", a.cfg.Broker.URL)
	}
	if a.v5 != nil && !a.v5.up.Load() {
		return fmt.Errorf("mqtt egress: no MQTT 5 session at %s", a.cfg.Broker.URL)
	}
	if err := a.kafka.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
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
		errs = append(errs, a.in.drain(ctx))
	}
	polled := make(chan struct{})
	go func() { a.egressWG.Wait(); close(polled) }()
	select {
	case <-polled:
	case <-ctx.Done():
	}
	if a.v5 != nil {
		errs = append(errs, a.v5.close(ctx))
	}
	a.stopWork()
	<-polled
	a.wg.Wait()
	for _, e := range a.out {
		errs = append(errs, e.close(ctx))
	}
	if a.interest != nil {
		errs = append(errs, a.interest.Close(ctx)) // the leases lapse unless the adapter returns
	}
	a.mqtt.Disconnect(250) // lets the last PUBACKs out
	a.m.connected.Set(0)
	a.kafka.Close()
	return errors.Join(errs...)
}
