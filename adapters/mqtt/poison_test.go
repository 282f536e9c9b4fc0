package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// An MQTT message over Kafka's max.message.bytes is dead-lettered as a
// reference (size, digest, the beginning of it) at once, without a round
// trip to Kafka or a retry, and acknowledged; the 1000 messages behind it
// all reach Kafka and are acknowledged, in batches that fit the topic's
// limit, with the window never over its bound.
func TestOversizeMessageIsDeadLetteredAndTheStreamGoesOn(t *testing.T) {
	const limit, follow = 64 << 10, 1000
	broker, acks := startBrokerCounting(t)
	// The brokers' limit, as Kafka's 1 MB default, applies to the event
	// topic and its dead-letter topic alike: the dead letter must be a
	// reference.
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "plant.image"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	cfg := testConfig(broker, kafka)
	cfg.MaxInFlight = 256
	cfg.Ingress = []IngressRule{{Name: "img", Filter: "cam/#", Topic: "plant.image", QoS: 1}}
	a := startAdapter(t, cfg)

	var peak atomic.Int64 // the in-flight gauge's highest value
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), int64(testutil.ToFloat64(a.m.InFlight()))))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	pub := mqttClient(t, broker, "camera-1")
	big := make([]byte, 100<<10)
	rand.Read(big) // incompressible: Kafka refuses it too
	toks := []paho.Token{pub.Publish("cam/1", 1, false, big)}
	for i := range follow {
		toks = append(toks, pub.Publish("cam/1", 1, false, fmt.Sprintf("%04d%s", i, bytes.Repeat([]byte{'y'}, 1000))))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	got := map[string]bool{}
	for _, r := range consume(t, kafka, "plant.image", follow) {
		got[string(r.Value[:4])] = true
	}
	if len(got) != follow {
		t.Fatalf("%d distinct messages of %d reached Kafka", len(got), follow)
	}
	d := consume(t, kafka, dlq.Topic("plant.image"), 1)[0]
	l, err := dlq.Read(d)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Truncated || header(d, dlq.HeaderSize) != strconv.Itoa(len(big)+len("cam/1")) ||
		!strings.Contains(l.Reason, "max.message.bytes") || len(l.Record.Value) != dlq.MaxKeptBytes {
		t.Fatalf("dead letter: truncated %v, size %s, reason %q, %d bytes kept", l.Truncated, header(d, dlq.HeaderSize), l.Reason, len(l.Record.Value))
	}
	eventually(t, "every message acknowledged", func() bool { return acks.of(cfg.Broker.ClientID) == follow+1 })
	close(stop)
	<-sampled
	if n := testutil.ToFloat64(a.m.RetryCount("ingress")); n != 0 {
		t.Fatalf("%v produces tried again: the oversize message cost round trips", n)
	}
	if p := peak.Load(); p > int64(cfg.MaxInFlight) {
		t.Fatalf("%d messages in flight, over max_in_flight %d", p, cfg.MaxInFlight)
	}
	if n := testutil.ToFloat64(a.m.DeadLetterCount("ingress", adapters.ReasonTooLarge)); n != 1 {
		t.Fatalf("%v dead letters counted as too large", n)
	}
}

// An egress record whose key renders an MQTT topic no broker accepts
// (invalid UTF-8 here) is refused before it is published and
// dead-lettered with its reason, as is one whose mesh headers are
// malformed; the 100 records behind them are all published, and the
// committed offset moves past all of them.
func TestEgressPoisonRecordsNeverStopThePartition(t *testing.T) {
	const follow = 100
	for _, protocol := range []string{Protocol5, Protocol311} {
		t.Run("mqtt"+protocol, func(t *testing.T) {
			broker, kafka := startBroker(t), startKafka(t, "cmds")
			cfg := testConfig(broker, kafka)
			cfg.Broker.Protocol = protocol
			cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, QoS: 1}}
			a := startAdapter(t, cfg)
			sub := mqttClient(t, broker, "device-9")
			var got atomic.Int64
			if tok := sub.Subscribe("devices/#", 1, func(paho.Client, paho.Message) { got.Add(1) }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			recs := []*kgo.Record{
				{Topic: "cmds", Key: []byte("devices/\xff"), Value: []byte("bad utf-8")},
				{Topic: "cmds", Key: []byte("devices/9"), Value: []byte("forged path"), Headers: []kgo.RecordHeader{
					{Key: envelope.HeaderOrigin, Value: []byte("east")}, {Key: envelope.HeaderPath, Value: []byte("\x00\x01,east")}}},
			}
			for i := range follow {
				recs = append(recs, &kgo.Record{Topic: "cmds", Key: []byte("devices/9"), Value: []byte(strconv.Itoa(i))})
			}
			kafkatest.Produce(t, kafkatest.Client(t, kafka), recs...)
			eventually(t, "the good records published", func() bool { return got.Load() == follow })
			reasons := map[string]bool{}
			for _, r := range consume(t, kafka, dlq.Topic("cmds"), 2) {
				l, err := dlq.Read(r)
				if err != nil || l.Component != "mqtt-adapter/east" || l.Offset > 1 {
					t.Fatalf("dead letter %+v %v", l, err)
				}
				reasons[l.Reason] = true
			}
			var text []string
			for r := range reasons {
				text = append(text, r)
			}
			joined := strings.Join(text, " | ")
			if !strings.Contains(joined, "not valid UTF-8") || !strings.Contains(joined, "mesh_path") {
				t.Fatalf("dead letters' reasons: %s", joined)
			}
			eventually(t, "counted", func() bool {
				return testutil.ToFloat64(a.m.DeadLetterCount("egress", adapters.ReasonTopic)) == 1 &&
					testutil.ToFloat64(a.m.DeadLetterCount("egress", adapters.ReasonEnvelope)) == 1 &&
					testutil.ToFloat64(a.m.EgressCount("cmds", adapters.ResultPublished)) == follow
			})
			adm := kadm.NewClient(kafkatest.Client(t, kafka))
			eventually(t, "the offset committed past every record", func() bool {
				os, err := adm.FetchOffsets(context.Background(), egressGroup(t, a))
				if err != nil {
					return false
				}
				o, ok := os.Lookup("cmds", 0)
				return ok && o.At == follow+2
			})
		})
	}
}

