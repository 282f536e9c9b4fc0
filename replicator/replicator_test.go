package replicator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

const testWait = 30 * time.Second

// newCluster is a site's cluster (kafkatest.Cluster) holding the seed
// topics, with three partitions each.
func newCluster(t testing.TB, seed ...string) *kfake.Cluster {
	t.Helper()
	if len(seed) == 0 {
		return kafkatest.Cluster(t)
	}
	return kafkatest.Cluster(t, kfake.SeedTopics(3, seed...))
}

// mesh is a set of sites, each a kfake cluster.
type mesh map[string]*kfake.Cluster

func (m mesh) config(site string, links ...string) Config {
	cfg := DefaultConfig()
	cfg.Site = site
	cfg.Listen = "127.0.0.1:0"
	cfg.Kafka.Brokers = m[site].ListenAddrs()
	cfg.Links = links
	for _, name := range slices.Sorted(maps.Keys(m)) {
		s := Site{Name: name}
		s.Kafka.Brokers = m[name].ListenAddrs()
		cfg.Sites = append(cfg.Sites, s)
	}
	cfg.Interest.Discover = false
	cfg.Interest.LeaseTTL = 2 * time.Second
	cfg.Flow.FetchMaxWait = 20 * time.Millisecond
	cfg.Flow.PlanInterval = 200 * time.Millisecond
	cfg.Flow.CheckpointInterval = 200 * time.Millisecond
	return cfg
}

// startReplicator runs a replicator until the test ends or stop is called.
func startReplicator(t *testing.T, cfg Config) (r *Replicator, stop func()) {
	t.Helper()
	return startReplicatorWith(t, cfg, prometheus.NewRegistry())
}

// startReplicatorWith is startReplicator with the metrics in reg.
func startReplicatorWith(t *testing.T, cfg Config, reg prometheus.Registerer) (r *Replicator, stop func()) {
	t.Helper()
	r, err := New(cfg, kafkatest.Logger().With("site", cfg.Site), reg,
		kgo.RetryTimeout(5*time.Second), kgo.TransactionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("replicator %s: %v", cfg.Site, err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// produce writes n records numbered from first to topic at c, keyed k0..k4.
func produce(t testing.TB, c *kfake.Cluster, topic string, first, n int) {
	t.Helper()
	cl := kafkatest.Client(t, c, kgo.DefaultProduceTopic(topic))
	for i := first; i < first+n; i++ {
		kafkatest.Produce(t, cl, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("n=%d", i))})
	}
}

// readAll returns every committed record of topic at c, waiting until
// there are at least want (and a little longer, to catch extras).
func readAll(t testing.TB, c *kfake.Cluster, topic string, want int) []*kgo.Record {
	t.Helper()
	return readAllAs(t, c, topic, want, kgo.ReadCommitted())
}

// readAllAs is readAll with the given isolation level.
func readAllAs(t testing.TB, c *kfake.Cluster, topic string, want int, level kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	cl := kafkatest.Client(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(50*time.Millisecond))
	var recs []*kgo.Record
	deadline := time.Now().Add(testWait)
	settle := time.Time{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) >= want && settle.IsZero() {
			settle = time.Now().Add(500 * time.Millisecond)
		}
		if !settle.IsZero() && time.Now().After(settle) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d records, want %d", topic, len(recs), want)
		}
	}
}

// checkOnce asserts records are n=first..first+n-1 each exactly once, in
// order per key.
func checkOnce(t testing.TB, recs []*kgo.Record, n int) {
	t.Helper()
	seen := map[string]int{}
	last := map[string]int{}
	for _, r := range recs {
		v := string(r.Value)
		seen[v]++
		var i int
		fmt.Sscanf(v, "n=%d", &i)
		k := string(r.Key) + "/" + fmt.Sprint(r.Partition)
		if prev, ok := last[k]; ok && i <= prev {
			t.Fatalf("key %s: n=%d after n=%d", r.Key, i, prev)
		}
		last[k] = i
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("%s copied %d times", v, c)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records, want %d", len(seen), n)
	}
}

func topicExists(t testing.TB, c *kfake.Cluster, topic string) bool {
	t.Helper()
	adm := kadm.NewClient(kafkatest.Client(t, c))
	td, err := adm.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := td[topic]
	return ok && d.Err == nil
}

