package mqtt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	paho5 "github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// session5 is the adapter's MQTT 5 session (github.com/eclipse/paho.golang):
// ingress and egress share it. Its subscriptions have No Local set, so the
// broker never sends back what egress published through it: a command sent
// to devices does not come back into Kafka as a device message. Egress
// carries each record's envelope as user properties (CloudEvents MQTT
// binding, binary mode) and its content type as the Content Type property;
// ingress reads them from what devices send.
//
// paho.golang's Publish returns only once the PUBACK arrived and offers no
// ordered asynchronous publish with a per-message outcome, so the records
// of a partition are published one after another; different partitions
// are published side by side (see adapters.Egress).
type session5 struct {
	a          *Adapter
	work       context.Context // ends once the pipelines stopped; set by Connect
	cfg        autopaho.ClientConfig
	cm         *autopaho.ConnectionManager
	acks       *deferredAcks
	tls        *tlsconfig.Reloading // nil without TLS
	up         atomic.Bool
	subscribed atomic.Bool
}

// deferredAcks is paho.golang's session state, except that it leaves the
// acknowledgement of received messages to the ingress: paho calls Ack as
// soon as its handlers return, before Kafka has the message. The ingress
// writes QoS 1 PUBACKs itself and calls ack for QoS 2, in order, once
// Kafka took each message.
type deferredAcks struct {
	*state.State
}

// Ack does nothing: see deferredAcks.
func (deferredAcks) Ack(*packets.Publish) error { return nil }

// ack sends the acknowledgement paho would have sent for pb (PUBREC for
// QoS 2) on the current connection.
func (d *deferredAcks) ack(pb *packets.Publish) { _ = d.State.Ack(pb) }

func newSession5(a *Adapter) (*session5, error) {
	b := a.cfg.Broker
	u, err := url.Parse(b.URL)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker url: %w", err)
	}
	s := &session5{a: a, acks: &deferredAcks{state.NewInMemory()}}
	if b.tlsScheme() {
		if s.tls, err = tlsconfig.NewReloading(b.TLS, "broker.tls"); err != nil {
			return nil, err
		}
	}
	expiry := uint32(math.MaxUint32) // until the adapter returns
	if b.SessionExpiry > 0 {
		expiry = uint32(b.SessionExpiry / time.Second)
	}
	bo := retry.Backoff(b.MaxReconnectInterval)
	s.cfg = autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     uint16(b.KeepAlive / time.Second),
		CleanStartOnInitialConnection: b.CleanSession,
		SessionExpiryInterval:         expiry,
		ConnectTimeout:                b.ConnectTimeout,
		ReconnectBackoff: func(attempt int) time.Duration {
			if attempt == 0 {
				bo.Reset()
			}
			return bo.NextBackOff()
		},
		AttemptConnection: func(_ context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			conn, err := openConnection(u, s.tls.Config(), b.ConnectTimeout)
			if err == nil {
				a.conn.Store(conn)
			}
			return conn, err
		},
		ConnectPacketBuilder: func(c *paho5.Connect, _ *url.URL) (*paho5.Connect, error) {
			if c.Properties == nil {
				c.Properties = &paho5.ConnectProperties{}
			}
			// The broker sends no more unacknowledged messages than the
			// ingress holds, so receiving never has to block.
			rm := uint16(min(a.cfg.MaxInFlight+a.cfg.MaxQueued, math.MaxUint16))
			c.Properties.ReceiveMaximum = &rm
			// Without it, a broker may leave out the user properties of
			// what it sends (mochi-mqtt does), and with them the envelope.
			c.Properties.RequestProblemInfo = true
			if b.Username != "" {
				// Read at each connection: a rotated password_file
				// is used from the next one.
				pass, err := b.brokerPassword().Resolve()
				if err != nil {
					return nil, err
				}
				c.Password, c.PasswordFlag = []byte(pass), true
			}
			return c, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho5.Connack) {
			s.up.Store(true)
			a.sm.connected.Set(1)
			a.log.Info("mqtt: connected with MQTT 5", "broker", b.URL, "client_id", b.ClientID)
			a.bridge.Go(func() { s.subscribe(cm) }) // it waits for the SUBACK, which the callback must not
		},
		OnConnectionDown: func() bool {
			s.up.Store(false)
			s.subscribed.Store(false)
			a.sm.connected.Set(0)
			a.sm.reconnects.Inc()
			a.log.Warn("mqtt: connection lost; reconnecting", "broker", b.URL)
			return true
		},
		OnConnectError: func(err error) {
			var ce *autopaho.ConnackError
			if errors.As(err, &ce) {
				a.log.Error("mqtt: the broker refused the MQTT 5 session; if it does not speak MQTT 5, set broker.protocol: \"3.1.1\"",
					"broker", b.URL, "reason_code", ce.ReasonCode, "reason", ce.Reason)
				return
			}
			a.log.Warn("mqtt: connect failed; trying again", "broker", b.URL, "error", err)
		},
		ClientConfig: paho5.ClientConfig{
			ClientID: b.ClientID,
			Session:  s.acks,
		},
	}
	if a.in != nil {
		s.cfg.ClientConfig.OnPublishReceived = []func(paho5.PublishReceived) (bool, error){s.receive}
	}
	if b.Username != "" {
		s.cfg.ConnectUsername = b.Username
		pass, err := b.brokerPassword().Resolve()
		if err != nil {
			return nil, err
		}
		s.cfg.ConnectPassword = []byte(pass)
	}
	return s, nil
}

