package devmesh

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"
)

// oneSite is a dev mesh of one site, east: the broker, Kafka and the MQTT
// adapter as meshd dev wires them.
func oneSite(t *testing.T) Config {
	cfg := testConfig(t)
	if p := os.Getenv("MESH_TEST_LOG"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cfg.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg.Sites = cfg.Sites[:1]
	return cfg
}

// burst publishes msgs messages at qos from each of clients clients at
// once, each client with its own session, and returns once the broker
// acknowledged them all (PUBACK or PUBCOMP). Payloads are "<client>-<n>".
//
// The clients stay connected until the test ends: paho.mqtt.golang, when
// it resends a message after a reconnection (a publisher held past its
// keep-alive gives up on its connection), completes the message's
// original token at once, without error, before the broker acknowledged
// the copy; a client that disconnected then would lose it.
func burst(ctx context.Context, t *testing.T, url string, clients, msgs int, qos byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("burst-%d", c)).
				SetConnectTimeout(5 * time.Second).SetCleanSession(false).SetOrderMatters(false)
			cl := paho.NewClient(opts)
			if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				errs <- fmt.Errorf("client %d: connect: %v", c, tok.Error())
				return
			}
			t.Cleanup(func() { cl.Disconnect(100) })
			toks := make([]paho.Token, 0, msgs)
			for n := range msgs {
				toks = append(toks, cl.Publish(fmt.Sprintf("burst/%d", c), qos, false, fmt.Sprintf("%d-%d", c, n)))
			}
			for n, tok := range toks {
				deadline, _ := ctx.Deadline()
				if !tok.WaitTimeout(time.Until(deadline)) || tok.Error() != nil {
					errs <- fmt.Errorf("client %d: message %d not acknowledged: %v", c, n, tok.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// ingressPayloads is ingressDistinct by record value.
func ingressPayloads(ctx context.Context, t *testing.T, kafka string, want int) map[string]bool {
	return ingressDistinct(ctx, t, kafka, want, func(r *kgo.Record) []byte { return r.Value })
}

// ingressDistinct reads mqtt.ingress from the start until it holds want
// distinct values of part or ctx ends, and returns those it saw.
func ingressDistinct(ctx context.Context, t *testing.T, kafka string, want int, part func(*kgo.Record) []byte) map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(MQTTIngressTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	for len(seen) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(part(r))] = true })
	}
	return seen
}

// burstSize reads CLIENTSxMESSAGES from the environment variable name, for
// a bigger run than the default one (e.g. MESH_BURST=50x2000).
func burstSize(t *testing.T, name string, clients, msgs int) (int, int) {
	v := os.Getenv(name)
	if v == "" {
		return clients, msgs
	}
	var c, m int
	if _, err := fmt.Sscanf(v, "%dx%d", &c, &m); err != nil {
		t.Fatalf("%s=%q: want CLIENTSxMESSAGES, e.g. 50x2000", name, v)
	}
	return c, m
}

// TestBurstReachesKafka: many clients publishing QoS 1 and QoS 2 messages
// as fast as they can into the dev mesh's broker: every message the broker
// acknowledged reaches mqtt.ingress. The broker holds publishers while the
// adapter's session is full rather than dropping what it acknowledged.
func TestBurstReachesKafka(t *testing.T) {
	for _, tc := range []struct {
		qos           byte
		clients, msgs int
	}{{1, 20, 1000}, {2, 10, 400}} {
		t.Run("qos"+strconv.Itoa(int(tc.qos)), func(t *testing.T) {
			clients, msgs := burstSize(t, "MESH_BURST_QOS"+strconv.Itoa(int(tc.qos)), tc.clients, tc.msgs)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			m, err := Start(ctx, oneSite(t))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ep := m.Endpoints().Sites["east"]
			start := time.Now()
			burst(ctx, t, ep.MQTT, clients, msgs, tc.qos)
			acked := time.Since(start)
			want := clients * msgs
			wait, cancelWait := context.WithTimeout(ctx, 60*time.Second)
			defer cancelWait()
			seen := ingressPayloads(wait, t, ep.Kafka, want)
			t.Logf("%d x %d QoS %d: acknowledged in %s, %d in Kafka after %s", clients, msgs, tc.qos, acked.Round(time.Millisecond), len(seen), time.Since(start).Round(time.Millisecond))
			f, info := m.sites[0].mqtt.flow, m.sites[0].mqtt.srv.Info.Clone()
			t.Logf("broker: %d publishes held (%.1fs in all), session high water %d, dropped %d+%d",
				f.held.Load(), float64(f.heldNanos.Load())/1e9, f.highWater.Load(), info.InflightDropped, info.MessagesDropped)
			if len(seen) != want {
				var lost []string
				for c := range clients {
					for n := range msgs {
						if p := fmt.Sprintf("%d-%d", c, n); !seen[p] && len(lost) < 40 {
							lost = append(lost, p)
						}
					}
				}
				t.Logf("lost: %v", lost)
				t.Fatalf("%d of %d acknowledged messages reached %s: %d lost", len(seen), want, MQTTIngressTopic, want-len(seen))
			}
		})
	}
}

