package adapters

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/trace"
)

// startRecorder runs a recorder at c that traces every event, closed when
// the test ends.
func startRecorder(t *testing.T, c *kfake.Cluster, component string) *trace.Recorder {
	t.Helper()
	cfg := trace.DefaultConfig()
	cfg.SampleRate, cfg.FlushInterval = 1, 20*time.Millisecond
	r, err := trace.NewRecorder(kafkatest.Client(t, c), "east", component, cfg, kafkatest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r
}

// readHops reads _mesh.trace of c until it holds n hops.
func readHops(t *testing.T, c *kfake.Cluster, n int) []trace.Hop {
	t.Helper()
	codec, _ := trace.NewCodec()
	var hops []trace.Hop
	kafkatest.Wait(t, testWait, func() error {
		hops = nil
		cl := kafkatest.Client(t, c, kgo.ConsumeTopics(trace.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(50*time.Millisecond))
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				break
			}
			for _, r := range fs.Records() {
				hs, err := codec.Decode(r)
				if err != nil {
					t.Fatal(err)
				}
				hops = append(hops, hs...)
			}
		}
		if len(hops) < n {
			return fmt.Errorf("%d of %d hops", len(hops), n)
		}
		return nil
	})
	return hops
}

// An ingress message records INGRESS at its protocol and PRODUCED where
// Kafka put it; one that cannot be written records DEAD_LETTERED (dlq).
func TestIngressRecordsHops(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.AllowAutoTopicCreation(), kfake.SeedTopics(1, "plant.temp"))
	cl := kafkatest.Client(t, c, kgo.AllowAutoTopicCreation())
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	in := NewIngress(IngressConfig{Site: "east", Component: "mqtt-adapter/east", MaxInFlight: 4, MaxQueued: 16,
		Kafka: cl, DeadLetters: NewDeadLetters(cl, nil, "mqtt-adapter/east", log, m), Metrics: m, Log: log,
		Trace: startRecorder(t, c, "mqtt-adapter/east"), Protocol: trace.ProtocolMQTT})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var s settled
	good := message("r", "plant.temp", "good", &s)
	good.Envelope.Source = "mqtt://broker/f/1"
	bad := message("r", "plant.temp", "bad", &s)
	bad.Invalid = Permanent(ReasonSchema, errors.New("field celsius missing"))
	in.Submit(good)
	in.Submit(bad)
	hops := readHops(t, c, 4)
	byEvent := map[string][]trace.Hop{}
	for _, h := range hops {
		byEvent[h.EventID] = append(byEvent[h.EventID], h)
	}
	g := byEvent[good.Envelope.ID]
	if len(g) != 2 || g[0].Action != trace.ActionIngress || g[1].Action != trace.ActionProduced {
		t.Fatalf("hops of the good message: %+v", g)
	}
	if g[0].Protocol != trace.ProtocolMQTT || g[0].Address != "test://good" || g[0].Partition != -1 ||
		g[1].Protocol != trace.ProtocolKafka || g[1].Partition != 0 || g[1].Offset != 0 || g[1].Outcome != trace.OutcomeOK {
		t.Errorf("hops of the good message: %+v", g)
	}
	if g[1].Time.Before(g[0].Time) || g[1].Duration <= 0 {
		t.Errorf("PRODUCED at %s (held %s) before INGRESS at %s", g[1].Time, g[1].Duration, g[0].Time)
	}
	if g[0].TraceID == "" || g[0].TraceID != trace.TraceIDOf(good.Envelope.TraceParent) || g[0].Source != "mqtt://broker/f/1" {
		t.Errorf("hop without the event's trace id or source: %+v", g[0])
	}
	b := byEvent[bad.Envelope.ID]
	if len(b) != 2 || b[1].Action != trace.ActionDeadLettered || b[1].Outcome != trace.OutcomeDLQ ||
		b[1].Address != "_mesh.dlq.plant.temp" || b[1].Detail == "" {
		t.Fatalf("hops of the dead-lettered message: %+v", b)
	}
}

// An egress record records DELIVERED once the peer confirmed it, and
// DEAD_LETTERED when it never can be; a skipped echo records nothing.
func TestEgressRecordsHops(t *testing.T) {
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "cmds"))
	prod := kafkatest.Client(t, c)
	var recs []*kgo.Record
	ids := map[string]string{}
	for _, v := range []string{"a", "skip", "bad"} {
		e := envelope.Envelope{}
		e.Complete("east", time.Now())
		ids[v] = e.ID
		r := &kgo.Record{Topic: "cmds", Value: []byte(v)}
		e.SetKafka(r)
		recs = append(recs, r)
	}
	kafkatest.Produce(t, prod, recs...)
	m := NewMetrics(prometheus.NewRegistry(), "test", "east")
	log := kafkatest.Logger()
	cl := kafkatest.Client(t, c, append(GroupOptions("g", "cmds"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	e := NewEgress(EgressConfig{Rule: "cmds", Client: cl, MaxInFlight: 8, Timeout: time.Second, Sender: &fakeSender{},
		DeadLetters: NewDeadLetters(prod, nil, "test/east", log, m), Metrics: m, Log: log,
		Trace: startRecorder(t, c, "amqp-adapter/east"), Protocol: trace.ProtocolAMQP})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx, ctx) }()
	defer func() { cancel(); <-done }()
	hops := readHops(t, c, 2)
	if len(hops) != 2 {
		t.Fatalf("%d hops, want 2: %+v", len(hops), hops)
	}
	for _, h := range hops {
		switch h.EventID {
		case ids["a"]:
			if h.Action != trace.ActionDelivered || h.Protocol != trace.ProtocolAMQP || h.Outcome != trace.OutcomeOK || h.Offset != 0 ||
				h.Component != "amqp-adapter/east" {
				t.Errorf("delivered hop %+v", h)
			}
		case ids["bad"]:
			if h.Action != trace.ActionDeadLettered || h.Outcome != trace.OutcomeDLQ || h.Offset != 2 || h.Detail != "no such address" {
				t.Errorf("dead-lettered hop %+v", h)
			}
		default:
			t.Errorf("hop of event %s (skipped: %s)", h.EventID, ids["skip"])
		}
	}
}
