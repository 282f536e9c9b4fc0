package adapters

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

const testWait = 15 * time.Second

// settled records the order in which messages were settled, and how.
type settled struct {
	mu   sync.Mutex
	ids  []string
	errs []error
}

func (s *settled) settle(id string) func(error) {
	return func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.ids = append(s.ids, id)
		s.errs = append(s.errs, err)
	}
}

func (s *settled) get() ([]string, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), slices.Clone(s.errs)
}

// startIngress runs a pipeline producing to c until the test ends.
func startIngress(t *testing.T, c *kfake.Cluster, window int) (*Ingress, *Metrics) {
	t.Helper()
	cl := kafkatest.Client(t, c, kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(50*time.Millisecond))
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	in := NewIngress(IngressConfig{Site: "east", Component: "test/east", MaxInFlight: window, MaxQueued: 16,
		Kafka: cl, DeadLetters: NewDeadLetters(cl, nil, "test/east", log, m), Metrics: m, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return in, m
}

func message(rule, topic, value string, s *settled) *Message {
	return &Message{Rule: rule, Record: &kgo.Record{Topic: topic, Value: []byte(value)}, Source: "test://" + value, Settle: s.settle(value)}
}

// Kafka completes produces out of order; messages must still be settled in
// the order they arrived, each only once Kafka has it.
func TestIngressSettlesInArrivalOrder(t *testing.T) {
	m := NewMetrics(nil, "test", "east")
	in := NewIngress(IngressConfig{MaxInFlight: 8, MaxQueued: 8, Metrics: m, Log: kafkatest.Logger()})
	var s settled
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); in.releaseLoop(ctx) }()
	ms := make([]*Message, 5)
	for i := range ms {
		ms[i] = &Message{Rule: "r", Settle: s.settle(string(rune('a' + i))), received: time.Now()}
		in.window <- struct{}{}
		in.pending.Add(1)
		in.order = append(in.order, ms[i])
	}
	for _, i := range []int{4, 2, 1, 3} {
		in.complete(ms[i], nil, ResultProduced)
	}
	for range 3 {
		in.kick <- struct{}{} // every chance to misbehave
	}
	if ids, _ := s.get(); len(ids) != 0 {
		t.Fatalf("settled %v before the first message was in Kafka", ids)
	}
	in.complete(ms[0], nil, ResultProduced)
	kafkatest.Wait(t, testWait, func() error {
		if ids, _ := s.get(); len(ids) != 5 {
			return errors.New("not all settled")
		}
		return nil
	})
	if ids, _ := s.get(); strings.Join(ids, "") != "abcde" {
		t.Fatalf("settle order %v", ids)
	}
	if in.pending.Load() != 0 || len(in.window) != 0 {
		t.Fatalf("pipeline not released: pending %d, window %d", in.pending.Load(), len(in.window))
	}
	cancel()
	<-done
}

