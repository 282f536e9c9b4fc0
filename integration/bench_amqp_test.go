package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// BenchmarkAMQP measures the AMQP adapter on RabbitMQ and ActiveMQ beside
// the broker's own send -> receive rate with the same client library and
// settlement (go-amqp, unsettled sends with at most 256 outcomes
// outstanding, a receiver with 256 credit accepting each message), in the
// same run on the same services:
//   - reference: go-amqp sender -> queue -> go-amqp receiver, bare
//     messages; reference-envelope: the same with messages that carry an
//     envelope as the adapter's egress writes it (message-id,
//     content-type, creation-time, the CloudEvents and mesh attributes as
//     application-properties), the broker's work for what egress sends;
//   - ingress: go-amqp sender -> queue -> adapter -> Kafka (acks=all),
//     read by a franz-go consumer;
//   - egress: franz-go producer -> Kafka -> adapter (unsettled sends,
//     commit after Accepted) -> queue -> go-amqp receiver.
//
// Each op is one message; latency runs from the send to its arrival.
func BenchmarkAMQP(b *testing.B) {
	kafka := env(b, "MESH_E2E_KAFKA_EAST")
	for _, br := range []struct{ name, url, prefix string }{
		{"rabbitmq", env(b, "MESH_E2E_RABBITMQ_AMQP"), "/queue/"},
		{"activemq", env(b, "MESH_E2E_ACTIVEMQ_AMQP"), "queue://"},
	} {
		for _, size := range []int{100, 1024} {
			b.Run(fmt.Sprintf("%s/reference/%dB", br.name, size), func(b *testing.B) { benchAMQPReference(b, br.url, br.prefix, size, false) })
			b.Run(fmt.Sprintf("%s/reference-envelope/%dB", br.name, size), func(b *testing.B) { benchAMQPReference(b, br.url, br.prefix, size, true) })
			b.Run(fmt.Sprintf("%s/ingress/%dB", br.name, size), func(b *testing.B) { benchAMQPIngress(b, br.url, br.prefix, kafka, size) })
			b.Run(fmt.Sprintf("%s/egress/%dB", br.name, size), func(b *testing.B) { benchAMQPEgress(b, br.url, br.prefix, kafka, size) })
		}
	}
}

const amqpWindow = 256

func amqpSession(b *testing.B, url string) *goamqp.Session {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// sendAMQP sends n messages of size bytes (each carrying its send time)
// unsettled, with at most amqpWindow outcomes outstanding, and fails b on
// an outcome other than Accepted.
func sendAMQP(ctx context.Context, b *testing.B, s *goamqp.Session, addr string, n, size int, withEnvelope bool) {
	snd, err := s.NewSender(ctx, addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	receipts := make(chan goamqp.SendReceipt, amqpWindow)
	waited := make(chan error, 1)
	go func() {
		for r := range receipts {
			st, err := r.Wait(ctx)
			if err == nil {
				if _, ok := st.(*goamqp.StateAccepted); !ok {
					err = fmt.Errorf("outcome %T", st)
				}
			}
			if err != nil {
				waited <- err
				for range receipts {
				}
				return
			}
		}
		waited <- nil
	}()
	for range n {
		msg := goamqp.NewMessage(payload(size))
		if withEnvelope {
			env := envelope.Envelope{Source: "/bench", Type: "bench.event", ContentType: "application/octet-stream"}
			env.Complete("east", time.Now())
			props, ct := env.AMQPProperties()
			props["mesh_adapter"] = "bench"
			t := env.Time
			msg.ApplicationProperties = props
			msg.Properties = &goamqp.MessageProperties{MessageID: env.ID, ContentType: &ct, CreationTime: &t}
		}
		r, err := snd.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			b.Fatal(err)
		}
		receipts <- r
	}
	close(receipts)
	if err := <-waited; err != nil {
		b.Fatal(err)
	}
}

// receiveAMQP receives n messages, accepting each, and records their
// latencies.
func receiveAMQP(ctx context.Context, b *testing.B, s *goamqp.Session, addr string, n int, lat *latencies) {
	first := goamqp.ReceiverSettleModeFirst
	rcv, err := s.NewReceiver(ctx, addr, &goamqp.ReceiverOptions{Credit: -1, SettlementMode: &first})
	if err != nil {
		b.Fatal(err)
	}
	// Manual credit: go-amqp's automatic credit stalls against RabbitMQ
	// 3.10 (see the adapter's README).
	if err := rcv.IssueCredit(amqpWindow); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			b.Fatalf("received %d of %d: %v", i, n, err)
		}
		lat.add(sentAt(m.GetData()))
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			b.Fatal(err)
		}
		if err := rcv.IssueCredit(1); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAMQPReference(b *testing.B, url, prefix string, size int, withEnvelope bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := prefix + uniq("bench.amqp.ref")
	s := amqpSession(b, url)
	var lat latencies
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() { defer close(done); receiveAMQP(ctx, b, amqpSession(b, url), q, b.N, &lat) }()
	sendAMQP(ctx, b, s, q, b.N, size, withEnvelope)
	<-done
	lat.report(b, time.Since(start))
}

func benchAdapterConfig(url, kafka string) amqp.Config {
	cfg := amqp.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = url
	cfg.Broker.ContainerID = uniq("meshwork-bench")
	cfg.Kafka.Brokers = []string{kafka}
	cfg.MaxInFlight = amqpWindow * 4
	return cfg
}

func startBenchAdapter(b *testing.B, cfg amqp.Config) {
	a, err := amqp.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close(context.Background()) })
	waitFor(b, 30*time.Second, "adapter ready", func() error { return a.Ready(ctx) })
}

func benchAMQPIngress(b *testing.B, url, prefix, kafka string, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := uniq("bench.amqp.in")
	createTopics(b, kafka, 3, q)
	cfg := benchAdapterConfig(url, kafka)
	cfg.Ingress = []amqp.IngressRule{{Address: q, Topic: q}}
	startBenchAdapter(b, cfg)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(q), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	s := amqpSession(b, url)
	var lat latencies
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer close(done)
		for got := 0; got < b.N && ctx.Err() == nil; {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { lat.add(sentAt(r.Value)); got++ })
		}
	}()
	sendAMQP(ctx, b, s, prefix+q, b.N, size, false)
	<-done
	if ctx.Err() != nil {
		b.Fatal("timed out")
	}
	lat.report(b, time.Since(start))
}

func benchAMQPEgress(b *testing.B, url, prefix, kafka string, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := uniq("bench.amqp.out")
	createTopics(b, kafka, 1, q)
	cfg := benchAdapterConfig(url, kafka)
	// Not durable, as the reference sends: the same work for the broker.
	cfg.Egress = []amqp.EgressRule{{Topics: []string{q}, Address: q, Durable: false}}
	startBenchAdapter(b, cfg)
	pr, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer pr.Close()
	var lat latencies
	done := make(chan struct{})
	rs := amqpSession(b, url)
	b.ResetTimer()
	start := time.Now()
	go func() { defer close(done); receiveAMQP(ctx, b, rs, prefix+q, b.N, &lat) }()
	for range b.N {
		pr.Produce(ctx, &kgo.Record{Topic: q, Value: payload(size)}, nil)
	}
	if err := pr.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
	lat.report(b, time.Since(start))
}
