package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// fakeSender confirms records by their value: "skip" is not for the peer,
// "bad" is undeliverable, "flaky" fails until flaky is cleared.
type fakeSender struct {
	mu    sync.Mutex
	sent  []string
	flaky bool
}

func (f *fakeSender) Send(_ context.Context, r *kgo.Record) Confirm {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch v := string(r.Value); {
	case v == "skip":
		return Confirmed(ErrSkip)
	case v == "bad":
		return Confirmed(Permanent(ReasonTopic, errors.New("no such address")))
	case v == "flaky" && f.flaky:
		return Confirmed(errors.New("peer unavailable"))
	default:
		f.sent = append(f.sent, v)
		return Confirmed(nil)
	}
}

func (f *fakeSender) setFlaky(b bool) { f.mu.Lock(); f.flaky = b; f.mu.Unlock() }

func (f *fakeSender) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// The committed offset never passes a record the peer did not confirm; an
// undeliverable record is dead-lettered and the stream goes on.
func TestEgressCommitsOnlyConfirmedRecords(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "cmds"))
	prod := kafkatest.Client(t, c)
	var recs []*kgo.Record
	for _, v := range []string{"a", "skip", "bad", "flaky", "b"} {
		recs = append(recs, &kgo.Record{Topic: "cmds", Value: []byte(v)})
	}
	kafkatest.Produce(t, prod, recs...)
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	cl := kafkatest.Client(t, c, append(GroupOptions("g", "cmds"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.AutoCommitInterval(100*time.Millisecond))...)
	snd := &fakeSender{flaky: true}
	e := NewEgress(EgressConfig{Rule: "cmds", Client: cl, MaxInFlight: 8, Timeout: time.Second, Sender: snd,
		DeadLetters: NewDeadLetters(prod, nil, "test/east", log, m), Metrics: m, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, ctx) }()
	defer func() { cancel(); <-done }()

	adm := kadm.NewClient(prod)
	committed := func() int64 {
		os, err := adm.FetchOffsets(context.Background(), "g")
		if err != nil {
			return -1
		}
		o, _ := os.Lookup("cmds", 0)
		return o.At
	}
	kafkatest.Wait(t, testWait, func() error {
		if testutil.ToFloat64(m.RetryCount("egress")) < 2 || committed() != 3 {
			return errors.New("not yet stuck at the flaky record")
		}
		return nil
	})
	if got := snd.got(); got[0] != "a" || slices.Contains(got, "flaky") {
		t.Fatalf("sent %v while the peer refused the flaky record", got)
	}
	snd.setFlaky(false)
	kafkatest.Wait(t, testWait, func() error {
		if committed() != 5 {
			return errors.New("not all committed")
		}
		return nil
	})
	// Records after an unconfirmed one may be sent more than once (at
	// least once), but the flaky record is sent again before them.
	if got := snd.got(); got[len(got)-2] != "flaky" || got[len(got)-1] != "b" {
		t.Fatalf("sent %v", got)
	}
	l, err := dlq.Read(kafkatest.Read(t, c, dlq.Topic("cmds"), 1, testWait)[0])
	if err != nil || string(l.Record.Value) != "bad" || l.Reason != "no such address" || l.Offset != 2 {
		t.Fatalf("dead letter %+v %v", l, err)
	}
	for result, want := range map[string]float64{ResultPublished: 3, ResultSkipped: 1, ResultDLQ: 1} {
		if v := testutil.ToFloat64(m.EgressCount("cmds", result)); v < want {
			t.Errorf("%s: %v, want %v", result, v, want)
		}
	}
}

// heldConfirm is a confirmation the test completes.
type heldConfirm struct{ done chan struct{} }

func (h heldConfirm) Done() <-chan struct{} { return h.done }
func (h heldConfirm) Error() error          { return nil }

// heldSender records what it was handed and leaves each confirmation to
// the test.
type heldSender struct {
	mu       sync.Mutex
	sent     []string
	confirms map[string]heldConfirm
}

func (h *heldSender) Send(_ context.Context, r *kgo.Record) Confirm {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := heldConfirm{make(chan struct{})}
	h.sent = append(h.sent, string(r.Value))
	h.confirms[string(r.Value)] = c
	return c
}

func (h *heldSender) confirm(v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.confirms[v].done)
}

func (h *heldSender) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.sent...)
}

// The window slides: once the oldest record in flight is confirmed, the
// next is handed to the peer at once, while the rest of the window is
// still unconfirmed; commits still follow confirmations in order.
func TestEgressWindowSlides(t *testing.T) {
	const window, n = 4, 12
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "cmds"))
	prod := kafkatest.Client(t, c)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "cmds", Value: []byte{byte('a' + i)}})
	}
	kafkatest.Produce(t, prod, recs...)
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	cl := kafkatest.Client(t, c, append(GroupOptions("g", "cmds"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.AutoCommitInterval(100*time.Millisecond))...)
	snd := &heldSender{confirms: map[string]heldConfirm{}}
	e := NewEgress(EgressConfig{Rule: "cmds", Client: cl, MaxInFlight: window, Timeout: time.Minute, Sender: snd,
		DeadLetters: NewDeadLetters(prod, nil, "test/east", log, m), Metrics: m, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, ctx) }()
	defer func() { cancel(); <-done }()

	sentAre := func(want string) func() error {
		return func() error {
			if got := strings.Join(snd.got(), ""); got != want {
				return fmt.Errorf("sent %q, want %q", got, want)
			}
			return nil
		}
	}
	kafkatest.Wait(t, testWait, sentAre("abcd"))
	if v := testutil.ToFloat64(m.egressInFlight); v != window {
		t.Fatalf("in flight %v, want %d", v, window)
	}
	snd.confirm("a")
	kafkatest.Wait(t, testWait, sentAre("abcde")) // b, c, d still unconfirmed
	snd.confirm("c")                              // out of order: b holds the window
	snd.confirm("b")
	kafkatest.Wait(t, testWait, sentAre("abcdefg"))
	for i := 3; i < n; i++ {
		kafkatest.Wait(t, testWait, func() error {
			if len(snd.got()) <= i {
				return fmt.Errorf("record %d not sent yet", i)
			}
			return nil
		})
		snd.confirm(string(rune('a' + i)))
	}
	adm := kadm.NewClient(prod)
	kafkatest.Wait(t, testWait, func() error {
		os, err := adm.FetchOffsets(context.Background(), "g")
		if err != nil {
			return err
		}
		if o, _ := os.Lookup("cmds", 0); o.At != n {
			return fmt.Errorf("committed %d", o.At)
		}
		return nil
	})
	if got := strings.Join(snd.got(), ""); got != "abcdefghijkl" {
		t.Fatalf("sent %q", got)
	}
	if v := testutil.ToFloat64(m.egressInFlight); v != 0 {
		t.Fatalf("in flight %v after all confirmed", v)
	}
}
