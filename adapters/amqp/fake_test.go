package amqp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

const testWait = 20 * time.Second

// fakeReceiver is a receiver link that hands out queued messages and
// records how each was settled, in order. Like a broker, it sends a
// message only against link credit the receiver issued.
type fakeReceiver struct {
	msgs chan *amqp.Message

	mu        sync.Mutex
	credit    int // issued and not used
	flows     int // IssueCredit calls
	out       int // handed out, not settled
	maxOut    int
	accepted  []string
	released  []string
	settledCh chan struct{}
}

func newFakeReceiver() *fakeReceiver {
	return &fakeReceiver{msgs: make(chan *amqp.Message, 100000), settledCh: make(chan struct{}, 1)}
}

func (f *fakeReceiver) IssueCredit(n uint32) error {
	f.mu.Lock()
	f.credit += int(n)
	f.flows++
	f.mu.Unlock()
	select {
	case f.settledCh <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeReceiver) Receive(ctx context.Context, _ *amqp.ReceiveOptions) (*amqp.Message, error) {
	for {
		f.mu.Lock()
		room := f.credit > 0
		f.mu.Unlock()
		if room {
			break
		}
		select {
		case <-f.settledCh:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case m := <-f.msgs:
		f.mu.Lock()
		f.credit--
		f.out++
		f.maxOut = max(f.maxOut, f.out)
		f.mu.Unlock()
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeReceiver) settle(msg *amqp.Message, list *[]string) {
	f.mu.Lock()
	f.out--
	*list = append(*list, idString(msg.Properties.MessageID))
	f.mu.Unlock()
}

func (f *fakeReceiver) AcceptMessage(_ context.Context, msg *amqp.Message) error {
	f.settle(msg, &f.accepted)
	return nil
}

func (f *fakeReceiver) ReleaseMessage(_ context.Context, msg *amqp.Message) error {
	f.settle(msg, &f.released)
	return nil
}

func (f *fakeReceiver) settled() (accepted, released []string, maxOut int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.accepted...), append([]string(nil), f.released...), f.maxOut
}

// testConfig is an adapter config for kafka, its broker on a closed port:
// tests drive its links with fakes.
func testConfig(kafka *kfake.Cluster) Config {
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka = kafkatest.Config(kafka)
	cfg.Broker.URL = "amqp://127.0.0.1:1"
	cfg.Broker.MaxReconnectInterval = time.Second
	cfg.NotReadyAfter = time.Second
	return cfg
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return kafkatest.Logger()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testKafkaOpts are short Kafka client timers that keep the tests fast: a
// produce error waits for a metadata refresh, and marks commit on an
// interval.
var testKafkaOpts = []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond), kgo.MetadataMinAge(50 * time.Millisecond),
	kgo.AutoCommitInterval(100 * time.Millisecond)}

// startAdapter starts an adapter on cfg, closed when t ends.
func startAdapter(t *testing.T, cfg Config) *Adapter {
	t.Helper()
	a, err := New(cfg, quietLog(), prometheus.NewRegistry(), testKafkaOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	return a
}

// runIngress runs the ingress of rule i on rcv until t ends.
func runIngress(t *testing.T, a *Adapter, i int, rcv receiver, d dialect) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.in.run(ctx, &a.in.rules[i], rcv, d); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ingress: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