func TestCopiesDeclaredInterestExactlyOnceWithEnvelope(t *testing.T) {
	m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t)}
	cfg := m.config("west")
	cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
	startReplicator(t, cfg)
	produce(t, m["east"], "shop.order.created", 0, 100)
	recs := readAll(t, m["west"], "shop.order.created", 100)
	checkOnce(t, recs, 100)
	for _, r := range recs {
		if v, _ := header(r, "mesh_path"); v != "east,west" {
			t.Fatalf("mesh_path %q", v)
		}
		if v, _ := header(r, "mesh_origin"); v != "east" {
			t.Fatalf("mesh_origin %q", v)
		}
	}
	if topicExists(t, m["west"], "nobody.reads.this") {
		t.Fatal("a topic without interest was created")
	}
}

func TestBothWaysWithoutLoopsAndAcrossRestarts(t *testing.T) {
	m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t, "shop.order.created")}
	for _, site := range []string{"east", "west"} {
		cfg := m.config(site)
		cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
		startReplicator(t, cfg)
	}
	produce(t, m["east"], "shop.order.created", 0, 50)
	produce(t, m["west"], "shop.order.created", 1000, 50)
	for _, site := range []string{"east", "west"} {
		recs := readAll(t, m[site], "shop.order.created", 100)
		if len(recs) != 100 {
			t.Fatalf("%s holds %d records, want 100 (50 own, 50 copied, none copied back)", site, len(recs))
		}
		for _, r := range recs {
			if p, _ := header(r, "mesh_path"); strings.Count(p, ",") > 1 {
				t.Fatalf("%s: record crossed %q", site, p)
			}
		}
	}
}

func TestResumesFromCheckpointAfterRestart(t *testing.T) {
	for _, mode := range []string{ExactlyOnce, AtLeastOnce} {
		t.Run(mode, func(t *testing.T) { testResumesFromCheckpoint(t, mode) })
	}
}

// testResumesFromCheckpoint stops the replicator gracefully between two
// batches of records: in either mode, the second run copies only the new
// ones.
func testResumesFromCheckpoint(t *testing.T, mode string) {
	m := mesh{"east": newCluster(t, "plant.sensor.temperature"), "west": newCluster(t)}
	cfg := m.config("west")
	cfg.Mode = mode
	cfg.Interest.Declared = []Declared{{Topic: "plant.sensor.temperature"}}
	_, stop := startReplicator(t, cfg)
	produce(t, m["east"], "plant.sensor.temperature", 0, 40)
	readAll(t, m["west"], "plant.sensor.temperature", 40)
	stop()
	produce(t, m["east"], "plant.sensor.temperature", 40, 40)
	startReplicator(t, cfg)
	checkOnce(t, readAll(t, m["west"], "plant.sensor.temperature", 80), 80)
}

func TestReplicasSplitSlotsAndTakeOverExactlyOnce(t *testing.T) {
	east := newCluster(t)
	admEast := kadm.NewClient(kafkatest.Client(t, east))
	if _, err := admEast.CreateTopic(context.Background(), 8, 1, nil, "shop.order.created"); err != nil {
		t.Fatal(err)
	}
	m := mesh{"east": east, "west": newCluster(t)}
	cfg := m.config("west")
	cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
	a, stopA := startReplicator(t, cfg)
	b, _ := startReplicator(t, cfg)
	deadline := time.Now().Add(testWait)
	for len(a.slots.ownedList()) == 0 || len(b.slots.ownedList()) == 0 || len(a.slots.ownedList())+len(b.slots.ownedList()) != cfg.Flow.Slots {
		if time.Now().After(deadline) {
			t.Fatalf("slots not split: %v and %v", a.slots.ownedList(), b.slots.ownedList())
		}
		time.Sleep(50 * time.Millisecond)
	}
	produce(t, east, "shop.order.created", 0, 100)
	readAll(t, m["west"], "shop.order.created", 100)
	stopA()
	for len(b.slots.ownedList()) != cfg.Flow.Slots {
		if time.Now().After(deadline.Add(testWait)) {
			t.Fatalf("the remaining replica owns %v after the other left", b.slots.ownedList())
		}
		time.Sleep(50 * time.Millisecond)
	}
	produce(t, east, "shop.order.created", 100, 100)
	checkOnce(t, readAll(t, m["west"], "shop.order.created", 200), 200)
}

