package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// replicatorConfig is the YAML of the replicator of site on the two
// end-to-end clusters, with short lease and discovery intervals, declaring
// interest in the topics named.
func replicatorConfig(site string, port int, east, west, mode string, declared ...string) string {
	var decl strings.Builder
	for _, d := range declared {
		fmt.Fprintf(&decl, "    - topic: %s\n", d)
	}
	local := map[string]string{"east": east, "west": west}[site]
	return fmt.Sprintf(`site: %s
listen: 127.0.0.1:%d
kafka: {brokers: [%q]}
sites:
  - name: east
    kafka: {brokers: [%q]}
  - name: west
    kafka: {brokers: [%q]}
mode: %s
interest:
  declared:
%s  discover: true
  discovery_interval: 1s
  lease_ttl: 6s
flow:
  fetch_max_wait: 50ms
  plan_interval: 1s
  checkpoint_interval: 1s
log: {level: debug}
`, site, port, local, east, west, mode, decl.String())
}

// saramaGroup runs a sarama consumer group on topic at broker until ctx
// ends, sending what it receives on the returned channel.
func saramaGroup(ctx context.Context, t *testing.T, broker, group, topic string) <-chan *sarama.ConsumerMessage {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cg, err := sarama.NewConsumerGroup([]string{broker}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *sarama.ConsumerMessage, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := groupHandler{out: out}
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				select {
				case <-time.After(200 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}
	}()
	t.Cleanup(func() { <-done; cg.Close() })
	return out
}

type groupHandler struct {
	out chan<- *sarama.ConsumerMessage
}

func (groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.out <- m
		s.MarkMessage(m, "")
	}
	return nil
}

// TestIntegrationReplicatorFollowsInterest runs a replicator per site as
// processes on two real Kafka clusters. A sarama consumer group at west on a
// topic that exists only at east makes the records produced at east arrive
// at west, with their headers and in order per key; once the group is
// deleted and its lease expired, nothing more is copied; a topic nobody at
// west reads is there (an empty copy, from the topic catalog) and holds no
// records.
func TestIntegrationReplicatorFollowsInterest(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := uniq("rep")
	topic, unread := "shop.order.created."+suffix, "nobody.reads."+suffix
	createTopics(t, east, 4, topic, unread)

	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	ports := freePorts(t, 2)
	startService(t, bin, "replicator-east", replicatorConfig("east", ports[0], east, west, "exactly_once"), ports[0])
	startService(t, bin, "replicator-west", replicatorConfig("west", ports[1], east, west, "exactly_once"), ports[1])

	gctx, stopGroup := context.WithCancel(ctx)
	group := "it-orders-" + suffix
	got := saramaGroup(gctx, t, west, group, topic)

	prod, err := kgo.NewClient(kgo.SeedBrokers(east), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 200
	for i := range n {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("order-%d", i%7)), Value: []byte(fmt.Sprintf("n=%d", i)),
			Headers: []kgo.RecordHeader{{Key: "ce_id", Value: []byte(fmt.Sprintf("id-%d", i))}}}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	last := map[string]int{}
	deadline := time.After(2 * time.Minute)
	for len(seen) < n {
		select {
		case m := <-got:
			v := string(m.Value)
			var i int
			fmt.Sscanf(v, "n=%d", &i)
			if prev, ok := last[string(m.Key)]; ok && i <= prev {
				t.Fatalf("key %s: n=%d after n=%d", m.Key, i, prev)
			}
			last[string(m.Key)] = i
			hs := map[string]string{}
			for _, h := range m.Headers {
				hs[string(h.Key)] = string(h.Value)
			}
			if hs["ce_id"] != fmt.Sprintf("id-%d", i) || hs["mesh_origin"] != "east" || hs["mesh_path"] != "east,west" {
				t.Fatalf("record %s arrived with headers %v", v, hs)
			}
			seen[v] = true
		case <-deadline:
			t.Fatalf("%d of %d records reached the sarama group at west", len(seen), n)
		}
	}

	// The group goes away: after its lease expires, copying stops.
	stopGroup()
	adm := kadm.NewClient(mustClient(t, west))
	waitFor(t, 30*time.Second, "group deleted", func() error {
		res, err := adm.DeleteGroups(ctx, group)
		if err != nil {
			return err
		}
		if r := res[group]; r.Err != nil && !strings.Contains(r.Err.Error(), "GROUP_ID_NOT_FOUND") {
			return r.Err
		}
		return nil
	})
	westCount := func() int64 { n, _ := endOffsets(ctx, adm, topic); return n }
	waitFor(t, 60*time.Second, "copying to stop after the lease expired", func() error {
		before := westCount()
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("probe"), Value: []byte("after")}).FirstErr(); err != nil {
			return err
		}
		// A flow still running copies the probe within a few seconds.
		probe := time.Now().Add(5 * time.Second)
		for time.Now().Before(probe) {
			if westCount() > before {
				return errors.New("records still copied")
			}
			time.Sleep(250 * time.Millisecond)
		}
		return nil
	})
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: unread, Value: []byte("unread")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, unread+" at west", func() error {
		_, err := endOffsets(ctx, adm, unread)
		return err
	})
	if n, err := endOffsets(ctx, adm, unread); err != nil || n != 0 {
		t.Fatalf("%s holds %d records at west (%v), though nothing there reads it", unread, n, err)
	}
}

