package mqtt

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/registry/serde"
)

const testWait = 15 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// pubacks counts the QoS flows each client completed at the broker: for
// the adapter's session, the PUBACKs it sent.
type pubacks struct {
	mochi.HookBase
	mu sync.Mutex
	n  map[string]int
}

func (h *pubacks) ID() string { return "pubacks" }

func (h *pubacks) Provides(b byte) bool { return b == mochi.OnQosComplete }

func (h *pubacks) OnQosComplete(cl *mochi.Client, _ packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[cl.ID]++
}

func (h *pubacks) of(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[id]
}

// startBroker runs an embedded MQTT broker on a free 127.0.0.1 port and
// returns its tcp:// URL.
func startBroker(t *testing.T) string {
	url, _ := startBrokerCounting(t)
	return url
}

func startBrokerCounting(t *testing.T) (string, *pubacks) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, acks := startBrokerAt(t, addr)
	t.Cleanup(func() { s.Close() })
	return "tcp://" + addr, acks
}

func startBrokerAt(t *testing.T, addr string) (*mochi.Server, *pubacks) {
	t.Helper()
	s := mochi.New(&mochi.Options{InlineClient: true, Logger: quiet})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	acks := &pubacks{n: make(map[string]int)}
	if err := s.AddHook(acks, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	return s, acks
}

func startKafka(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	return kafkatest.Cluster(t, kfake.SeedTopics(1, topics...), kfake.AllowAutoTopicCreation())
}

func testConfig(broker string, kafka *kfake.Cluster) Config {
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Listen = "127.0.0.1:0"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "adapter-east-1"
	cfg.Broker.PublishTimeout = 5 * time.Second
	// A connection attempt that reaches a broker while it shuts down waits
	// this long for its CONNACK.
	cfg.Broker.ConnectTimeout = time.Second
	cfg.Kafka.Brokers = kafka.ListenAddrs()
	return cfg
}

func startAdapter(t *testing.T, cfg Config) *Adapter {
	t.Helper()
	a, err := New(cfg, quiet, prometheus.NewRegistry(),
		// Short Kafka client timers keep the tests fast: a produce error
		// waits for a metadata refresh, and marks commit on an interval.
		kgo.FetchMaxWait(100*time.Millisecond), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.AutoCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	eventually(t, "adapter ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return a.Ready(ctx) == nil
	})
	return a
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mqttClient(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func consume(t *testing.T, kafka *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(50*time.Millisecond), kgo.MetadataMaxAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestIngressToKafkaWithEnvelope(t *testing.T) {
	broker, kafka := startBroker(t), startKafka(t) // the topic is created on first use
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Name: "temp", Filter: "factory/{site}/{sensor}/temp", Topic: "plant.{site}.temperature",
		Key: "{sensor}", Type: "plant.sensor.temperature", ContentType: "application/json", QoS: 1}}
	a := startAdapter(t, cfg)

	pub := mqttClient(t, broker, "device-1")
	tok := pub.Publish("factory/f1/s9/temp", 1, false, `{"c": 21.5}`)
	if !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	r := consume(t, kafka, "plant.f1.temperature", 1)[0]
	if string(r.Key) != "s9" || string(r.Value) != `{"c": 21.5}` {
		t.Fatalf("record key %q value %q", r.Key, r.Value)
	}
	env, err := envelope.FromKafka(r.Headers)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID == "" || env.Source != "mqtt://"+broker[len("tcp://"):]+"/factory/f1/s9/temp" ||
		env.Type != "plant.sensor.temperature" || env.ContentType != "application/json" ||
		env.Origin != "east" || env.TraceParent == "" || env.Time.IsZero() {
		t.Fatalf("envelope %+v", env)
	}
	if header(r, HeaderAdapter) != "adapter-east-1" {
		t.Fatalf("no %s header: %v", HeaderAdapter, r.Headers)
	}
	eventually(t, "metrics", func() bool {
		return testutil.ToFloat64(a.m.IngressCount("temp", adapters.ResultProduced)) == 1
	})
}

// failProduce makes the cluster answer every produce request with a
// retriable error while fail is set, and counts the requests it failed.
func failProduce(kafka *kfake.Cluster, fail *atomic.Bool) *atomic.Int64 {
	return kafkatest.RefuseProduce(kafka, kerr.NotEnoughReplicas.Code, func(*kmsg.ProduceRequest) bool { return fail.Load() })
}

func TestPubackWithheldUntilKafkaTakesTheMessage(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t, "mqtt.ingress")
	var fail atomic.Bool
	failed := failProduce(kafka, &fail)
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Filter: "#", Topic: "mqtt.ingress", QoS: 1}}
	startAdapter(t, cfg)

	fail.Store(true)
	// The device's own PUBACK comes from the broker; what matters is the
	// adapter's PUBACK to the broker, which releases the broker's copy.
	pub := mqttClient(t, broker, "device-1")
	if tok := pub.Publish("dev/1", 1, false, "m1"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	eventually(t, "Kafka to refuse the produce twice", func() bool { return failed.Load() >= 2 })
	if n := acks.of(cfg.Broker.ClientID); n != 0 {
		t.Fatalf("the adapter sent %d PUBACKs while Kafka had not taken the message", n)
	}
	fail.Store(false)
	eventually(t, "the adapter's PUBACK after Kafka recovered", func() bool { return acks.of(cfg.Broker.ClientID) == 1 })
	if r := consume(t, kafka, "mqtt.ingress", 1)[0]; string(r.Value) != "m1" || string(r.Key) != "dev/1" {
		t.Fatalf("record %q=%q", r.Key, r.Value)
	}
}