func TestConsumerGroupInterestStartsAndStopsTheFlow(t *testing.T) {
	// The topic exists (empty) at west, so that the franz-go group joins;
	// a group of a client that joins before its topics exist counts too
	// (see the interest package's tests and the end-to-end test's sarama
	// group).
	m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t, "shop.order.created")}
	cfg := m.config("west")
	cfg.Interest.Discover = true
	cfg.Interest.DiscoveryInterval = 200 * time.Millisecond
	cfg.Interest.LeaseTTL = time.Second
	r, _ := startReplicator(t, cfg)
	produce(t, m["east"], "shop.order.created", 0, 10)
	if r.copying("shop.order.created") {
		t.Fatal("a flow runs before anyone at west is interested")
	}
	group := kafkatest.Client(t, m["west"], kgo.ConsumerGroup("orders-team"), kgo.ConsumeTopics("shop.order.created"), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(250*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := 0
	deadline := time.Now().Add(testWait)
	for got < 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		got += group.PollFetches(ctx).NumRecords()
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("the group at west received %d of 10 records", got)
		}
	}
	if err := group.CommitUncommittedOffsets(context.Background()); err != nil {
		t.Fatal(err)
	}
	group.Close()
	adm := kadm.NewClient(kafkatest.Client(t, m["west"]))
	if _, err := adm.DeleteGroups(context.Background(), "orders-team"); err != nil {
		t.Fatal(err)
	}
	// Once the lease expired, the flow stops: a new record stays at east.
	for r.copying("shop.order.created") {
		if time.Now().After(deadline) {
			t.Fatal("the flow did not stop after the group was deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	produce(t, m["east"], "shop.order.created", 10, 1)
	if n := len(readAll(t, m["west"], "shop.order.created", 10)); n != 10 {
		t.Fatalf("west holds %d records after interest ended, want 10", n)
	}
}

func TestChainCarriesInterestOfTheFarSite(t *testing.T) {
	m := mesh{"east": newCluster(t, "plant.line.stopped"), "west": newCluster(t), "north": newCluster(t)}
	links := []string{"east-west", "west-north"}
	for _, site := range []string{"east", "west", "north"} {
		cfg := m.config(site, links...)
		if site == "north" {
			cfg.Interest.Declared = []Declared{{Topic: "plant.line.stopped"}}
		}
		startReplicator(t, cfg)
	}
	produce(t, m["east"], "plant.line.stopped", 0, 30)
	recs := readAll(t, m["north"], "plant.line.stopped", 30)
	checkOnce(t, recs, 30)
	for _, r := range recs {
		if p, _ := header(r, "mesh_path"); p != "east,west,north" {
			t.Fatalf("mesh_path %q", p)
		}
	}
}

func TestSchemasComeFromThePrimaryOnly(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t), "north": newCluster(t)}
	for _, site := range []string{"east", "north"} {
		adm := kadm.NewClient(kafkatest.Client(t, m[site]))
		if _, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, SchemasTopic); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, m["east"], SchemasTopic, 0, 5)
	produce(t, m["north"], SchemasTopic, 100, 3) // a stray registry log: must not spread
	cfg := m.config("west")
	cfg.SchemasPrimary = "east"
	startReplicator(t, cfg)
	recs := readAll(t, m["west"], SchemasTopic, 5)
	checkOnce(t, recs, 5)
	for _, r := range recs {
		if o, _ := header(r, "mesh_origin"); o != "east" {
			t.Fatalf("a _schemas record from %q reached west", o)
		}
	}
	// Created at west like its source: compacted.
	if p := topicConfigs(t, kadm.NewClient(kafkatest.Client(t, m["west"])), SchemasTopic)["cleanup.policy"]; p != "compact" {
		t.Fatalf("west's %s has cleanup.policy %q", SchemasTopic, p)
	}
}