func mustClient(t *testing.T, broker string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestIntegrationReplicatorKill9ExactlyOnce kills the west replicator with
// SIGKILL again and again while numbered records flow from east, and then
// finds each record exactly once at west (read_committed), in order per key.
func TestIntegrationReplicatorKill9ExactlyOnce(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := uniq("eos")
	topic := "plant.sensor.temperature." + suffix
	createTopics(t, east, 4, topic)
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	port := freePorts(t, 1)[0]
	cfg := replicatorConfig("west", port, east, west, "exactly_once", topic)

	const n = 6000
	var wg sync.WaitGroup
	produced := make(chan error, 1)
	streaming := make(chan struct{})
	wg.Go(func() {
		defer close(streaming)
		prod, err := kgo.NewClient(kgo.SeedBrokers(east), kgo.DefaultProduceTopic(topic))
		if err != nil {
			produced <- err
			return
		}
		defer prod.Close()
		for i := range n {
			r := &kgo.Record{Key: []byte(fmt.Sprintf("s%d", i%11)), Value: []byte(fmt.Sprintf("n=%d", i))}
			prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case produced <- err:
					default:
					}
				}
			})
			if i%50 == 0 {
				// Paced (about 1000 records/s), so the stream outlasts the kills.
				time.Sleep(50 * time.Millisecond)
				if err := prod.Flush(ctx); err != nil {
					produced <- err
					return
				}
			}
		}
		produced <- prod.Flush(ctx)
	})
	westAdm := kadm.NewClient(mustClient(t, west))
	westEnd := func() int64 { n, _ := endOffsets(ctx, westAdm, topic); return n }
	kills := 0
kill:
	for kills < 4 {
		select {
		case <-streaming:
			break kill // the stream is over: what is left is the final run's
		default:
		}
		before := westEnd()
		p := startService(t, bin, fmt.Sprintf("replicator-west-%d", kills), cfg, port)
		// Let it make progress, then kill it mid-stream.
		waitFor(t, 60*time.Second, "the replicator to copy more", func() error {
			if westEnd() <= before {
				return errors.New("no progress yet")
			}
			return nil
		})
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		kills++
	}
	wg.Wait()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if kills < 2 {
		t.Fatalf("only %d kills happened while records flowed", kills)
	}
	startService(t, bin, "replicator-west-final", cfg, port)

	cons := mustClient(t, west, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	last := map[string]int{}
	total := 0
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d records at west", n), func() error {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			total++
			var i int
			fmt.Sscanf(v, "n=%d", &i)
			if prev, ok := last[string(r.Key)]; ok && i <= prev {
				t.Errorf("key %s: n=%d after n=%d", r.Key, i, prev)
			}
			last[string(r.Key)] = i
		})
		if len(seen) < n {
			return fmt.Errorf("%d of %d", len(seen), n)
		}
		return nil
	})
	if total != n {
		t.Fatalf("after %d kills: %d records for %d distinct: duplicates in exactly-once mode", kills, total, n)
	}
	t.Logf("after %d SIGKILLs of the replicator: %d of %d records at west, each once", kills, len(seen), n)
}

