package replicator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// newTestReplicator builds, without running it, a replicator of site west.
func newTestReplicator(t *testing.T, m mesh) *Replicator {
	t.Helper()
	r, err := New(m.config("west"), kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r
}

func topicConfigs(t *testing.T, c *kadm.Client, topic string) map[string]string {
	t.Helper()
	rcs, err := c.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		out[c.Key] = c.MaybeValue()
	}
	return out
}

func TestCheckpointTopicIsCreatedToStayShort(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	r := newTestReplicator(t, m)
	if err := r.ensureCheckpointTopic(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := topicConfigs(t, kadm.NewClient(kafkatest.Client(t, m["west"])), CheckpointTopic)
	for k, v := range checkpointTopicConfigs() {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// An existing checkpoint topic gets the configs it lacks (one created by an
// earlier version never compacted its open segment), and keeps those an
// operator set on it.
func TestCheckpointTopicGetsMissingConfigsAndKeepsTheOperators(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	adm := kadm.NewClient(kafkatest.Client(t, m["west"]))
	ctx := context.Background()
	own := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.ms": kadm.StringPtr("600000")}
	if _, err := adm.CreateTopic(ctx, 1, 1, own, CheckpointTopic); err != nil {
		t.Fatal(err)
	}
	r := newTestReplicator(t, m)
	for range 2 { // the second time finds nothing to do
		if err := r.ensureCheckpointTopic(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := topicConfigs(t, adm, CheckpointTopic)
	want := checkpointTopicConfigs()
	want["segment.ms"] = "600000"
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// sync decodes only the last checkpoint of each unit, and what it reads
// replaces what the replicator knew: a tombstone removes a unit, a foreign
// record is skipped.
func TestCheckpointsSyncKeepsTheLastOfEachUnit(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	r := newTestReplicator(t, m)
	ctx := context.Background()
	if err := r.ensureCheckpointTopic(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := unit{"east", "shop.order.created", 0}, unit{"east", "shop.order.created", 1}
	prod := kafkatest.Client(t, m["west"], kgo.RecordPartitioner(kgo.ManualPartitioner()))
	write := func(recs ...*kgo.Record) {
		t.Helper()
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := r.cps.sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	for i := range 1000 {
		recs = append(recs, a.checkpointRecord(checkpoint{NextOffset: int64(i + 1), Copied: int64(i + 1), Time: time.Now()}))
	}
	recs = append(recs, b.checkpointRecord(checkpoint{NextOffset: 7}))
	recs = append(recs, &kgo.Record{Topic: CheckpointTopic, Key: []byte("not a unit"), Value: []byte("{")})
	write(recs...)
	if cp, ok := r.cps.get(a); !ok || cp.NextOffset != 1000 || cp.Copied != 1000 {
		t.Fatalf("%s: %+v %v, want next offset 1000", a, cp, ok)
	}
	if cp, ok := r.cps.get(b); !ok || cp.NextOffset != 7 {
		t.Fatalf("%s: %+v %v, want next offset 7", b, cp, ok)
	}

	// A tombstone removes b; an undecodable value leaves a where it was.
	garbage := a.checkpointRecord(checkpoint{})
	garbage.Value = []byte(`{"next_offset":`)
	write(&kgo.Record{Topic: CheckpointTopic, Key: []byte(b.key())}, garbage)
	if _, ok := r.cps.get(b); ok {
		t.Fatalf("%s still has a checkpoint after its tombstone", b)
	}
	if cp, _ := r.cps.get(a); cp.NextOffset != 1000 {
		t.Fatalf("%s: next offset %d after an undecodable record, want 1000 kept", a, cp.NextOffset)
	}
}

// A checkpoint topic that an operator set to delete would lose the
// checkpoints with retention: the replicator refuses it and says how to fix
// it.
func TestCheckpointTopicMustBeCompacted(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	adm := kadm.NewClient(kafkatest.Client(t, m["west"]))
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, CheckpointTopic); err != nil {
		t.Fatal(err)
	}
	err := newTestReplicator(t, m).ensureCheckpointTopic(ctx)
	if err == nil || !strings.Contains(err.Error(), "cleanup.policy=compact") {
		t.Fatalf("got %v, want an error that says to compact the topic", err)
	}
}