func TestInterestReturningResumesByItsPolicy(t *testing.T) {
	for _, c := range []struct {
		resume   interest.Resume
		pauseToo bool // the records written during the pause arrive
	}{
		{interest.ResumeCheckpoint, true},
		{interest.ResumeLatest, false},
	} {
		t.Run(c.resume.String(), func(t *testing.T) {
			m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t)}
			rep, _ := startReplicator(t, m.config("west"))
			pub, err := interest.NewPublisher(kafkatest.Client(t, m["west"]), "west", interest.TTL(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pub.Close(context.Background()) }) // stops its renewals
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			defer cancel()
			lease := interest.Lease{Topic: "shop.order.created", Kind: interest.KindDeclared, SourceID: "test", Resume: c.resume}
			west := kafkatest.Client(t, m["west"], kgo.ConsumeTopics("shop.order.created"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
			got := map[int]bool{}
			// produceUntilCopied writes numbered records from first on, one
			// at a time, until one arrives at west (a flow that starts at
			// the latest offset copies only what comes after its start).
			produceUntilCopied := func(first int) {
				for i := first; ; i++ {
					if ctx.Err() != nil {
						t.Fatalf("nothing from n=%d on reached west", first)
					}
					produce(t, m["east"], "shop.order.created", i, 1)
					pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
					west.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
						var n int
						fmt.Sscanf(string(r.Value), "n=%d", &n)
						got[n] = true
					})
					pcancel()
					for n := range got {
						if n >= first {
							return
						}
					}
				}
			}
			if err := pub.Set(ctx, []interest.Lease{lease}); err != nil {
				t.Fatal(err)
			}
			produceUntilCopied(0)
			// The interest ends (tombstone), records are written meanwhile
			// (n=1000..1004), and it returns with its policy.
			if err := pub.Set(ctx, nil); err != nil {
				t.Fatal(err)
			}
			for rep.copying("shop.order.created") {
				if ctx.Err() != nil {
					t.Fatal("the flow did not stop when the interest ended")
				}
				time.Sleep(20 * time.Millisecond)
			}
			produce(t, m["east"], "shop.order.created", 1000, 5)
			if err := pub.Set(ctx, []interest.Lease{lease}); err != nil {
				t.Fatal(err)
			}
			produceUntilCopied(2000)
			for _, rec := range readAll(t, m["west"], "shop.order.created", 1) {
				var n int
				fmt.Sscanf(string(rec.Value), "n=%d", &n)
				got[n] = true
			}
			pause := 0
			for n := 1000; n < 1005; n++ {
				if got[n] {
					pause++
				}
			}
			if c.pauseToo && pause != 5 || !c.pauseToo && pause != 0 {
				t.Fatalf("%d of the 5 records written during the pause reached west", pause)
			}
		})
	}
}

// A paced stream in exactly-once mode: every record once, several to a
// transaction (transaction_interval gathers them), and no fetch errors (a
// poll whose deadline ends the interval reports nothing).
func TestExactlyOnceSteadyStreamGathersTransactionsWithoutFetchErrors(t *testing.T) {
	m := mesh{"east": newCluster(t, "shop.order.created"), "west": newCluster(t)}
	cfg := m.config("west")
	cfg.Interest.Declared = []Declared{{Topic: "shop.order.created"}}
	cfg.Flow.TransactionInterval = 20 * time.Millisecond
	reg := prometheus.NewRegistry()
	startReplicatorWith(t, cfg, reg)
	cl := kafkatest.Client(t, m["east"], kgo.DefaultProduceTopic("shop.order.created"), kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	const n = 300
	began := time.Now()
	for i := range n {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("n=%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // pacing a stream, not waiting for a condition
	}
	checkOnce(t, readAll(t, m["west"], "shop.order.created", n), n)
	took := time.Since(began)
	sum := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					total += m.GetCounter().GetValue()
				}
			}
		}
		return total
	}
	if e := sum("meshwork_replicator_fetch_errors_total"); e != 0 {
		t.Errorf("%v fetch errors reported for a healthy source", e)
	}
	// The interval allows one transaction per flow every 20 ms while the
	// stream lasts (at least n ms, longer on a loaded machine), whatever
	// the number of records; the mesh's own topics' flows add a few.
	allowed := float64(took/cfg.Flow.TransactionInterval) + 10
	if txns := sum("meshwork_replicator_transactions_total"); txns == 0 || txns > allowed || txns >= n {
		t.Errorf("%v transactions for %d records in %s (at most %v)", txns, n, took, allowed)
	}
}

