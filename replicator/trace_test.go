package replicator

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/trace"
)

// A copied event records a REPLICATED hop at the target, at the copy's
// partition and offset there; the hops of the source site's _mesh.trace
// are copied too (every site receives every site's), and copying them
// records no hop of its own.
func TestCopiesRecordReplicatedHopsAndCarryTheTrace(t *testing.T) {
	m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t)}
	codec, err := trace.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	east := kafkatest.Client(t, m["east"])
	if err := trace.EnsureTopic(t.Context(), east, trace.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	eastHop := trace.Hop{EventID: "from-east", Topic: "shop.order.created", Site: "east", Component: "mqtt-adapter/east",
		Action: trace.ActionProduced, Protocol: trace.ProtocolKafka, Outcome: trace.OutcomeOK, Time: time.Now().UTC().Truncate(time.Millisecond),
		Partition: 0, Offset: 0}
	rec, err := codec.Record("east", "mqtt-adapter/east", []trace.Hop{eastHop})
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, east, rec)
	ids := map[string]bool{}
	for i := range 5 {
		e := envelope.Envelope{}
		e.Complete("east", time.Now())
		ids[e.ID] = true
		r := &kgo.Record{Topic: "shop.order.created", Key: []byte{byte(i)}, Value: []byte("v")}
		e.SetKafka(r)
		kafkatest.Produce(t, east, r)
	}

	cfg := m.config("west")
	cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
	cfg.Trace.SampleRate, cfg.Trace.FlushInterval = 1, 20*time.Millisecond
	startReplicator(t, cfg)
	copies := readAll(t, m["west"], "shop.order.created", 5)
	at := map[string][2]int64{}
	for _, c := range copies {
		at[trace.EventOf(c.Headers).ID] = [2]int64{int64(c.Partition), c.Offset}
	}
	var hops []trace.Hop
	for _, r := range readAll(t, m["west"], trace.Topic, 2) {
		hs, err := codec.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		hops = append(hops, hs...)
	}
	replicated, carried := 0, 0
	for _, h := range hops {
		switch {
		case h.EventID == "from-east":
			carried++
			if h.Site != "east" || h.Component != "mqtt-adapter/east" {
				t.Errorf("carried hop %+v", h)
			}
		case ids[h.EventID]:
			replicated++
			if h.Action != trace.ActionReplicated || h.Site != "west" || h.Component != "replicator/west" || h.Outcome != trace.OutcomeOK ||
				h.Address != "kafka://east" || h.Duration <= 0 {
				t.Errorf("replicated hop %+v", h)
			}
			if want := at[h.EventID]; [2]int64{int64(h.Partition), h.Offset} != want {
				t.Errorf("hop of %s at %d@%d, its copy is at %v", h.EventID, h.Partition, h.Offset, want)
			}
		default:
			t.Errorf("unexpected hop %+v", h)
		}
	}
	if replicated != 5 || carried != 1 {
		t.Fatalf("%d REPLICATED hops (want 5), %d of east's hops carried (want 1)", replicated, carried)
	}
}