func TestIngressStreamInOrder(t *testing.T) {
	broker, kafka := startBroker(t), startKafka(t, "mqtt.ingress")
	cfg := testConfig(broker, kafka)
	cfg.MaxInFlight = 4
	cfg.Ingress = []IngressRule{{Filter: "dev/+", Topic: "mqtt.ingress", QoS: 1}}
	startAdapter(t, cfg)
	pub := mqttClient(t, broker, "device-1")
	const n = 200
	toks := make([]paho.Token, n)
	for i := range n {
		toks[i] = pub.Publish("dev/1", 1, false, strconv.Itoa(i))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	for i, r := range consume(t, kafka, "mqtt.ingress", n) {
		if string(r.Value) != strconv.Itoa(i) {
			t.Fatalf("record %d holds %q", i, r.Value)
		}
	}
}

func TestEgressPublishesAndCommitsAfterPuback(t *testing.T) {
	for _, protocol := range []string{Protocol5, Protocol311} {
		t.Run("mqtt"+protocol, func(t *testing.T) { testEgressPublishesAndCommits(t, protocol) })
	}
}

func testEgressPublishesAndCommits(t *testing.T, protocol string) {
	broker, kafka := startBroker(t), startKafka(t, "cmds")
	cfg := testConfig(broker, kafka)
	cfg.Broker.Protocol = protocol
	cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, MQTTTopic: "devices/{key}/{header.verb}", QoS: 1}}
	a := startAdapter(t, cfg)

	sub := mqttClient(t, broker, "device-2")
	got := make(chan paho.Message, 10)
	if tok := sub.Subscribe("devices/#", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	rec := &kgo.Record{Topic: "cmds", Key: []byte("d7"), Value: []byte("reboot"), Headers: []kgo.RecordHeader{{Key: "verb", Value: []byte("run")}}}
	if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic() != "devices/d7/run" || string(m.Payload()) != "reboot" {
			t.Fatalf("got %s %q", m.Topic(), m.Payload())
		}
	case <-ctx.Done():
		t.Fatal("the subscriber received nothing")
	}
	adm := kadm.NewClient(prod)
	eventually(t, "offset commit", func() bool {
		os, err := adm.FetchOffsets(ctx, a.rules[0].group)
		if err != nil {
			return false
		}
		o, ok := os.Lookup("cmds", 0)
		return ok && o.At == 1
	})
	if v := testutil.ToFloat64(a.m.EgressCount("cmds", adapters.ResultPublished)); v != 1 {
		t.Fatalf("published metric %v", v)
	}
	// The egress rule leases its topic, so the replicator brings it here.
	eventually(t, "the egress rule's interest lease", func() bool {
		leases, err := interest.Read(ctx, []kgo.Opt{kgo.SeedBrokers(kafka.ListenAddrs()...)})
		if err != nil {
			return false
		}
		for _, l := range leases {
			if !l.Expired(time.Now()) && l.Topic == "cmds" && l.Kind == interest.KindAdapterEgress && l.Site == cfg.Site && l.SourceID == cfg.Broker.ClientID+"/cmds" {
				return true
			}
		}
		return false
	})
}