// TestIntegrationReplicatorSourceOutage stops the source cluster (east)
// while the west replicator copies a backlog from it, and after east returns
// finds every record at west exactly once: the flow waits, retries and
// drains the rest.
func TestIntegrationReplicatorSourceOutage(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	down, up := deployScript(t, "down.sh"), deployScript(t, "up.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suffix := uniq("outage")
	topic := "shop.payment.settled." + suffix
	createTopics(t, east, 4, topic)
	const n = 20000
	prod := mustClient(t, east, kgo.DefaultProduceTopic(topic))
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("p%d", i%13)), Value: []byte(fmt.Sprintf("n=%d", i))}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	port := freePorts(t, 1)[0]
	// A bandwidth limit (about 40 kB/s: some 6 s for the backlog) keeps
	// the copy under way while east goes down.
	cfg := strings.Replace(replicatorConfig("west", port, east, west, "exactly_once", topic), "flow:\n",
		"flow:\n  max_batch_bytes: 16384\n  bandwidth_limit: 40000\n", 1)
	rep := startService(t, bin, "replicator-west", cfg, port)
	copied := func() float64 { return scrape(t, rep.url+"/metrics")["meshwork_replicator_records_copied_total"] }
	waitFor(t, 60*time.Second, "the copy to begin", func() error {
		if copied() == 0 {
			return errors.New("nothing yet")
		}
		return nil
	})
	run(ctx, t, nil, down, "kafka-east")
	restarted := false
	defer func() {
		if !restarted {
			run(context.Background(), t, nil, up, "kafka-east")
		}
	}()
	during := copied()
	if during >= n {
		t.Fatalf("the copy finished (%v records) before east stopped; slow it down further", during)
	}
	// East stays down until the replicator has noticed.
	waitFor(t, 60*time.Second, "the replicator to notice east is gone", func() error {
		if scrape(t, rep.url+"/metrics")["meshwork_replicator_site_up"] != 0 {
			return errors.New("east still counts as up")
		}
		return nil
	})
	run(ctx, t, nil, up, "kafka-east")
	restarted = true

	cons := mustClient(t, west, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	total := 0
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d records at west after east returned", n), func() error {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; total++ })
		if len(seen) < n {
			return fmt.Errorf("%d of %d", len(seen), n)
		}
		return nil
	})
	if total != n {
		t.Fatalf("%d records for %d distinct after the outage", total, n)
	}
	t.Logf("east stopped with %v of %d records copied; after it returned: %d of %d at west, each once", during, n, len(seen), n)
}

// TestIntegrationReplicatorChain runs three real clusters linked in a chain
// east - west - north (north reads only from west, east only from west).
// Every site declares interest in one topic; records produced at east and at
// north reach every site exactly once, the ends' records by way of west
// (mesh_path east,west,north and north,west,east), and none returns to where
// it came from.
func TestIntegrationReplicatorChain(t *testing.T) {
	sites := map[string]string{"east": env(t, "MESH_E2E_KAFKA_EAST"), "west": env(t, "MESH_E2E_KAFKA_WEST"), "north": env(t, "MESH_E2E_KAFKA_NORTH")}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := uniq("chain")
	topic := "plant.line.stopped." + suffix
	createTopics(t, sites["east"], 2, topic)
	createTopics(t, sites["north"], 2, topic)
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	ports := freePorts(t, 3)
	for i, site := range []string{"east", "west", "north"} {
		cfg := fmt.Sprintf(`site: %s
listen: 127.0.0.1:%d
kafka: {brokers: [%q]}
sites:
  - {name: east, kafka: {brokers: [%q]}}
  - {name: west, kafka: {brokers: [%q]}}
  - {name: north, kafka: {brokers: [%q]}}
links: [east-west, west-north]
interest:
  discover: false
  lease_ttl: 6s
  declared: [{topic: %s}]
flow: {fetch_max_wait: 50ms, plan_interval: 1s, checkpoint_interval: 1s}
`, site, ports[i], sites[site], sites["east"], sites["west"], sites["north"], topic)
		startService(t, bin, "replicator-"+site, cfg, ports[i])
	}
	const n = 300
	for _, from := range []string{"east", "north"} {
		prod := mustClient(t, sites[from], kgo.DefaultProduceTopic(topic))
		for i := range n {
			prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("line-%d", i%3)), Value: []byte(fmt.Sprintf("%s-%d", from, i))}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantPath := map[string]map[string]string{ // at site, records from origin come by
		"east":  {"north": "north,west,east"},
		"west":  {"east": "east,west", "north": "north,west"},
		"north": {"east": "east,west,north"},
	}
	for site, broker := range sites {
		cons := mustClient(t, broker, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := map[string]int{}
		total := 0
		waitFor(t, 2*time.Minute, fmt.Sprintf("%d records at %s", 2*n, site), func() error {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			defer pcancel()
			cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				seen[v]++
				total++
				origin, _, _ := strings.Cut(v, "-")
				path := ""
				for _, h := range r.Headers {
					if h.Key == "mesh_path" {
						path = string(h.Value)
					}
				}
				if want := wantPath[site][origin]; origin != site && path != want {
					t.Errorf("at %s, %s came by %q, want %q", site, v, path, want)
				}
			})
			if len(seen) < 2*n {
				return fmt.Errorf("%d of %d", len(seen), 2*n)
			}
			return nil
		})
		if total != 2*n {
			t.Fatalf("%s holds %d records for %d distinct: a record arrived twice or came back", site, total, 2*n)
		}
	}
}
