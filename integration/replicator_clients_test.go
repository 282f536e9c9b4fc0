package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupClient starts a consumer group of one Kafka client at broker,
// reading topic from its earliest offsets with the client's defaults
// otherwise, and sends each record's value on the returned channel until ctx
// ends.
type groupClient struct {
	name  string
	start func(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string
	// waitsForTopic: a group started before its topic existed never joins
	// once it does. kcat 1.7 bundles librdkafka 2.0, which never looks
	// for such a topic again (whatever topic.metadata.refresh.interval.ms
	// says), with or without a mesh; later librdkafka (confluent-kafka
	// here) finds it at once.
	waitsForTopic bool
}

// everyClient is every client a data team may use: franz-go, sarama,
// librdkafka (kcat, and confluent-kafka for Python with a recent
// librdkafka) and the Java consumer with both group protocols.
func everyClient(t *testing.T) []groupClient {
	kcat, kafkaClass, python := env(t, "MESH_E2E_KCAT"), env(t, "MESH_E2E_KAFKA_CLASS"), env(t, "MESH_E2E_PYTHON")
	java := func(protocol string) func(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string {
		return func(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string {
			return processLines(ctx, t, kafkaClass, "org.apache.kafka.tools.consumer.ConsoleConsumer",
				"--bootstrap-server", broker, "--topic", topic, "--group", group, "--from-beginning",
				"--consumer-property", "group.protocol="+protocol,
				"--consumer-property", "isolation.level=read_committed")
		}
	}
	return []groupClient{
		{name: "franz-go", start: franzGroup},
		{name: "sarama", start: saramaDefaultGroup},
		{name: "kcat", start: func(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string {
			return processLines(ctx, t, kcat, "-u", "-b", broker, "-G", group, "-X", "auto.offset.reset=earliest",
				"-X", "isolation.level=read_committed", "-q", "-f", "%s\n", topic)
		}, waitsForTopic: true},
		{name: "confluent-kafka", start: func(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string {
			return processLines(ctx, t, python, witnessPath("kafka_group.py"), broker, group, topic)
		}},
		{name: "java-classic", start: java("classic")},
		{name: "java-consumer", start: java("consumer")},
	}
}

// franzGroup is a franz-go group consumer with the library's defaults (it
// never asks the broker to create a topic).
func franzGroup(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string {
	cl := mustClient(t, broker, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	out := make(chan string, 1024)
	go func() {
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				select {
				case out <- string(r.Value):
				case <-ctx.Done():
				}
			})
		}
	}()
	return out
}

// saramaDefaultGroup is a sarama consumer group with the library's defaults
// but for reading from the oldest offset: sarama's Consume fails while the
// topic is unknown, and is called again, as applications do.
func saramaDefaultGroup(ctx context.Context, t *testing.T, broker, group, topic string) <-chan string {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cg, err := sarama.NewConsumerGroup([]string{broker}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *sarama.ConsumerMessage, 1024)
	out := make(chan string, 1024)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, groupHandler{out: msgs}); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case m := <-msgs:
				select {
				case out <- string(m.Value):
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { wg.Wait(); cg.Close() })
	return out
}

// processLines runs a consumer process until ctx ends or the test does,
// sending each line it prints.
func processLines(ctx context.Context, t *testing.T, name string, args ...string) <-chan string {
	w := startWitness(ctx, t, nil, name, args...)
	out := make(chan string, 1024)
	go func() {
		for l := range w.lines {
			select {
			case out <- l:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, tail(w.stderr.String(), 4000))
		}
	})
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// produceSpread writes n records to topic, spread over its partitions by
// number, and returns their values.
func produceSpread(ctx context.Context, t *testing.T, broker, topic string, partitions int32, n int) map[string]bool {
	t.Helper()
	prod := mustClient(t, broker, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[string]bool{}
	for i := range n {
		v := fmt.Sprintf("%s-%d", topic, i)
		want[v] = true
		prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", v, err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return want
}

// receiveAll waits until every wanted value came from got, until deadline.
func receiveAll(t *testing.T, got <-chan string, want map[string]bool, deadline time.Time) error {
	t.Helper()
	seen := map[string]bool{}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for len(seen) < len(want) {
		select {
		case v := <-got:
			if !want[v] {
				return fmt.Errorf("received %q, which nobody produced", v)
			}
			seen[v] = true
		case <-timer.C:
			return fmt.Errorf("%d of %d records", len(seen), len(want))
		}
	}
	return nil
}

// partitionsAt is the partition count of topic at cl's cluster, or an
// error if the cluster does not know it. It asks the cluster each time:
// kadm's requests answer from a cache that keeps a topic it found missing
// for the client's metadata minimum age (5 s).
func partitionsAt(ctx context.Context, cl *kgo.Client, topic string) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	mr, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	if len(mr.Topics) != 1 {
		return 0, fmt.Errorf("%d topics in the answer", len(mr.Topics))
	}
	if err := kerr.ErrorForCode(mr.Topics[0].ErrorCode); err != nil {
		return 0, fmt.Errorf("%s: %w", topic, err)
	}
	return len(mr.Topics[0].Partitions), nil
}

// copied describes how many records each partition of topic holds at
// adm's cluster, for failure messages.
func copied(ctx context.Context, adm *kadm.Client, topic string) string {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err.Error()
	}
	var parts []string
	ends.Each(func(o kadm.ListedOffset) { parts = append(parts, fmt.Sprintf("%d:%d", o.Partition, o.Offset)) })
	slices.Sort(parts)
	return "end offsets at west " + strings.Join(parts, " ")
}

// replicatorDefaultsConfig is the YAML of the replicator of site on the two
// end-to-end clusters with the defaults of every interval: discovery,
// catalog and planning.
func replicatorDefaultsConfig(site string, port int, east, west string) string {
	local := map[string]string{"east": east, "west": west}[site]
	return fmt.Sprintf(`site: %s
listen: 127.0.0.1:%d
kafka: {brokers: [%q]}
sites:
  - name: east
    kafka: {brokers: [%q]}
  - name: west
    kafka: {brokers: [%q]}
`, site, port, local, east, west)
}

// TestIntegrationReplicatorEveryClientsGroup: on brokers that never create
// a topic on their own, a topic created and written at east appears at west
// as an empty copy with the origin's partitions within seconds (the topic
// catalog); a consumer group of any client then started at west receives
// every record from every partition within 15 s of its start, with the
// replicators' default settings and nothing declared; so does a group that
// started before the topic existed anywhere, within 15 s of the topic's
// creation at east. A topic nobody at west reads holds no records there.
func TestIntegrationReplicatorEveryClientsGroup(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	clients := everyClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	westCl := mustClient(t, west)
	eastAdm, westAdm := kadm.NewClient(mustClient(t, east)), kadm.NewClient(westCl)
	requireNoAutoCreation(ctx, t, westAdm)

	suffix := uniq("any")
	const partitions, n = 3, 30
	unread := "nobody.reads." + suffix
	var topics []string
	for _, c := range clients {
		topics = append(topics, "existing."+c.name+"."+suffix, "later."+c.name+"."+suffix)
	}
	createTopics(t, east, partitions, unread)
	t.Cleanup(func() { // the copies made at west, once the replicators stopped
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		deleteTopics(cctx, t, westAdm, append(topics, unread)...)
		deleteTopics(cctx, t, eastAdm, topics...)
	})

	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	ports := freePorts(t, 2)
	startService(t, bin, "replicator-east", replicatorDefaultsConfig("east", ports[0], east, west), ports[0])
	westRep := startService(t, bin, "replicator-west", replicatorDefaultsConfig("west", ports[1], east, west), ports[1])
	explain := func(topic string) string {
		log, _ := os.ReadFile(westRep.log)
		var lines []string
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, topic) {
				lines = append(lines, l)
			}
		}
		return copied(ctx, westAdm, topic) + "; west's replicator on it:\n" + strings.Join(lines, "\n")
	}
	produceSpread(ctx, t, east, unread, partitions, n)

	for _, c := range clients {
		t.Run(c.name+"/topic-exists-at-east", func(t *testing.T) {
			topic := "existing." + c.name + "." + suffix
			if err := createTopicsNow(ctx, eastAdm, partitions, topic); err != nil {
				t.Fatal(err)
			}
			want := produceSpread(ctx, t, east, topic, partitions, n)
			created := time.Now()
			waitFor(t, 10*time.Second, "the copy at west", func() error {
				_, err := partitionsAt(ctx, westCl, topic)
				return err
			})
			t.Logf("an empty copy at west %s after the topic was created at east", time.Since(created).Round(time.Millisecond))
			gctx, stop := context.WithCancel(ctx)
			defer stop()
			start := time.Now()
			got := c.start(gctx, t, west, "it-"+c.name+"-existing-"+suffix, topic)
			if err := receiveAll(t, got, want, start.Add(15*time.Second)); err != nil {
				t.Fatalf("%s group at west, 15 s after its start: %v (%s)", c.name, err, explain(topic))
			}
			t.Logf("%d records from %d partitions in %s", n, partitions, time.Since(start).Round(time.Millisecond))
			if p, err := partitionsAt(ctx, westCl, topic); err != nil || p != partitions {
				t.Fatalf("%s at west has %d partitions (%v), want the origin's %d", topic, p, err, partitions)
			}
		})
		if c.waitsForTopic {
			continue
		}
		t.Run(c.name+"/group-before-topic", func(t *testing.T) {
			topic := "later." + c.name + "." + suffix
			gctx, stop := context.WithCancel(ctx)
			defer stop()
			got := c.start(gctx, t, west, "it-"+c.name+"-later-"+suffix, topic)
			// The group has been running a while when the topic appears.
			time.Sleep(3 * time.Second)
			start := time.Now()
			if err := createTopicsNow(ctx, eastAdm, partitions, topic); err != nil {
				t.Fatal(err)
			}
			want := produceSpread(ctx, t, east, topic, partitions, n)
			if err := receiveAll(t, got, want, start.Add(15*time.Second)); err != nil {
				t.Fatalf("%s group at west, 15 s after the topic was created at east: %v (%s)", c.name, err, explain(topic))
			}
			t.Logf("%d records from %d partitions %s after the topic was created", n, partitions, time.Since(start).Round(time.Millisecond))
		})
	}

	// Nothing reads unread at west: it is there, empty, with the origin's
	// partitions, and stays empty.
	waitFor(t, 15*time.Second, unread+" at west", func() error {
		p, err := partitionsAt(ctx, westCl, unread)
		if err == nil && p != partitions {
			err = fmt.Errorf("%d partitions, want %d", p, partitions)
		}
		return err
	})
	if end, err := endOffsets(ctx, westAdm, unread); err != nil || end != 0 {
		t.Fatalf("%s at west holds %d records (%v); nobody reads it there", unread, end, err)
	}
}

// createTopicsNow creates topics at the cluster of adm; they are deleted by
// the caller's cleanup.
func createTopicsNow(ctx context.Context, adm *kadm.Client, partitions int32, topics ...string) error {
	res, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
	if err == nil {
		err = res.Error()
	}
	return err
}

// requireNoAutoCreation fails the test unless the cluster of adm refuses to
// create topics for clients that ask, as the proofs of the topic catalog
// need: there, only the mesh can decide a topic's partitions.
func requireNoAutoCreation(ctx context.Context, t *testing.T, adm *kadm.Client) {
	t.Helper()
	rc, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rc {
		for _, c := range r.Configs {
			if c.Key == "auto.create.topics.enable" && c.MaybeValue() != "false" {
				t.Fatalf("broker %s has auto.create.topics.enable=%s; the end-to-end clusters must not create topics on their own", r.Name, c.MaybeValue())
			}
		}
	}
}