func egressGroup(t *testing.T, a *Adapter) string {
	t.Helper()
	if len(a.rules) != 1 {
		t.Fatalf("%d egress rules", len(a.rules))
	}
	return a.rules[0].group
}

// Over MQTT 5, a message whose envelope properties are malformed (a
// mesh_origin that is no site name) is dead-lettered with the reason and
// acknowledged; the message after it, with no envelope properties at all,
// is valid and written.
func TestMalformedDeviceEnvelopeIsDeadLettered(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t, "plant.in")
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Name: "in", Filter: "dev/#", Topic: "plant.in", QoS: 1}}
	a := startAdapter(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(broker, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	dev := paho5.NewClient(paho5.ClientConfig{Conn: conn})
	ctx := kafkatest.Context(t, testWait)
	if _, err := dev.Connect(ctx, &paho5.Connect{ClientID: "device-10", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(&paho5.Disconnect{})
	props := &paho5.PublishProperties{}
	props.User.Add("mesh_origin", strings.Repeat("NORTH!", 1000))
	for _, p := range []*paho5.Publish{
		{Topic: "dev/10", QoS: 1, Payload: []byte("forged"), Properties: props},
		{Topic: "dev/10", QoS: 1, Payload: []byte("plain")},
	} {
		if _, err := dev.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if r := consume(t, kafka, "plant.in", 1)[0]; string(r.Value) != "plain" {
		t.Fatalf("record %q", r.Value)
	}
	l, err := dlq.Read(consume(t, kafka, dlq.Topic("plant.in"), 1)[0])
	if err != nil || string(l.Record.Value) != "forged" || !strings.Contains(l.Reason, "mesh_origin") {
		t.Fatalf("dead letter %+v %v", l, err)
	}
	eventually(t, "both acknowledged", func() bool { return acks.of(cfg.Broker.ClientID) == 2 })
	if n := testutil.ToFloat64(a.m.DeadLetterCount("ingress", adapters.ReasonEnvelope)); n != 1 {
		t.Fatalf("%v dead letters counted as envelope", n)
	}
}

// silentBroker never acknowledges the publishes of one client while
// silent is set: mochi drops a rejected PUBLISH without a PUBACK, as a
// broker that will not take it (MQTT 3.1.1 has no negative PUBACK) does.
type silentBroker struct {
	mochi.HookBase
	client string
	silent atomic.Bool
}

func (h *silentBroker) ID() string { return "silent" }

func (h *silentBroker) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *silentBroker) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.ID == h.client && h.silent.Load() {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// A publish the broker never acknowledges is given up after the publish
// timeout and sent again, the 3.1.1 session renewed (a reconnection), and
// never counted as delivered (paho.mqtt.golang completes resent publishes'
// tokens without their PUBACK); /readyz says so after not_ready_after;
// once the broker takes publishes again, the record is delivered and the
// adapter is ready.
func TestEgressUnacknowledgedPublishIsRetriedAndShown(t *testing.T) {
	for _, protocol := range []string{Protocol5, Protocol311} {
		t.Run("mqtt"+protocol, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			srv, _ := startBrokerAt(t, addr)
			t.Cleanup(func() { srv.Close() })
			kafka := startKafka(t, "cmds")
			cfg := testConfig("tcp://"+addr, kafka)
			cfg.Broker.Protocol = protocol
			cfg.Broker.PublishTimeout = 300 * time.Millisecond
			cfg.NotReadyAfter = time.Second
			cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, QoS: 1}}
			silent := &silentBroker{client: cfg.Broker.ClientID}
			silent.silent.Store(true)
			if err := srv.AddHook(silent, nil); err != nil {
				t.Fatal(err)
			}
			a := startAdapter(t, cfg)
			sub := mqttClient(t, "tcp://"+addr, "device-11")
			got := make(chan string, 10)
			if tok := sub.Subscribe("devices/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			kafkatest.Produce(t, kafkatest.Client(t, kafka), &kgo.Record{Topic: "cmds", Key: []byte("devices/11"), Value: []byte("open")})
			var last error
			deadline := time.Now().Add(testWait)
			for last = a.Ready(context.Background()); last == nil || !strings.Contains(last.Error(), "deliveries failing"); last = a.Ready(context.Background()) {
				if time.Now().After(deadline) {
					t.Fatalf("/readyz still says %v", last)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if protocol == Protocol311 {
				eventually(t, "the silent session renewed", func() bool { return testutil.ToFloat64(a.sm.reconnects) > 0 })
			}
			if n := testutil.ToFloat64(a.m.DeadLetterCount("egress", adapters.ReasonRefused)); n != 0 {
				t.Fatal("a silent broker's record was dead-lettered")
			}
			silent.silent.Store(false)
			select {
			case v := <-got:
				if v != "open" {
					t.Fatalf("got %q", v)
				}
			case <-time.After(testWait):
				t.Fatal("the record never arrived once the broker took publishes")
			}
			eventually(t, "ready again", func() bool { return a.Ready(context.Background()) == nil })
		})
	}
}
