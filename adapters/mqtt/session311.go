package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// session311 is an MQTT 3.1.1 session (github.com/eclipse/paho.mqtt.golang)
// for brokers that do not speak MQTT 5: ingress and egress share it, and
// egress publishes payloads alone (3.1.1 has no user properties). MQTT
// 3.1.1 has no No Local either: the broker sends what egress publishes to
// every matching subscription, the adapter's own included (see the README).
type session311 struct {
	a          *Adapter
	client     paho.Client
	subscribed atomic.Bool
	renewed    atomic.Int64 // unix nanoseconds of the last renewal for a silent broker
	// tls is the broker's TLS, its files read again when they change;
	// nil without TLS.
	tls *tlsconfig.Reloading
}

func newSession311(a *Adapter) (*session311, error) {
	s := &session311{a: a}
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
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.subscribed.Store(false)
			a.sm.connected.Set(0)
			a.log.Warn("mqtt: connection lost; reconnecting", "broker", b.URL, "error", err)
		}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { a.sm.reconnects.Inc() }).
		SetCustomOpenConnectionFn(func(uri *url.URL, opts paho.ClientOptions) (net.Conn, error) {
			c, err := openConnection(uri, s.tls.Config(), opts.ConnectTimeout)
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
		opts.SetDefaultPublishHandler(s.receive)
	}
	if b.Username != "" {
		ref := b.brokerPassword()
		pass, err := ref.Resolve()
		if err != nil {
			return nil, err
		}
		// Read at each connection, so a rotated password_file is used
		// from the next one; paho's provider cannot fail, so a file that
		// went missing leaves the last password in use, with a warning.
		var last atomic.Pointer[string]
		last.Store(&pass)
		opts.SetCredentialsProvider(func() (string, string) {
			p, err := ref.Resolve()
			if err != nil {
				a.log.Warn("mqtt: password not read; connecting with the last one", "error", err)
				return b.Username, *last.Load()
			}
			last.Store(&p)
			return b.Username, p
		})
	}
	if b.tlsScheme() {
		rt, err := tlsconfig.NewReloading(b.TLS, "broker.tls")
		if err != nil {
			return nil, err
		}
		s.tls = rt
	}
	s.client = paho.NewClient(opts)
	return s, nil
}

func (s *session311) receive(_ paho.Client, msg paho.Message) {
	p := inbound{topic: msg.Topic(), payload: msg.Payload(), qos: msg.Qos(), id: msg.MessageID(), conn: s.a.conn.Load()}
	if p.qos == 2 || p.conn == nil {
		p.viaLibrary = msg.Ack
	}
	s.a.in.receive(p)
}

// onConnect renews the subscriptions after every (re)connection. paho runs
// it on its own goroutine, so it may wait for the SUBACK.
func (s *session311) onConnect(c paho.Client) {
	a := s.a
	a.sm.connected.Set(1)
	a.log.Info("mqtt: connected with MQTT 3.1.1", "broker", a.cfg.Broker.URL, "client_id", a.cfg.Broker.ClientID)
	if a.in == nil {
		s.subscribed.Store(true)
		return
	}
	t := c.SubscribeMultiple(a.in.subscriptions(), nil)
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
	s.subscribed.Store(true)
}

// Connect connects in the background, retrying with backoff, until ctx
// ends.
func (s *session311) Connect(ctx context.Context) error {
	// With connect retry, the token completes once connected, or with an
	// error when the broker refuses the session (e.g. bad credentials).
	t := s.client.Connect()
	s.a.bridge.Go(func() {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				s.a.log.Error("mqtt: connect failed", "broker", s.a.cfg.Broker.URL, "error", err)
			}
		case <-ctx.Done():
		}
	})
	return nil
}

// Ready reports whether the session is up with its subscriptions.
func (s *session311) Ready() error {
	if !s.client.IsConnectionOpen() {
		return fmt.Errorf("mqtt: not connected to %s", s.a.cfg.Broker.URL)
	}
	if !s.subscribed.Load() {
		return fmt.Errorf("mqtt: subscriptions at %s not confirmed", s.a.cfg.Broker.URL)
	}
	return nil
}

// publish hands r's payload to the broker; the token completes with the
// PUBACK (QoS 1, 2) or once written (QoS 0), so egress keeps up to
// max_in_flight publishes of a partition outstanding.
func (s *session311) publish(_ context.Context, topic string, qos byte, retain bool, r *kgo.Record) adapters.Confirm {
	conn := s.a.conn.Load()
	return silentPublish{Token: s.client.Publish(topic, qos, retain, r.Value), s: s, conn: conn}
}

// errReconnected fails a publish whose connection was replaced before it
// was seen acknowledged.
var errReconnected = errors.New("mqtt: reconnected before the publish was seen acknowledged; sending it again")

// silentPublish is a publish egress may give up waiting for.
type silentPublish struct {
	paho.Token
	s    *session311
	conn *coalescingConn // the connection it was published on
}

// Error trusts a completed publish only if its connection is still the
// session's: when paho.mqtt.golang resumes a session it completes the
// tokens of the publishes it resends without an error and without their
// PUBACK (it reuses their packet identifiers), so a success reported
// across a reconnection may be none. Such a publish is sent again (a
// duplicate at worst), never committed unacknowledged.
func (p silentPublish) Error() error {
	if err := p.Token.Error(); err != nil {
		return err
	}
	if p.s.a.conn.Load() != p.conn {
		return errReconnected
	}
	return nil
}

// Abandon renews the session when a publish went unacknowledged for the
// publish timeout. MQTT 3.1.1 has no negative PUBACK: a broker that will
// not take a publish stays silent, and the session's unacknowledged
// publishes would pile up in the client library while egress sends them
// again. Breaking the connection makes the library reconnect and resend
// what it holds (duplicates are possible, as with any retry); it is done
// at most once per publish timeout, however many publishes were waiting.
func (p silentPublish) Abandon() {
	s := p.s
	now, timeout := time.Now(), s.a.cfg.Broker.PublishTimeout
	last := s.renewed.Load()
	if now.UnixNano()-last < int64(timeout) || !s.renewed.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	conn := s.a.conn.Load()
	if conn == nil {
		return
	}
	s.a.log.Warn("mqtt: no PUBACK within the publish timeout; reconnecting, then sending again",
		"broker", s.a.cfg.Broker.URL, "publish_timeout", timeout)
	conn.Break()
}

// Close disconnects, letting the last acknowledgements out.
func (s *session311) Close(context.Context) error {
	s.client.Disconnect(250) // lets the last PUBACKs out
	return nil
}