func TestTransactionalIDsKeepTheFirstAndDiffer(t *testing.T) {
	ids := transactionalIDs("west", flowKey{Source: "east", Slot: 3})
	if len(ids) != txnProducers {
		t.Fatalf("%d ids, want %d", len(ids), txnProducers)
	}
	// The first is the id of a flow with a single producer, so a replica
	// of an earlier version that still holds the slot is fenced too.
	if ids[0] != "meshwork-replicator.west.from.east.3" {
		t.Fatalf("first id %q", ids[0])
	}
	seen := map[string]bool{}
	for _, id := range append(ids, transactionalIDs("west", flowKey{Source: "east", Slot: 4})...) {
		if seen[id] || !strings.HasPrefix(id, "meshwork-replicator.") {
			t.Fatalf("id %q repeated or outside the replicator's prefix", id)
		}
		seen[id] = true
	}
}

// Interest in one topic comes and goes while another topic of the same
// flow is copied steadily: the flow takes the changes without stopping (the
// same flow runs throughout, never restarted), the steady topic arrives
// once and in order, and so does every record of the other topic across its
// pauses.
func TestPlanChangesNeverStopTheFlow(t *testing.T) {
	for _, mode := range []string{ExactlyOnce, AtLeastOnce} {
		t.Run(mode, func(t *testing.T) { testPlanChangesNeverStopTheFlow(t, mode) })
	}
}

func testPlanChangesNeverStopTheFlow(t *testing.T, mode string) {
	const steady, churn = "plant.sensor.temperature", "shop.order.created"
	m := mesh{"east": newCluster(t, steady, churn), "west": newCluster(t)}
	cfg := m.config("west")
	cfg.Mode = mode
	cfg.Flow.Slots = 1 // one flow from east: every unit shares it
	cfg.Interest.Declared = []Declared{{Topic: steady}}
	reg := prometheus.NewRegistry()
	rep, _ := startReplicatorWith(t, cfg, reg)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	flowOf := func() *running {
		rep.mu.Lock()
		defer rep.mu.Unlock()
		return rep.flows[flowKey{Source: "east", Slot: 0}]
	}
	for !rep.copying(steady) {
		if ctx.Err() != nil {
			t.Fatal("the steady topic is not copied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first := flowOf()

	// The steady stream: n records, one every 2 ms, while the interest in
	// churn changes.
	const n = 1000
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		cl := kafkatest.Client(t, m["east"], kgo.DefaultProduceTopic(steady), kgo.ProducerLinger(0))
		for i := range n {
			cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("n=%d", i))}, nil)
			time.Sleep(2 * time.Millisecond) // pacing a stream, not waiting for a condition
		}
		if err := cl.Flush(ctx); err != nil {
			t.Error(err)
		}
	}()
	pub, err := interest.NewPublisher(kafkatest.Client(t, m["west"]), "west", interest.TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	lease := interest.Lease{Topic: churn, Kind: interest.KindDeclared, SourceID: "test"}
	const rounds = 5
	for round := range rounds {
		produce(t, m["east"], churn, round*10, 10)
		if err := pub.Set(ctx, []interest.Lease{lease}); err != nil {
			t.Fatal(err)
		}
		for !rep.copying(churn) {
			if ctx.Err() != nil {
				t.Fatalf("round %d: %s is not copied", round, churn)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := pub.Set(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for rep.copying(churn) {
			if ctx.Err() != nil {
				t.Fatalf("round %d: %s is still copied", round, churn)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	<-streamed
	// The last round's records are copied when the interest returns.
	if err := pub.Set(ctx, []interest.Lease{lease}); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, readAll(t, m["west"], steady, n), n)
	checkOnce(t, readAll(t, m["west"], churn, rounds*10), rounds*10)
	if f := flowOf(); f != first {
		t.Fatal("the flow was stopped and started again for a change of interest")
	}
	if r := gathered(t, reg, "meshwork_replicator_flow_restarts_total"); r != 0 {
		t.Fatalf("%v flow restarts", r)
	}
	if added := gathered(t, reg, "meshwork_replicator_flow_units_changed_total"); added < 2*rounds*3 {
		t.Fatalf("%v units added and removed, want at least %d", added, 2*rounds*3)
	}
	// The steady stream's records waited on one another's commits: its
	// copy gaps were observed.
	if gaps := gathered(t, reg, "meshwork_replicator_copy_gap_seconds"); gaps == 0 {
		t.Fatal("no copy gap observed for a steadily fed partition")
	}
}