// TestBrokerKeepsTheAdaptersSessionAcrossRestart: with the site's MQTT
// adapter away, the broker acknowledges what its session can hold (the
// session queue) and holds the publisher beyond it; what it acknowledged
// is on disk, and after a restart of the dev mesh the adapter's session
// gets it, while the held messages come again from the publisher.
func TestBrokerKeepsTheAdaptersSessionAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const queue, total = 100, 150
	cfg := oneSite(t)
	cfg.MQTT.SessionQueue = queue
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	ep := m.Endpoints().Sites["east"]
	east := m.sites[0]
	// The adapter goes away; its persistent session stays with the broker.
	if err := east.unit(unitAdapter).close(); err != nil {
		t.Fatal(err)
	}
	east.units = slices.DeleteFunc(east.units, func(u *unit) bool { return u.name == unitAdapter })

	opts := paho.NewClientOptions().AddBroker(ep.MQTT).SetClientID("restart-pub").SetCleanSession(false).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(true).SetConnectRetry(true).
		SetMaxReconnectInterval(200 * time.Millisecond).SetOrderMatters(false)
	pub := paho.NewClient(opts)
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	toks := make([]paho.Token, total)
	for i := range toks {
		toks[i] = pub.Publish(fmt.Sprintf("restart/%d", i), 1, false, strconv.Itoa(i))
	}
	// The broker acknowledges exactly what the adapter's session can hold,
	// then holds the publisher.
	for i := range queue {
		if !toks[i].WaitTimeout(10*time.Second) || toks[i].Error() != nil {
			t.Fatalf("message %d not acknowledged: %v", i, toks[i].Error())
		}
	}
	waitFor(ctx, t, "the publisher to be held", func() bool { return east.mqtt.flow.held.Load() > 0 })
	for i := queue; i < total; i++ {
		select {
		case <-toks[i].Done():
			t.Fatalf("message %d acknowledged while the adapter's session is full", i)
		default:
		}
	}
	adapterSession, ok := east.mqtt.srv.Clients.Get(adapterClientID("east"))
	if !ok || adapterSession.State.Inflight.Len() != queue {
		t.Fatalf("the adapter's session should hold %d messages (found %v)", queue, ok)
	}

	// Restart the site on the same ports and directory.
	mqttPort, kafkaPort := portOf(t, ep.MQTT), portOf(t, ep.Kafka)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Sites[0].Ports = map[string]int{ServiceKafka: kafkaPort, ServiceMQTT: mqttPort}
	if m, err = Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(time.Until(deadlineOf(ctx))) || tok.Error() != nil {
			t.Fatalf("message %d not acknowledged after the restart: %v", i, tok.Error())
		}
	}
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	seen := ingressPayloads(wait, t, ep.Kafka, total)
	for i := range total {
		if !seen[strconv.Itoa(i)] {
			t.Errorf("message %d never reached %s", i, MQTTIngressTopic)
		}
	}
}

// TestSlowSubscriberDoesNotStopOthers: a client that subscribes to
// everything and then never reads is disconnected once its session queue is
// full, or once its socket has taken nothing for the write timeout
// (counted, its session keeping what it holds), while another subscriber,
// the adapter's ingress and its egress go on with everything.
func TestSlowSubscriberDoesNotStopOthers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		queue        int
		writeTimeout time.Duration
	}{
		{"queue full", 200, time.Minute},
		{"write timeout", 32768, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) { slowSubscriber(t, tc.queue, tc.writeTimeout) })
	}
}