// receive hands a received PUBLISH to the ingress. paho.golang calls it on
// its one routing goroutine, in arrival order.
func (s *session5) receive(pr paho5.PublishReceived) (bool, error) {
	pb := pr.Packet
	p := inbound{topic: pb.Topic, payload: pb.Payload, qos: pb.QoS, id: pb.PacketID, conn: s.a.conn.Load()}
	if pb.Properties != nil {
		p.contentType = pb.Properties.ContentType
		p.responseTopic, p.correlationData = pb.Properties.ResponseTopic, pb.Properties.CorrelationData
		for _, up := range pb.Properties.User {
			p.props = append(p.props, envelope.Property{Key: up.Key, Value: up.Value})
		}
	}
	if p.qos == 2 || p.conn == nil {
		raw := pb.Packet()
		p.viaLibrary = func() { s.acks.ack(raw) }
	}
	s.a.in.receive(p)
	return true, nil
}

// subscribe renews the ingress subscriptions, with No Local, after a
// (re)connection.
func (s *session5) subscribe(cm *autopaho.ConnectionManager) {
	a := s.a
	if a.in == nil {
		s.subscribed.Store(true)
		return
	}
	sub := &paho5.Subscribe{}
	for f, qos := range a.in.subscriptions() {
		// MQTT 5 forbids No Local on a shared subscription (§3.8.3.1): the
		// README says how to keep egress topics out of those filters.
		shared := strings.HasPrefix(f, sharePrefix)
		sub.Subscriptions = append(sub.Subscriptions, paho5.SubscribeOptions{Topic: f, QoS: qos, NoLocal: !shared})
	}
	ctx, cancel := context.WithTimeout(s.work, a.cfg.Broker.ConnectTimeout)
	defer cancel()
	ack, err := cm.Subscribe(ctx, sub)
	if err != nil {
		if s.work.Err() == nil {
			a.log.Error("mqtt: subscribe failed; the next connection tries again", "broker", a.cfg.Broker.URL, "error", err)
		}
		return
	}
	for i, code := range ack.Reasons {
		if code >= 0x80 && i < len(sub.Subscriptions) {
			a.log.Error("mqtt: the broker refused a subscription", "filter", sub.Subscriptions[i].Topic, "reason_code", code)
			return
		}
	}
	s.subscribed.Store(true)
}

