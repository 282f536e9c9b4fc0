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
// message only against link credit the receiver issued. Links made with
// anotherLink share the queue; a link closed (detached) refuses
// settlements and puts what it had out back in the queue, as a broker
// does.
type fakeReceiver struct {
	msgs chan *amqp.Message
	// stallAfter, when positive, makes the link stop sending after that
	// many messages though it has credit and the queue has messages, as
	// RabbitMQ 3.10 was seen to.
	stallAfter int

	mu        sync.Mutex
	credit    int // issued and not used
	flows     int // IssueCredit calls
	out       int // handed out, not settled
	maxOut    int
	accepted  []string
	released  []string
	settledCh chan struct{}
	sent      int
	closed    bool
}

func newFakeReceiver() *fakeReceiver {
	return &fakeReceiver{msgs: make(chan *amqp.Message, 100000), settledCh: make(chan struct{}, 1)}
}

// anotherLink is a new link on f's queue.
func (f *fakeReceiver) anotherLink() *fakeReceiver {
	return &fakeReceiver{msgs: f.msgs, settledCh: make(chan struct{}, 1)}
}

func (f *fakeReceiver) Close(context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
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
		room := f.credit > 0 && !f.closed && (f.stallAfter <= 0 || f.sent < f.stallAfter)
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
		f.sent++
		f.out++
		f.maxOut = max(f.maxOut, f.out)
		f.mu.Unlock()
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeReceiver) settle(msg *amqp.Message, list *[]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out--
	if f.closed {
		f.msgs <- msg // the broker delivers it again
		return errors.New("link detached")
	}
	*list = append(*list, idString(msg.Properties.MessageID))
	return nil
}

func (f *fakeReceiver) AcceptMessage(_ context.Context, msg *amqp.Message) error {
	return f.settle(msg, &f.accepted)
}

func (f *fakeReceiver) ReleaseMessage(_ context.Context, msg *amqp.Message) error {
	return f.settle(msg, &f.released)
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
	runIngressAttaching(t, a, i, rcv, func(context.Context) (receiver, error) {
		return nil, errors.New("no link to attach")
	}, d)
}

// runIngressAttaching runs the ingress of rule i on rcv, and on the links
// attach makes once the watchdog finds one stalled, until t ends.
func runIngressAttaching(t *testing.T, a *Adapter, i int, rcv receiver, attach attacher, d dialect) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.in.run(ctx, &a.in.rules[i], rcv, attach, d); err != nil && !errors.Is(err, context.Canceled) {
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