// A topic bridged both ways does not loop: egress skips the records of its
// own ingress. Over MQTT 5 what egress publishes never comes back in (No
// Local); over MQTT 3.1.1 the broker sends it back once, and egress skips
// that copy.
func TestNoEchoWhenIngressAndEgressShareATopic(t *testing.T) {
	for _, c := range []struct {
		protocol              string
		records, skippedAfter int
	}{{Protocol5, 2, 1}, {Protocol311, 3, 2}} {
		t.Run("mqtt"+c.protocol, func(t *testing.T) {
			broker, kafka := startBroker(t), startKafka(t, "mqtt.bridge")
			cfg := testConfig(broker, kafka)
			cfg.Broker.Protocol = c.protocol
			cfg.Ingress = []IngressRule{{Name: "in", Filter: "#", Topic: "mqtt.bridge", QoS: 1}}
			cfg.Egress = []EgressRule{{Name: "out", Topics: []string{"mqtt.bridge"}, QoS: 1}}
			a := startAdapter(t, cfg)

			pub := mqttClient(t, broker, "device-3")
			if tok := pub.Publish("a/b", 1, false, "once"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			eventually(t, "egress to skip the adapter's own record", func() bool {
				return testutil.ToFloat64(a.m.EgressCount("out", adapters.ResultSkipped)) == 1
			})
			// A record from elsewhere (no mesh_adapter header) is carried out.
			prod := kafkatest.Client(t, kafka)
			kafkatest.Produce(t, prod, &kgo.Record{Topic: "mqtt.bridge", Key: []byte("c/d"), Value: []byte("x")})
			eventually(t, "the foreign record out", func() bool {
				return testutil.ToFloat64(a.m.EgressCount("out", adapters.ResultPublished)) == 1 &&
					testutil.ToFloat64(a.m.EgressCount("out", adapters.ResultSkipped)) == float64(c.skippedAfter)
			})
			// A device's message after it: the broker dispatched any echo of
			// the foreign record to the adapter before this, so once it is in
			// Kafka, every echo is too.
			if tok := pub.Publish("a/after", 1, false, "after"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			var echoes int
			for _, r := range consume(t, kafka, "mqtt.bridge", c.records+1) {
				if string(r.Value) == "x" {
					echoes++
				}
			}
			if want := c.records - 1; echoes != want {
				t.Fatalf("the foreign record is in the bridged topic %d times, want %d", echoes, want)
			}
		})
	}
}

func TestEgressCommitsOnlyAfterPuback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	first, _ := startBrokerAt(t, addr)
	kafka := startKafka(t, "cmds")
	cfg := testConfig("tcp://"+addr, kafka)
	cfg.Broker.PublishTimeout = 100 * time.Millisecond
	cfg.Broker.MaxReconnectInterval = 100 * time.Millisecond
	// Retained, so the subscriber below gets it whenever it subscribes.
	cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, QoS: 1, Retain: true}}
	a := startAdapter(t, cfg)

	first.Close()
	eventually(t, "the adapter to see the broker gone", func() bool { return a.sess.Ready() != nil })
	prod, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "cmds", Key: []byte("dev/9"), Value: []byte("on")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a publish without PUBACK", func() bool {
		return testutil.ToFloat64(a.m.RetryCount("egress")) >= 2
	})
	adm := kadm.NewClient(prod)
	committed := func() int64 {
		os, err := adm.FetchOffsets(ctx, a.rules[0].group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := os.Lookup("cmds", 0); ok {
			return o.At
		}
		return -1
	}
	if at := committed(); at > 0 {
		t.Fatalf("offset %d committed before the broker acknowledged the publish", at)
	}

	second, _ := startBrokerAt(t, addr)
	defer second.Close()
	eventually(t, "a counted reconnect", func() bool { return testutil.ToFloat64(a.sm.reconnects) >= 1 })
	eventually(t, "the offset commit after the PUBACK", func() bool { return committed() == 1 })
	sub := mqttClient(t, "tcp://"+addr, "device-9")
	got := make(chan paho.Message, 10)
	if tok := sub.Subscribe("dev/9", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case m := <-got:
		if string(m.Payload()) != "on" {
			t.Fatalf("got %q", m.Payload())
		}
	case <-ctx.Done():
		t.Fatal("the subscriber received nothing")
	}
}

