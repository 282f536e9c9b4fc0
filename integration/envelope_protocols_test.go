package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/meshwork/meshwork/internal/envelope"
)

// TestIntegrationEnvelopeOverMQTT5 publishes the envelope as MQTT 5 user
// properties with mosquitto_pub through Mosquitto, and an independent MQTT 5
// client (paho-mqtt for Python) receives it: the properties and the content
// type must parse back into the same envelope.
func TestIntegrationEnvelopeOverMQTT5(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := url.Parse(env(t, "MESH_E2E_MQTT"))
	if err != nil {
		t.Fatal(err)
	}
	topic := "meshwork/it/" + fmt.Sprint(time.Now().UnixNano())
	const n = 3
	sub := startWitness(ctx, t, nil, env(t, "MESH_E2E_PYTHON"), witnessPath("mqtt5_sub.py"), u.Hostname(), u.Port(), topic+"/#", itoa(n))
	if l := sub.next(t, 20*time.Second); l != "ready" {
		t.Fatalf("witness said %q, want ready", l)
	}
	sent := map[string]envelope.Envelope{}
	for i := range n {
		e := sampleEnvelope(i)
		props, ct := e.MQTTProperties()
		args := []string{"-h", u.Hostname(), "-p", u.Port(), "-V", "mqttv5", "-q", "1",
			"-t", fmt.Sprintf("%s/%d", topic, i), "-m", fmt.Sprintf(`{"c":%d}`, i), "-D", "publish", "content-type", ct}
		for _, p := range props {
			args = append(args, "-D", "publish", "user-property", p.Key, p.Value)
		}
		run(ctx, t, nil, "mosquitto_pub", args...)
		sent[fmt.Sprintf("%s/%d", topic, i)] = e
	}
	for range n {
		var m struct {
			Topic          string     `json:"topic"`
			ContentType    string     `json:"content_type"`
			UserProperties [][]string `json:"user_properties"`
		}
		line := sub.next(t, 20*time.Second)
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("witness line %q: %v", line, err)
		}
		var props []envelope.Property
		for _, kv := range m.UserProperties {
			props = append(props, envelope.Property{Key: kv[0], Value: kv[1]})
		}
		got, err := envelope.FromMQTT(props, m.ContentType)
		if err != nil {
			t.Fatal(err)
		}
		assertSameEnvelope(t, "mqtt5 "+m.Topic, got, sent[m.Topic], 0)
	}
}

// TestIntegrationEnvelopeOverAMQP sends the envelope as AMQP 1.0
// application-properties with go-amqp to RabbitMQ and ActiveMQ; an
// independent AMQP client (qpid-proton for Python) receives each message and
// sends it on unchanged, and go-amqp reads it back: the envelope must
// survive both brokers and both client libraries.
func TestIntegrationEnvelopeOverAMQP(t *testing.T) {
	for _, b := range []struct {
		name, urlVar, addrPrefix string
	}{
		{"rabbitmq", "MESH_E2E_RABBITMQ_AMQP", "/queue/"},
		{"activemq", "MESH_E2E_ACTIVEMQ_AMQP", "queue://"},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			brokerURL := env(t, b.urlVar)
			name := uniq("meshwork.it")
			in, out := b.addrPrefix+name+".in", b.addrPrefix+name+".out"

			conn, err := amqp.Dial(ctx, brokerURL, nil)
			if err != nil {
				t.Fatalf("dial %s: %v", b.name, err)
			}
			defer conn.Close()
			sess, err := conn.NewSession(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Attach the receiver first so that the echo's target exists.
			recv, err := sess.NewReceiver(ctx, out, &amqp.ReceiverOptions{Credit: 10})
			if err != nil {
				t.Fatalf("receiver on %s: %v", out, err)
			}
			snd, err := sess.NewSender(ctx, in, nil)
			if err != nil {
				t.Fatalf("sender on %s: %v", in, err)
			}
			const n = 3
			sent := map[string]envelope.Envelope{}
			for i := range n {
				e := sampleEnvelope(i)
				props, ct := e.AMQPProperties()
				msg := amqp.NewMessage([]byte(fmt.Sprintf(`{"c":%d}`, i)))
				msg.Properties = &amqp.MessageProperties{MessageID: e.ID, ContentType: &ct}
				msg.ApplicationProperties = props
				msg.Header = &amqp.MessageHeader{Durable: true}
				if err := snd.Send(ctx, msg, nil); err != nil {
					t.Fatalf("send: %v", err)
				}
				sent[e.ID] = e
			}
			echo := startWitness(ctx, t, nil, env(t, "MESH_E2E_PYTHON"), witnessPath("amqp_echo.py"), brokerURL, in, out, itoa(n))
			for range n {
				msg, err := recv.Receive(ctx, nil)
				if err != nil {
					t.Fatalf("receive: %v (witness stderr: %s)", err, echo.stderr.String())
				}
				if err := recv.AcceptMessage(ctx, msg); err != nil {
					t.Fatal(err)
				}
				ct := ""
				if msg.Properties != nil && msg.Properties.ContentType != nil {
					ct = *msg.Properties.ContentType
				}
				got, err := envelope.FromAMQP(msg.ApplicationProperties, ct)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := sent[got.ID]
				if !ok {
					t.Fatalf("received an unknown event id %q", got.ID)
				}
				// An AMQP timestamp holds milliseconds.
				assertSameEnvelope(t, b.name, got, want, time.Millisecond)
			}
		})
	}
}

func assertSameEnvelope(t *testing.T, who string, got, want envelope.Envelope, timePrecision time.Duration) {
	t.Helper()
	if d := got.Time.Sub(want.Time); d < -timePrecision || d > timePrecision {
		t.Fatalf("%s: time %v, want %v", who, got.Time, want.Time)
	}
	got.Time = want.Time
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: envelope differs\n got %+v\nwant %+v", who, got, want)
	}
}