// Connect connects in the background, retrying with backoff, until ctx
// ends.
func (s *session5) Connect(ctx context.Context) error {
	s.work = ctx
	cm, err := autopaho.NewConnection(ctx, s.cfg)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	s.cm = cm
	return nil
}

// Ready reports whether the session is up with its subscriptions.
func (s *session5) Ready() error {
	if !s.up.Load() {
		return fmt.Errorf("mqtt: not connected to %s", s.a.cfg.Broker.URL)
	}
	if !s.subscribed.Load() {
		return fmt.Errorf("mqtt: subscriptions at %s not confirmed", s.a.cfg.Broker.URL)
	}
	return nil
}

// publish sends r's payload to topic with r's envelope as user properties
// and waits for the broker's acknowledgement (at most the publish
// timeout); the Confirm it returns is done.
func (s *session5) publish(ctx context.Context, topic string, qos byte, retain bool, r *kgo.Record) adapters.Confirm {
	ctx, cancel := context.WithTimeout(ctx, s.a.cfg.Broker.PublishTimeout)
	defer cancel()
	p := &paho5.Publish{QoS: qos, Retain: retain, Topic: topic, Payload: r.Value, Properties: &paho5.PublishProperties{}}
	env, err := envelope.FromKafka(r.Headers)
	if err == nil {
		env.Complete(s.a.cfg.Site, r.Timestamp) // an event from a plain Kafka client gets its id here
		props, contentType := env.MQTTProperties()
		p.Properties.ContentType = contentType
		// A reply address travels as the Response Topic an MQTT 5 device
		// answers to, with the Correlation Data it must quote.
		p.Properties.ResponseTopic = env.ReplyTo
		if env.CorrelationID != "" {
			p.Properties.CorrelationData = []byte(env.CorrelationID)
		}
		for _, prop := range props {
			p.Properties.User.Add(prop.Key, prop.Value)
		}
	}
	if err := s.cm.AwaitConnection(ctx); err != nil {
		return adapters.Confirmed(fmt.Errorf("no MQTT connection: %w", err))
	}
	resp, err := s.cm.Publish(ctx, p)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return adapters.Confirmed(adapters.ErrNoConfirm)
	case resp != nil && resp.ReasonCode >= 0x80:
		reason := ""
		if resp.Properties != nil {
			reason = resp.Properties.ReasonString
		}
		refused := fmt.Errorf("the broker refused the publish to %q: reason code 0x%02x %s", topic, resp.ReasonCode, reason)
		if transientReason(resp.ReasonCode) {
			return adapters.Confirmed(refused)
		}
		return adapters.Confirmed(adapters.Permanent(refusalReason(resp.ReasonCode), refused))
	}
	return adapters.Confirmed(err)
}

// transientReason reports whether a PUBACK reason code may change if the
// publish is tried again: quota exceeded (0x97), packet identifier in use
// (0x91), server busy or unavailable (0x89, 0x88). Every other failure
// (not authorized, topic name invalid, payload format invalid, packet too
// large...) is final.
func transientReason(code byte) bool {
	switch code {
	case 0x97, 0x91, 0x89, 0x88:
		return true
	}
	return false
}

// refusalReason maps a final PUBACK reason code to the reason a record is
// dead-lettered for.
func refusalReason(code byte) string {
	switch code {
	case 0x87: // not authorized
		return adapters.ReasonUnauthorized
	case 0x90: // topic name invalid
		return adapters.ReasonTopic
	case 0x95: // packet too large
		return adapters.ReasonTooLarge
	case 0x99: // payload format invalid
		return adapters.ReasonInvalid
	}
	return adapters.ReasonRefused
}

// Close disconnects, waiting at most until ctx ends.
func (s *session5) Close(ctx context.Context) error {
	if s.cm == nil {
		return nil
	}
	if err := s.cm.Disconnect(ctx); err != nil && !errors.Is(err, autopaho.ConnectionDownError) {
		return fmt.Errorf("mqtt: disconnect: %w", err)
	}
	return nil
}