// Messages whose address names a topic of the mesh, the registry or Kafka
// go to the unroutable dead-letter topic with the reason; unmatched ones are
// settled without being written; the stream goes on in order.
func TestIngressDeadLettersWhatItCannotWrite(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.AllowAutoTopicCreation())
	in, m := startIngress(t, c, 4)
	var s settled
	var bad []*Message
	for _, name := range []string{"_schemas", "_mesh.interest", "__consumer_offsets", ""} {
		msg := message("r", "", "bad"+name, &s)
		topic, err := Topic(name)
		if err == nil {
			t.Fatalf("Topic(%q) accepted", name)
		}
		msg.Record.Topic, msg.Invalid, msg.Unroutable = topic, err, true
		if topic == "" {
			msg.Record.Topic = name
		}
		bad = append(bad, msg)
	}
	msgs := append([]*Message{message("r", "plant.a", "first", &s)}, bad...)
	msgs = append(msgs, &Message{Settle: s.settle("unmatched")}, message("r", "plant.a", "last", &s))
	for _, msg := range msgs {
		if !in.Submit(msg) {
			t.Fatal("not taken")
		}
	}
	kafkatest.Wait(t, testWait, func() error {
		if ids, _ := s.get(); len(ids) != len(msgs) {
			return errors.New("not all settled")
		}
		return nil
	})
	ids, errs := s.get()
	if want := "first,bad_schemas,bad_mesh.interest,bad__consumer_offsets,bad,unmatched,last"; strings.Join(ids, ",") != want {
		t.Fatalf("settled %v, want %s", ids, want)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s settled with %v", ids[i], err)
		}
	}
	recs := kafkatest.Read(t, c, "plant.a", 2, testWait)
	if string(recs[0].Value) != "first" || string(recs[1].Value) != "last" {
		t.Fatalf("plant.a holds %q, %q", recs[0].Value, recs[1].Value)
	}
	if env, err := envelope.FromKafka(recs[0].Headers); err != nil || env.ID == "" || env.Origin != "east" {
		t.Fatalf("envelope %+v %v", env, err)
	}
	var dead []string
	for _, r := range kafkatest.Read(t, c, dlq.UnroutableTopic, 4, testWait) {
		l, err := dlq.Read(r)
		if err != nil || !l.Unroutable || !strings.Contains(l.Reason, "not a topic an adapter may write") {
			t.Fatalf("dead letter %+v %v", l, err)
		}
		dead = append(dead, l.Topic)
	}
	slices.Sort(dead) // written side by side: in no particular order
	if strings.Join(dead, ",") != ",__consumer_offsets,_mesh.interest,_schemas" {
		t.Fatalf("dead letters name %q", dead)
	}
	for _, topic := range []string{"_schemas", "_mesh.interest", "__consumer_offsets"} {
		if topics, err := kafkatest.Client(t, c).Request(context.Background(), kmsg.NewPtrMetadataRequest()); err == nil {
			for _, mt := range topics.(*kmsg.MetadataResponse).Topics {
				if mt.Topic != nil && *mt.Topic == topic {
					t.Fatalf("%s was created: a message reached it", topic)
				}
			}
		}
	}
	if v := testutil.ToFloat64(m.IngressCount("r", ResultDLQ)); v != 4 {
		t.Fatalf("dlq count %v", v)
	}
	if v := testutil.ToFloat64(m.IngressCount("", ResultUnmatched)); v != 1 {
		t.Fatalf("unmatched count %v", v)
	}
}

// While Kafka refuses produces, messages wait (nothing settled), the
// pipeline says so in Ready, and a best-effort message beyond the queue is
// dropped; when Kafka returns, everything goes on in order.
func TestIngressWaitsOutKafkaAndShowsIt(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "plant.a"))
	var fail atomic.Bool
	failed := kafkatest.RefuseProduce(c, kerr.NotEnoughReplicas.Code, func(*kmsg.ProduceRequest) bool { return fail.Load() })
	in, _ := startIngress(t, c, 2)
	fail.Store(true)
	var s settled
	for _, v := range []string{"1", "2", "3"} {
		in.Submit(message("r", "plant.a", v, &s))
	}
	kafkatest.Wait(t, testWait, func() error {
		if failed.Load() < 2 {
			return errors.New("Kafka refused nothing yet")
		}
		return nil
	})
	if ids, _ := s.get(); len(ids) != 0 {
		t.Fatalf("settled %v while Kafka refused them", ids)
	}
	in.mu.Lock()
	in.order[0].received = time.Now().Add(-time.Minute) // as if it had waited a minute
	in.mu.Unlock()
	if err := in.Ready(); err == nil || !strings.Contains(err.Error(), "2 messages in flight, the oldest waiting 1m") {
		t.Fatalf("Ready while Kafka refuses: %v", err)
	}
	fail.Store(false)
	kafkatest.Wait(t, testWait, func() error {
		if ids, _ := s.get(); len(ids) != 3 {
			return errors.New("not all settled")
		}
		return nil
	})
	if ids, _ := s.get(); strings.Join(ids, "") != "123" {
		t.Fatalf("settled %v", ids)
	}
	if err := in.Ready(); err != nil {
		t.Fatalf("Ready after Kafka returned: %v", err)
	}
	if err := in.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in.Submit(message("r", "plant.a", "late", &s)) || !in.Stopping() {
		t.Fatal("a draining pipeline took a message")
	}
}
