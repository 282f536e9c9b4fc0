package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/dlq"
)

// TestIntegrationReplicatorPoisonRecords writes to a real east cluster,
// between numbered records, a 2 MB record (east's topic takes 4 MB, west's
// copy, made before, the brokers' 1 MiB) and records with malformed or
// foreign mesh headers. West's replicator (exactly once) copies every
// numbered record once (read_committed and read_uncommitted readers agree:
// no aborted copies), dead-letters the three others at west, and its flow
// never restarts.
func TestIntegrationReplicatorPoisonRecords(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topic := "plant.camera.frame." + uniq("poison")
	createTopics(t, east, 1, topic)
	eastAdm, westAdm := kadm.NewClient(mustClient(t, east)), kadm.NewClient(mustClient(t, west))
	if _, err := eastAdm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("4194304")}}, topic); err != nil {
		t.Fatal(err)
	}
	res, err := westAdm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("1048576")}, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		deleteTopics(dctx, t, westAdm, dlq.Topic(topic))
	})

	const n = 200
	big := bytes.Repeat([]byte{'f'}, 2<<20)
	prod := mustClient(t, east, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(4<<20))
	numbered := func(from, to int) {
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("n=%d", i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	numbered(0, n/2)
	for _, r := range []*kgo.Record{
		{Key: []byte("frame"), Value: big},
		{Key: []byte("bad"), Value: []byte("foreign"), Headers: []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("mars")}}},
		{Key: []byte("bad"), Value: []byte("noise"), Headers: []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}, {Key: "mesh_path", Value: []byte("east\x00\xff,,")}}},
	} {
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("east refused a record it must take: %v", err)
		}
	}
	numbered(n/2, n)

	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	port := freePorts(t, 1)[0]
	startService(t, bin, "replicator-west-poison", replicatorConfig("west", port, east, west, "exactly_once", topic), port)

	for _, level := range []kgo.IsolationLevel{kgo.ReadCommitted(), kgo.ReadUncommitted()} {
		cons := mustClient(t, west, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := map[string]int{}
		var other []string
		waitFor(t, 90*time.Second, fmt.Sprintf("%d records at west", n), func() error {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			defer pcancel()
			cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				if bytes.HasPrefix(r.Value, []byte("n=")) {
					seen[string(r.Value)]++
				} else {
					other = append(other, fmt.Sprintf("%.20q", r.Value))
				}
			})
			if len(seen) < n {
				return fmt.Errorf("%d of %d", len(seen), n)
			}
			return nil
		})
		for v, c := range seen {
			if c != 1 {
				t.Fatalf("%s seen %d times at west", v, c)
			}
		}
		if len(other) > 0 {
			t.Fatalf("west holds records it must not: %v", other)
		}
	}

	letters := mustClient(t, west, kgo.ConsumeTopics(dlq.Topic(topic)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	reasons := map[string]bool{}
	waitFor(t, 30*time.Second, "3 dead letters at west", func() error {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		letters.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			l, err := dlq.Read(r)
			if err != nil {
				t.Error(err)
			}
			reasons[fmt.Sprintf("%s truncated=%v", strings.SplitN(l.Reason, "=", 2)[0], l.Truncated)] = true
		})
		if len(reasons) < 3 {
			return fmt.Errorf("%v", reasons)
		}
		return nil
	})
	for _, want := range []string{
		"not copied: the copy takes up to 2097" /* ...bytes, over max.message.bytes */, "not copied: envelope: mesh_origin", "not copied: envelope: mesh_path",
	} {
		found := false
		for r := range reasons {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Fatalf("no dead letter for %q among %v", want, reasons)
		}
	}
	m := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if m["meshwork_replicator_records_refused_total"] != 3 || m["meshwork_replicator_flow_restarts_total"] != 0 || m["meshwork_replicator_transaction_aborts_total"] != 0 {
		t.Fatalf("refused %v, restarts %v, aborts %v; want 3, 0, 0", m["meshwork_replicator_records_refused_total"],
			m["meshwork_replicator_flow_restarts_total"], m["meshwork_replicator_transaction_aborts_total"])
	}
	t.Logf("west: %d records once, 3 dead letters %v, no restart", n, reasons)
}