// A broker that restarted without the session gets the subscriptions again.
func TestIngressResubscribesAfterReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	first, _ := startBrokerAt(t, addr)
	kafka := startKafka(t, "mqtt.ingress")
	cfg := testConfig("tcp://"+addr, kafka)
	cfg.Broker.MaxReconnectInterval = 100 * time.Millisecond
	cfg.Ingress = []IngressRule{{Filter: "$share/adapters/dev/#", Topic: "mqtt.ingress", QoS: 1}}
	a := startAdapter(t, cfg)
	first.Close()
	eventually(t, "the adapter to see the broker gone", func() bool { return a.sess.Ready() != nil })
	second, acks := startBrokerAt(t, addr)
	defer second.Close()
	eventually(t, "subscriptions renewed", func() bool {
		return a.Ready(context.Background()) == nil
	})
	pub := mqttClient(t, "tcp://"+addr, "device-4")
	if tok := pub.Publish("dev/4", 1, false, "back"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if r := consume(t, kafka, "mqtt.ingress", 1)[0]; string(r.Value) != "back" {
		t.Fatalf("record %q", r.Value)
	}
	eventually(t, "the adapter's PUBACK", func() bool { return acks.of(cfg.Broker.ClientID) == 1 })
}

// Close waits for the messages in flight: they reach Kafka and are
// acknowledged before the adapter disconnects.
func TestCloseFinishesInFlight(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t, "mqtt.ingress")
	var fail atomic.Bool
	failed := failProduce(kafka, &fail)
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Filter: "#", Topic: "mqtt.ingress", QoS: 1}}
	a, err := New(cfg, quiet, prometheus.NewRegistry(), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "adapter ready", func() bool { return a.Ready(context.Background()) == nil })
	fail.Store(true)
	pub := mqttClient(t, broker, "device-5")
	if tok := pub.Publish("dev/5", 1, false, "last"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	eventually(t, "Kafka to refuse the produce", func() bool { return failed.Load() >= 1 })
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		closed <- a.Close(ctx)
	}()
	eventually(t, "Close to begin", func() bool {
		return a.in.pipe.Stopping()
	})
	fail.Store(false)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the adapter's PUBACK", func() bool { return acks.of(cfg.Broker.ClientID) == 1 })
	if r := consume(t, kafka, "mqtt.ingress", 1)[0]; string(r.Value) != "last" {
		t.Fatalf("record %q", r.Value)
	}
}

