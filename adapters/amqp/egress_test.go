package amqp

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// fakeLinks hands out sender links whose outcomes a test scripts, and
// records what was sent where.
type fakeLinks struct {
	d      dialect
	script func(addr string, msg *amqp.Message, attempt int) (amqp.DeliveryState, <-chan struct{})

	mu       sync.Mutex
	sent     []sentMsg
	attempts map[string]int
}

type sentMsg struct {
	addr string
	msg  *amqp.Message
}

type fakeLink struct {
	f    *fakeLinks
	addr string
}

func (f *fakeLinks) sender(_ context.Context, address string) (sendLink, dialect, error) {
	return fakeLink{f, f.d.link(address)}, f.d, nil
}

func (f *fakeLinks) forget(string, sendLink) {}

func (f *fakeLinks) messages() []sentMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMsg(nil), f.sent...)
}

func (l fakeLink) send(_ context.Context, msg *amqp.Message) (func(context.Context) (amqp.DeliveryState, error), error) {
	f := l.f
	f.mu.Lock()
	id := idString(msg.Properties.MessageID)
	f.attempts[id]++
	n := f.attempts[id]
	f.sent = append(f.sent, sentMsg{l.addr, msg})
	f.mu.Unlock()
	state, hold := f.script(l.addr, msg, n)
	return func(ctx context.Context) (amqp.DeliveryState, error) {
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return state, nil
	}, nil
}

func (fakeLink) maxMessageSize() uint64 { return 1 << 20 }

// The egress of one rule against scripted outcomes: Released twice, then
// Accepted, is sent again with backoff; Rejected goes to the dead-letter
// topic with the broker's condition, as does an address outside the
// allowlist; the adapter's own ingress records are skipped; the envelope
// maps to the message's properties; and the committed offset never passes
// a record whose outcome has not arrived.
func TestEgressCommitsOnlyAfterAccepted(t *testing.T) {
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "cmds"))
	cfg := testConfig(kafka)
	cfg.Egress = []EgressRule{{Name: "cmds", Topics: []string{"cmds"}, Address: "{key}", Allow: []string{"q.*"}, Durable: true}}
	_, out, err := cfg.rules()
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	links := &fakeLinks{d: detect(KindRabbitMQ, nil), attempts: map[string]int{}}
	links.script = func(addr string, msg *amqp.Message, attempt int) (amqp.DeliveryState, <-chan struct{}) {
		switch addr {
		case "/queue/q.a":
			if attempt <= 2 {
				return &amqp.StateReleased{}, nil
			}
		case "/queue/q.rejected":
			return &amqp.StateRejected{Error: &amqp.Error{Condition: amqp.ErrCondNotAllowed, Description: "nope"}}, nil
		case "/queue/q.held":
			return &amqp.StateAccepted{}, hold
		}
		return &amqp.StateAccepted{}, nil
	}
	a, err := New(cfg, quietLog(), nil, testKafkaOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close(context.Background()) }()
	var waits sync.WaitGroup
	defer waits.Wait()
	cl := kafkatest.Client(t, kafka, append(adapters.GroupOptions("g", "cmds"), testKafkaOpts...)...)
	e := adapters.NewEgress(adapters.EgressConfig{
		Rule: "cmds", Client: cl, MaxInFlight: 16, Timeout: 5 * time.Second,
		Sender:      &sender{rule: out[0], links: links, site: "east", id: "meshwork-amqp-east", timeout: 5 * time.Second, m: a.lm, waits: &waits},
		DeadLetters: a.bridge.DeadLetters(), Metrics: a.m, Log: quietLog(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, ctx) }()
	defer func() { cancel(); <-done }()

	hs := func(kv ...string) []kgo.RecordHeader {
		var h []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			h = append(h, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return h
	}
	kafkatest.Produce(t, kafkatest.Client(t, kafka),
		&kgo.Record{Topic: "cmds", Key: []byte("q.a"), Value: []byte("0")},
		&kgo.Record{Topic: "cmds", Key: []byte("q.rejected"), Value: []byte("1")},
		&kgo.Record{Topic: "cmds", Key: []byte("elsewhere"), Value: []byte("2")},
		&kgo.Record{Topic: "cmds", Key: []byte("q.b"), Value: []byte("3"), Headers: hs(envelope.HeaderID, "E3",
			envelope.HeaderReplyTo, "replies.x", envelope.HeaderCorrelationID, "c1", envelope.HeaderContentType, "text/plain", "tenant", "acme")},
		&kgo.Record{Topic: "cmds", Key: []byte("q.held"), Value: []byte("4")},
		&kgo.Record{Topic: "cmds", Key: []byte("q.c"), Value: []byte("5"), Headers: hs(envelope.HeaderOrigin, "east",
			envelope.HeaderPath, "east", adapters.HeaderAdapter, "meshwork-amqp-east")},
	)
	adm := kadm.NewClient(kafkatest.Client(t, kafka))
	committed := func() int64 {
		os, err := adm.FetchOffsets(context.Background(), "g")
		if err != nil {
			return -1
		}
		o, ok := os.Lookup("cmds", 0)
		if !ok {
			return -1
		}
		return o.At
	}
	eventually(t, "records before the held one committed", func() bool { return committed() == 4 })
	time.Sleep(300 * time.Millisecond) // a few commit intervals: it must stay there
	if c := committed(); c != 4 {
		t.Fatalf("committed %d past a record without its outcome", c)
	}
	close(hold)
	eventually(t, "everything committed", func() bool { return committed() == 6 })

	var toB *amqp.Message
	for _, s := range links.messages() {
		if s.addr == "/queue/q.c" {
			t.Fatal("sent the adapter's own ingress record back")
		}
		if s.addr == "/queue/q.b" {
			toB = s.msg
		}
	}
	p := toB.Properties
	if p.MessageID != "E3" || deref(p.ReplyTo) != "/queue/replies.x" || p.CorrelationID != "c1" || deref(p.ContentType) != "text/plain" ||
		deref(p.Subject) != "q.b" || toB.ApplicationProperties["tenant"] != "acme" || toB.ApplicationProperties[adapters.HeaderAdapter] != "meshwork-amqp-east" ||
		string(toB.Data[0]) != "3" || !toB.Header.Durable {
		t.Fatalf("message %+v props %+v app %v", toB, p, toB.ApplicationProperties)
	}
	if n := links.attempts["cmds/0/0"]; n != 3 {
		t.Fatalf("q.a sent %d times under one message-id, want 3", n)
	}
	reasons := map[string]string{}
	for _, r := range kafkatest.Read(t, kafka, dlq.Topic("cmds"), 2, testWait) {
		l, err := dlq.Read(r)
		if err != nil {
			t.Fatal(err)
		}
		reasons[string(l.Record.Key)] = l.Reason
	}
	if !strings.Contains(reasons["q.rejected"], "amqp:not-allowed nope") || !strings.Contains(reasons["elsewhere"], "allow") {
		t.Fatalf("dead letters %v", reasons)
	}
	if n := testutil.ToFloat64(a.lm.outcomes.WithLabelValues("cmds", "released")); n != 2 {
		t.Fatalf("%v released", n)
	}
	if n := testutil.ToFloat64(a.m.EgressCount("cmds", adapters.ResultSkipped)); n != 1 {
		t.Fatalf("%v skipped", n)
	}
}