func slowSubscriber(t *testing.T, queue int, writeTimeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 1000
	cfg := oneSite(t)
	cfg.MQTT.SessionQueue = queue
	cfg.MQTT.WriteTimeout = writeTimeout
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep := m.Endpoints().Sites["east"]
	east := m.sites[0]

	stuck := stuckSubscriber(t, ep.MQTT, "stuck", "#")
	defer stuck.Close()

	var mu sync.Mutex
	got := map[string]bool{}
	sub := connect(t, ep.MQTT, "reader")
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("#", 1, func(_ paho.Client, msg paho.Message) {
		mu.Lock()
		got[msg.Topic()] = true
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// Egress: records of mqtt.egress go out to devices/<i>.
	big := make([]byte, 4096) // fills the stuck client's socket soon
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: MQTTEgressTopic, Key: fmt.Appendf(nil, "devices/%d", i), Value: big}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Ingress: a device publishes to telemetry/<i>.
	pub := connect(t, ep.MQTT, "device")
	defer pub.Disconnect(100)
	for i := range n {
		if tok := pub.Publish(fmt.Sprintf("telemetry/%d", i), 1, false, big); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	waitFor(ctx, t, "the reader to get every egress and device message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2*n
	})
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if seen := ingressKeys(wait, t, ep.Kafka, n); len(seen) != n {
		t.Fatalf("%d of %d device messages reached %s", len(seen), n, MQTTIngressTopic)
	}
	if c := east.mqtt.flow.slow.Load(); c != 1 {
		t.Fatalf("%d slow subscribers disconnected, want 1", c)
	}
	s, ok := east.mqtt.srv.Clients.Get("stuck")
	if !ok || !s.Closed() || s.State.Inflight.Len() == 0 {
		t.Fatalf("the stuck client's session should be kept, disconnected, with its messages (found %v)", ok)
	}
}

// stuckSubscriber connects over MQTT 3.1.1 with a persistent session,
// subscribes to filter at QoS 1, and then never reads.
func stuckSubscriber(t *testing.T, url, id, filter string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	// CONNECT: protocol MQTT level 4, flags: clean session off, keep-alive 0.
	connect := append(append(str("MQTT"), 4, 0, 0, 0), str(id)...)
	// SUBSCRIBE: packet id 1, the filter at QoS 1.
	subscribe := append(append([]byte{0, 1}, str(filter)...), 1)
	for _, pk := range [][]byte{append([]byte{0x10, byte(len(connect))}, connect...), append([]byte{0x82, byte(len(subscribe))}, subscribe...)} {
		if _, err := c.Write(pk); err != nil {
			t.Fatal(err)
		}
	}
	// CONNACK (4 bytes) and SUBACK (5 bytes), then nothing more is read.
	ack := make([]byte, 9)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 || ack[4] != 0x90 || ack[8] != 1 {
		t.Fatalf("stuck subscriber: connect and subscribe answered % x (%v)", ack, err)
	}
	c.SetDeadline(time.Time{})
	return c
}

// ingressKeys is ingressPayloads by record key.
func ingressKeys(ctx context.Context, t *testing.T, kafka string, want int) map[string]bool {
	return ingressDistinct(ctx, t, kafka, want, func(r *kgo.Record) []byte { return r.Key })
}

// waitFor waits until cond holds, or fails the test when ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// TestSubscriberTakeOverLosesNothing: a subscriber with a persistent
// session connects again and again under the same client id (each new
// connection takes the session over) while a device publishes at QoS 1;
// every message the broker acknowledged reaches one of the subscriber's
// connections. mochi copies the old connection's messages to the new one
// and clears them, while a fan-out could still find the old one; the flow
// hook holds publishers for the take-over's duration.
func TestSubscriberTakeOverLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n, takeovers = 3000, 40
	m, err := Start(ctx, oneSite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	url := m.Endpoints().Sites["east"].MQTT

	var mu sync.Mutex
	got := map[string]bool{}
	subscriber := func() paho.Client {
		opts := paho.NewClientOptions().AddBroker(url).SetClientID("taken-over").SetCleanSession(false).
			SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(false)
		opts.SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) {
			mu.Lock()
			got[string(msg.Payload())] = true
			mu.Unlock()
		})
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		return c
	}
	first := subscriber()
	if tok := first.Subscribe("takeover/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		pub := connect(t, url, "takeover-device")
		defer pub.Disconnect(100)
		window := make(chan paho.Token, 64)
		go func() {
			for i := range n {
				window <- pub.Publish("takeover/"+strconv.Itoa(i%10), 1, false, strconv.Itoa(i))
			}
			close(window)
		}()
		for tok := range window {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Errorf("publish: %v", tok.Error())
				return
			}
		}
	}()
	conns := []paho.Client{first}
	for range takeovers {
		select {
		case <-done:
		case <-time.After(10 * time.Millisecond):
			conns = append(conns, subscriber())
			continue
		}
		break
	}
	<-done
	defer func() {
		for _, c := range conns {
			c.Disconnect(0)
		}
	}()
	t.Logf("%d take-overs while %d messages were published", len(conns)-1, n)
	waitFor(ctx, t, "every acknowledged message to reach the subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
}