func TestSchemaEnforcementAndDeadLetters(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t, "plant.reading")
	reg := srfake.New()
	t.Cleanup(reg.Close)
	src, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	const schema = `{"type":"record","name":"Reading","namespace":"plant","fields":[{"name":"c","type":"double"}]}`
	if _, err := src.CreateSchema(ctx, "plant.reading-value", sr.Schema{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(broker, kafka)
	cfg.Registry.URL = reg.URL()
	cfg.Ingress = []IngressRule{{Name: "r", Filter: "sensors/#", Topic: "plant.reading", QoS: 1, Schema: &RuleSchema{Format: adapters.FormatJSON}}}
	a := startAdapter(t, cfg)

	pub := mqttClient(t, broker, "device-6")
	for _, p := range []string{`{"c": 20.5}`, `{"c": "warm"}`} {
		if tok := pub.Publish("sensors/6", 1, false, p); !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	r := consume(t, kafka, "plant.reading", 1)[0]
	if id, _, err := serde.ParseHeader(r.Value); err != nil || id == 0 {
		t.Fatalf("value not in the wire format: %v (%x)", err, r.Value)
	}
	if ct := header(r, envelope.HeaderContentType); ct != adapters.AvroContentType {
		t.Fatalf("content-type %q", ct)
	}
	d := consume(t, kafka, dlq.Topic("plant.reading"), 1)[0]
	if string(d.Value) != `{"c": "warm"}` || header(d, dlq.HeaderError) == "" || header(d, envelope.HeaderOrigin) != "east" {
		t.Fatalf("dead letter %q, headers %v", d.Value, d.Headers)
	}
	eventually(t, "both messages acknowledged", func() bool { return acks.of(cfg.Broker.ClientID) == 2 })
	if testutil.ToFloat64(a.m.IngressCount("r", adapters.ResultDLQ)) != 1 {
		t.Fatal("dead letter not counted")
	}
}

// A record Kafka refuses for good (here: too large) is dead-lettered, and
// only then acknowledged; QoS 0 messages are produced and counted.
func TestPermanentKafkaRefusalIsDeadLettered(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t, "mqtt.ingress")
	// Refuse the record "huge", but not its dead letter (which carries the
	// dead-letter headers). Topics are matched by content: produce requests
	// may name topics by id only.
	kafkatest.RefuseProduce(kafka, kerr.MessageTooLarge.Code, func(pr *kmsg.ProduceRequest) bool {
		for _, rt := range pr.Topics {
			for _, rp := range rt.Partitions {
				if bytes.Contains(rp.Records, []byte("huge")) && !bytes.Contains(rp.Records, []byte(dlq.HeaderError)) {
					return true
				}
			}
		}
		return false
	})
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Name: "all", Filter: "#", Topic: "mqtt.ingress", QoS: 1}}
	a := startAdapter(t, cfg)

	pub := mqttClient(t, broker, "device-7")
	if tok := pub.Publish("dev/7", 1, false, "huge"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	d := consume(t, kafka, dlq.Topic("mqtt.ingress"), 1)[0]
	if string(d.Value) != "huge" || !strings.Contains(header(d, dlq.HeaderError), "MESSAGE_TOO_LARGE") {
		t.Fatalf("dead letter %q, headers %v", d.Value, d.Headers)
	}
	if tok := pub.Publish("dev/7", 0, false, "small"); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if r := consume(t, kafka, "mqtt.ingress", 1)[0]; string(r.Value) != "small" {
		t.Fatalf("record %q", r.Value)
	}
	eventually(t, "the PUBACK after the dead letter", func() bool { return acks.of(cfg.Broker.ClientID) == 1 })
	eventually(t, "QoS 0 counted", func() bool {
		return testutil.ToFloat64(a.m.IngressCount("all", adapters.ResultProduced)) == 1
	})
}

