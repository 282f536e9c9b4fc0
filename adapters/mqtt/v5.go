package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
)

// sessionV5 is the MQTT 5 session egress publishes through, with the
// envelope as user properties (CloudEvents MQTT binding, binary mode). It
// is a second session beside the ingress one because paho.mqtt.golang, which
// the ingress relies on for in-order manual acknowledgements, speaks 3.1.1
// only; github.com/eclipse/paho.golang speaks 5.
//
// paho.golang's Publish returns only when the PUBACK arrived and offers no
// ordered asynchronous publish with a per-message outcome, so the records of
// a partition are published one after another; different partitions are
// published side by side (see egress.deliver).
type sessionV5 struct {
	cm      *autopaho.ConnectionManager
	up      atomic.Bool
	timeout time.Duration
}

// egressClientID names the MQTT 5 session of an adapter whose ingress
// session is id.
func egressClientID(id string) string { return id + ".egress" }

func (a *Adapter) newSessionV5(ctx context.Context) (*sessionV5, error) {
	b := a.cfg.Broker
	u, err := url.Parse(b.URL)
	if err != nil {
		return nil, fmt.Errorf("mqtt egress: broker url: %w", err)
	}
	s := &sessionV5{timeout: b.PublishTimeout}
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     uint16(max(1, b.KeepAlive/time.Second)),
		CleanStartOnInitialConnection: b.CleanSession,
		// Egress keeps no broker-side state worth a session: its offsets
		// are committed only after PUBACKs, so a lost publish is sent again.
		SessionExpiryInterval: 0,
		ConnectTimeout:        b.ConnectTimeout,
		ReconnectBackoff:      func(attempt int) time.Duration { return min(backoff(attempt), b.MaxReconnectInterval) },
		AttemptConnection: func(_ context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			opts := paho.NewClientOptions()
			opts.SetConnectTimeout(b.ConnectTimeout)
			if b.tlsScheme() {
				tc, err := b.TLS.Client("broker.tls")
				if err != nil {
					return nil, err
				}
				opts.SetTLSConfig(tc)
			}
			return openConnection(u, *opts)
		},
		OnConnectionUp: func(*autopaho.ConnectionManager, *paho5.Connack) {
			s.up.Store(true)
			a.log.Info("mqtt egress: connected with MQTT 5", "broker", b.URL, "client_id", egressClientID(b.ClientID))
		},
		OnConnectionDown: func() bool {
			s.up.Store(false)
			a.m.reconnects.Inc()
			a.log.Warn("mqtt egress: MQTT 5 connection lost; reconnecting", "broker", b.URL)
			return true
		},
		OnConnectError: func(err error) {
			var ce *autopaho.ConnackError
			if errors.As(err, &ce) {
				a.log.Error("mqtt egress: the broker refused the MQTT 5 session; if it does not speak MQTT 5, set broker.egress_protocol: \"3.1.1\"",
					"broker", b.URL, "reason_code", ce.ReasonCode, "reason", ce.Reason)
				return
			}
			a.log.Warn("mqtt egress: MQTT 5 connect failed; trying again", "broker", b.URL, "error", err)
		},
		ClientConfig: paho5.ClientConfig{ClientID: egressClientID(b.ClientID)},
	}
	if b.Username != "" {
		cfg.ConnectUsername = b.Username
		pass, err := config.Secret(b.Password, b.PasswordFile, "mqtt broker.password_file")
		if err != nil {
			return nil, err
		}
		cfg.ConnectPassword = []byte(pass)
	}
	if s.cm, err = autopaho.NewConnection(ctx, cfg); err != nil {
		return nil, fmt.Errorf("mqtt egress: %w", err)
	}
	return s, nil
}

// publish sends r's payload to topic with r's envelope as user properties
// and waits for the broker's acknowledgement (at most the publish timeout).
// It returns a completed token, so that egress handles both protocols alike.
func (s *sessionV5) publish(ctx context.Context, topic string, qos byte, retain bool, r *kgo.Record) paho.Token {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p := &paho5.Publish{QoS: qos, Retain: retain, Topic: topic, Payload: r.Value, Properties: &paho5.PublishProperties{}}
	if env, err := envelope.FromKafka(r.Headers); err == nil {
		props, contentType := env.MQTTProperties()
		p.Properties.ContentType = contentType
		for _, prop := range props {
			p.Properties.User.Add(prop.Key, prop.Value)
		}
	}
	if err := s.cm.AwaitConnection(ctx); err != nil {
		return doneToken{err: fmt.Errorf("no MQTT 5 connection: %w", err)}
	}
	_, err := s.cm.Publish(ctx, p)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errPublishTimeout
	}
	return doneToken{err: err}
}

// close disconnects, waiting at most until ctx ends.
func (s *sessionV5) close(ctx context.Context) error {
	if err := s.cm.Disconnect(ctx); err != nil && !errors.Is(err, autopaho.ConnectionDownError) {
		return fmt.Errorf("mqtt egress: disconnect: %w", err)
	}
	return nil
}
