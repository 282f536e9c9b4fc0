package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/trace"
)

// BenchmarkMQTTIngress measures QoS 1 messages from an MQTT publisher into
// Kafka through the adapter, beside the two references that bound it, in
// the same run and on the same services: Mosquitto's own publish-to-
// subscribe rate (the broker's ceiling here) and a franz-go producer writing
// straight to Kafka with acks=all. Each op is one message; latency runs from
// the publish to the message's arrival (subscriber, Kafka consumer, or the
// producer's acknowledgement).
func BenchmarkMQTTIngress(b *testing.B) {
	broker, kafka := env(b, "MESH_E2E_MQTT"), env(b, "MESH_E2E_KAFKA_EAST")
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("mosquitto-pubsub/%dB", size), func(b *testing.B) { benchPubSub(b, broker, size) })
		b.Run(fmt.Sprintf("franz-go-produce/%dB", size), func(b *testing.B) { benchProduce(b, kafka, size) })
		b.Run(fmt.Sprintf("adapter/%dB", size), func(b *testing.B) { benchAdapter(b, broker, kafka, size) })
	}
}

// window bounds the QoS 1 publishes awaiting their PUBACK, as a device
// library's in-flight limit would.
const window = 256

// latencies collects per-message latencies from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(sent time.Time) {
	l.mu.Lock()
	l.d = append(l.d, time.Since(sent))
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	b.ReportMetric(float64(l.d[len(l.d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds())/1000, "p99-ms")
}

func payload(size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
	return p
}

func sentAt(p []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(p))) }

func mqttClient(b *testing.B, broker, id string) paho.Client {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetConnectTimeout(10 * time.Second).
		SetMaxResumePubInFlight(window))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("mqtt connect: %v", tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publishN publishes b.N QoS 1 messages with at most window unacknowledged.
func publishN(b *testing.B, c paho.Client, topic string, size int) {
	sem := make(chan paho.Token, window)
	for range b.N {
		if len(sem) == cap(sem) {
			if tok := <-sem; !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
				b.Fatalf("publish: %v", tok.Error())
			}
		}
		sem <- c.Publish(topic, 1, false, payload(size))
	}
	close(sem)
	for tok := range sem {
		if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			b.Fatalf("publish: %v", tok.Error())
		}
	}
}

func benchPubSub(b *testing.B, broker string, size int) {
	topic := uniq("bench/pubsub")
	var lat latencies
	done := make(chan struct{})
	var got int
	sub := mqttClient(b, broker, uniq("bench-sub"))
	if tok := sub.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		lat.add(sentAt(m.Payload()))
		got++ // the handler runs on one goroutine (order matters by default)
		if got == b.N {
			close(done)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := mqttClient(b, broker, uniq("bench-pub"))
	b.ResetTimer()
	start := time.Now()
	publishN(b, pub, topic, size)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("subscriber received %d of %d", got, b.N)
	}
	lat.report(b, time.Since(start))
}

func benchProduce(b *testing.B, kafka string, size int) {
	topic := uniq("bench.produce")
	createTopics(b, kafka, 1, topic)
	kc := kafkaclient.Defaults()
	kc.Brokers = []string{kafka}
	cl, err := kafkaclient.New(kc, "bench", "east")
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var lat latencies
	var wg sync.WaitGroup
	sem := make(chan struct{}, window)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		sem <- struct{}{}
		wg.Add(1)
		p := payload(size)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: p}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			lat.add(sentAt(p))
			<-sem
			wg.Done()
		})
	}
	wg.Wait()
	lat.report(b, time.Since(start))
}

// BenchmarkMQTTIngressTracing measures what tracing costs the adapter, in
// one run: hops off (sample_rate 0), at the default rate (1 in 100), and
// for every event (1), and every event with OpenTelemetry spans as well
// (exported by OTLP/HTTP to a receiver in this process that drops them).
func BenchmarkMQTTIngressTracing(b *testing.B) {
	broker, kafka := env(b, "MESH_E2E_MQTT"), env(b, "MESH_E2E_KAFKA_EAST")
	for _, v := range []struct {
		name  string
		rate  float64
		spans bool
	}{{"off", 0, false}, {"default", trace.DefaultSampleRate, false}, {"all", 1, false}, {"all+spans", 1, true}} {
		b.Run("adapter-trace-"+v.name+"/100B", func(b *testing.B) {
			if v.spans {
				otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
				}))
				defer otlp.Close()
				tp, err := telemetry.StartTracing(context.Background(), telemetry.TelemetryConfig{OTLP: telemetry.OTLPConfig{Endpoint: otlp.URL}}, "mesh-mqtt", "east", v.rate)
				if err != nil {
					b.Fatal(err)
				}
				prev := otel.GetTracerProvider()
				telemetry.UseTracing(tp)
				defer func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) }()
			}
			benchAdapterWith(b, broker, kafka, 100, func(c *mqtt.Config) { c.Trace.SampleRate = v.rate })
		})
	}
}

func benchAdapter(b *testing.B, broker, kafka string, size int) {
	benchAdapterWith(b, broker, kafka, size, func(*mqtt.Config) {})
}

// benchAdapterWith is benchAdapter with the adapter's configuration
// changed by configure.
func benchAdapterWith(b *testing.B, broker, kafka string, size int, configure func(*mqtt.Config)) {
	suffix := uniq("b")
	topic := "bench.adapter." + suffix
	createTopics(b, kafka, 1, topic)
	cfg := mqtt.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "meshwork-bench-" + suffix
	cfg.Broker.CleanSession = true // a fresh session per run: nothing left over from the last one
	cfg.Kafka.Brokers = []string{kafka}
	cfg.Ingress = []mqtt.IngressRule{{Filter: "bench/" + suffix + "/#", QoS: 1, Topic: topic}}
	configure(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	startAdapter(ctx, b, cfg)

	// The witness fetches in batches (up to 10 ms apart): a fetch per record
	// would double the Kafka broker's CPU on this shared machine and so slow
	// the path it measures.
	cons, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMinBytes(1<<20), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	var lat latencies
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		n := 0
		for n < b.N && ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { lat.add(sentAt(r.Value)); n++ })
		}
	}()
	pub := mqttClient(b, broker, "meshwork-bench-pub-"+suffix)
	b.ResetTimer()
	start := time.Now()
	publishN(b, pub, "bench/"+suffix+"/device", size)
	select {
	case <-consumed:
	case <-ctx.Done():
		b.Fatal("not every message reached Kafka")
	}
	lat.report(b, time.Since(start))
}