// An adapter whose broker never answers still stops promptly.
func TestCloseWhileConnecting(t *testing.T) {
	kafka := startKafka(t, "mqtt.ingress")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := testConfig("tcp://"+addr, kafka)
	cfg.Ingress = []IngressRule{{Filter: "#", Topic: "mqtt.ingress", QoS: 1}}
	a, err := New(cfg, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Ready(context.Background()) == nil {
		t.Fatal("ready without a broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Close took until its deadline")
	}
}

// A rule whose Kafka topic is a template never writes into the topics of
// the mesh, the registry or Kafka, whatever a device publishes to: such a
// message goes to the unroutable dead-letter topic with the reason, is
// acknowledged, and the stream goes on.
func TestRenderedTopicNeverNamesAnInternalTopic(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t)
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Name: "by-kind", Filter: "{kind}/#", Topic: "{kind}", QoS: 1}}
	a := startAdapter(t, cfg)
	pub := mqttClient(t, broker, "attacker")
	for _, topic := range []string{"_schemas/x", "_mesh.interest/x", "__consumer_offsets/x", "/x", "plant.ok/x"} {
		if tok := pub.Publish(topic, 1, false, topic); !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	if r := consume(t, kafka, "plant.ok", 1)[0]; string(r.Value) != "plant.ok/x" {
		t.Fatalf("record %q", r.Value)
	}
	var dead []string
	for _, r := range consume(t, kafka, dlq.UnroutableTopic, 4) {
		l, err := dlq.Read(r)
		if err != nil || !strings.Contains(l.Reason, "gives no Kafka topic") || l.Source == "" {
			t.Fatalf("dead letter %+v %v", l, err)
		}
		dead = append(dead, string(r.Value))
	}
	slices.Sort(dead)
	if strings.Join(dead, ",") != "/x,__consumer_offsets/x,_mesh.interest/x,_schemas/x" {
		t.Fatalf("dead letters %v", dead)
	}
	eventually(t, "every message acknowledged", func() bool { return acks.of(cfg.Broker.ClientID) == 5 })
	adm := kadm.NewClient(kafkatest.Client(t, kafka))
	topics, err := adm.ListTopics(context.Background(), "_schemas", "_mesh.interest")
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range topics {
		if td.Err == nil {
			t.Fatalf("%s exists: a device wrote into it", td.Topic)
		}
	}
	if testutil.ToFloat64(a.m.IngressCount("by-kind", adapters.ResultDLQ)) != 4 {
		t.Fatal("dead letters not counted")
	}
}

// A record whose key is no MQTT topic (not UTF-8, a wildcard) is
// dead-lettered; the records after it are published.
func TestEgressDeadLettersAnUnpublishableTopic(t *testing.T) {
	for _, protocol := range []string{Protocol5, Protocol311} {
		t.Run("mqtt"+protocol, func(t *testing.T) {
			broker, kafka := startBroker(t), startKafka(t, "cmds")
			cfg := testConfig(broker, kafka)
			cfg.Broker.Protocol = protocol
			cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, QoS: 1}}
			a := startAdapter(t, cfg)
			sub := mqttClient(t, broker, "device-8")
			got := make(chan string, 10)
			if tok := sub.Subscribe("devices/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			prod := kafkatest.Client(t, kafka)
			kafkatest.Produce(t, prod,
				&kgo.Record{Topic: "cmds", Key: []byte("devices/\xff"), Value: []byte("bad utf-8")},
				&kgo.Record{Topic: "cmds", Key: []byte("devices/+"), Value: []byte("wildcard")},
				&kgo.Record{Topic: "cmds", Key: []byte("devices/8"), Value: []byte("good")})
			select {
			case topic := <-got:
				if topic != "devices/8" {
					t.Fatalf("got %q", topic)
				}
			case <-time.After(testWait):
				t.Fatal("the good record never arrived")
			}
			for _, r := range consume(t, kafka, dlq.Topic("cmds"), 2) {
				l, err := dlq.Read(r)
				if err != nil || !strings.Contains(l.Reason, "mqtt_topic") || l.Component != "mqtt-adapter/east" {
					t.Fatalf("dead letter %+v %v", l, err)
				}
			}
			eventually(t, "counted", func() bool {
				return testutil.ToFloat64(a.m.EgressCount("cmds", adapters.ResultDLQ)) == 2 &&
					testutil.ToFloat64(a.m.EgressCount("cmds", adapters.ResultPublished)) == 1
			})
		})
	}
}

// Over MQTT 5 a device's CloudEvents attributes (user properties, Content
// Type) become the event's, its Response Topic and Correlation Data the
// request/reply headers (binary correlation data in hex); where it entered the mesh is the mesh's to say.
// A QoS 2 message is acknowledged through the client library once Kafka
// has it.
func TestMQTT5DeviceEnvelopeAndQoS2(t *testing.T) {
	broker, acks := startBrokerCounting(t)
	kafka := startKafka(t, "plant.in")
	cfg := testConfig(broker, kafka)
	cfg.Ingress = []IngressRule{{Name: "in", Filter: "dev/#", Topic: "plant.in", QoS: 2}}
	startAdapter(t, cfg)

	conn, err := net.Dial("tcp", strings.TrimPrefix(broker, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	dev := paho5.NewClient(paho5.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, err := dev.Connect(ctx, &paho5.Connect{ClientID: "device-5", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(&paho5.Disconnect{})
	props := &paho5.PublishProperties{ContentType: "application/json", ResponseTopic: "replies/device-5", CorrelationData: []byte{0xca, 0xfe}}
	props.User.Add("id", "dev-event-1").Add("type", "plant.door.opened").Add("mesh_origin", "north").Add("mesh_path", "north")
	if _, err := dev.Publish(ctx, &paho5.Publish{Topic: "dev/5", QoS: 2, Payload: []byte(`{"open":true}`), Properties: props}); err != nil {
		t.Fatal(err)
	}
	r := consume(t, kafka, "plant.in", 1)[0]
	env, err := envelope.FromKafka(r.Headers)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != "dev-event-1" || env.Type != "plant.door.opened" || env.ContentType != "application/json" ||
		env.Origin != "east" || strings.Join(env.Path, ",") != "east" || env.ReplyTo != "replies/device-5" || env.CorrelationID != "0xcafe" {
		t.Fatalf("envelope %+v", env)
	}
	eventually(t, "the QoS 2 exchange completed", func() bool { return acks.of(cfg.Broker.ClientID) == 1 })
}

// Over MQTT 5, a record's mesh_reply_to and mesh_correlation_id go out as
// the PUBLISH's Response Topic and Correlation Data, so that a device can
// answer a request from any protocol.
func TestMQTT5EgressCarriesTheReplyAddress(t *testing.T) {
	broker, kafka := startBroker(t), startKafka(t, "cmds")
	cfg := testConfig(broker, kafka)
	cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, QoS: 1}}
	startAdapter(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(broker, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho5.Publish, 1)
	dev := paho5.NewClient(paho5.ClientConfig{Conn: conn, OnPublishReceived: []func(paho5.PublishReceived) (bool, error){
		func(pr paho5.PublishReceived) (bool, error) {
			select {
			case got <- pr.Packet:
			default:
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, err := dev.Connect(ctx, &paho5.Connect{ClientID: "device-7", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer dev.Disconnect(&paho5.Disconnect{})
	if _, err := dev.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "devices/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, kafkatest.Client(t, kafka), &kgo.Record{Topic: "cmds", Key: []byte("devices/7"), Value: []byte("status?"),
		Headers: []kgo.RecordHeader{{Key: envelope.HeaderReplyTo, Value: []byte("replies.app1")}, {Key: envelope.HeaderCorrelationID, Value: []byte("corr-9")}}})
	select {
	case p := <-got:
		if p.Properties == nil || p.Properties.ResponseTopic != "replies.app1" || string(p.Properties.CorrelationData) != "corr-9" {
			t.Fatalf("publish properties %+v", p.Properties)
		}
	case <-ctx.Done():
		t.Fatal("nothing published")
	}
}
