package replicator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/catalog"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// catalogConfig is a replicator of site that scans and plans often.
func catalogConfig(m mesh, site string) Config {
	cfg := m.config(site)
	cfg.Catalog.ScanInterval = 100 * time.Millisecond
	return cfg
}

func createTopic(t *testing.T, c *kfake.Cluster, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	if _, err := kadm.NewClient(kafkatest.Client(t, c)).CreateTopic(context.Background(), partitions, 1, configs, topic); err != nil {
		t.Fatal(err)
	}
}

// partitionsAt returns topic's partition count at c, 0 when it is missing.
func partitionsAt(t *testing.T, c *kfake.Cluster, topic string) int {
	t.Helper()
	td, err := kadm.NewClient(kafkatest.Client(t, c)).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := td[topic]; ok && d.Err == nil {
		return len(d.Partitions)
	}
	return 0
}

func endOffsets(t *testing.T, c *kfake.Cluster, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(kafkatest.Client(t, c)).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// A topic created at east appears at west at once, empty, with east's
// partitions and configs; it costs nothing until something at west reads
// it, and then its records flow.
func TestCatalogMakesEmptyCopiesWithTheOriginsShape(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	createTopic(t, m["east"], "shop.order.created", 3, map[string]*string{"retention.ms": kadm.StringPtr("3600000")})
	produce(t, m["east"], "shop.order.created", 0, 20)
	west := catalogConfig(m, "west")
	west.Interest.Discover = true
	west.Interest.DiscoveryInterval = 200 * time.Millisecond
	startReplicator(t, west)
	startReplicator(t, catalogConfig(m, "east"))

	kafkatest.Wait(t, testWait, func() error {
		if n := partitionsAt(t, m["west"], "shop.order.created"); n != 3 {
			return fmt.Errorf("%d partitions at west", n)
		}
		return nil
	})
	set, err := kafkaclient.TopicConfigs(context.Background(), kadm.NewClient(kafkatest.Client(t, m["west"])), "shop.order.created")
	if err != nil || set["retention.ms"] != "3600000" {
		t.Fatalf("the copy's configs %v %v", set, err)
	}
	if n := endOffsets(t, m["west"], "shop.order.created"); n != 0 {
		t.Fatalf("the copy holds %d records without interest", n)
	}
	// The catalog at west says who holds what, in what role.
	kafkatest.Wait(t, testWait, func() error {
		tb, err := catalog.Read(kafkatest.Context(t, testWait), []kgo.Opt{kgo.SeedBrokers(m["west"].ListenAddrs()...)})
		if err != nil {
			return err
		}
		o, ok1 := tb.Entry("east", "shop.order.created")
		c, ok2 := tb.Entry("west", "shop.order.created")
		if !ok1 || !ok2 || o.Role != catalog.RoleOrigin || c.Role != catalog.RoleCopy || o.Partitions != 3 || c.Partitions != 3 {
			return fmt.Errorf("entries %+v %+v", o, c)
		}
		return nil
	})
	// A consumer group at west, which never asked for the topic to be
	// created, joins at once: its interest brings east's records.
	group := kafkatest.Client(t, m["west"], kgo.ConsumerGroup("west-orders"), kgo.ConsumeTopics("shop.order.created"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx := kafkatest.Context(t, testWait)
	var got []*kgo.Record
	for len(got) < 20 {
		fs := group.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the group at west received %d of 20 records", len(got))
		}
		got = append(got, fs.Records()...)
		if err := group.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			t.Logf("commit: %v", err)
		}
	}
	checkOnce(t, got, 20)
}

// A topic deleted at its origin is not brought back there from a copy; the
// records already copied stay.
func TestCatalogNeverBringsBackATopicDeletedAtItsOrigin(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	createTopic(t, m["east"], "plant.gone", 2, nil)
	produce(t, m["east"], "plant.gone", 0, 10)
	startReplicator(t, catalogConfig(m, "east"))
	west := catalogConfig(m, "west")
	west.Interest.Declared = []Declared{{Topic: "plant.gone"}}
	startReplicator(t, west)
	readAll(t, m["west"], "plant.gone", 10)
	if _, err := kadm.NewClient(kafkatest.Client(t, m["east"])).DeleteTopics(context.Background(), "plant.gone"); err != nil {
		t.Fatal(err)
	}
	// East's entry goes; west keeps its copy and its records.
	kafkatest.Wait(t, testWait, func() error {
		tb, err := catalog.Read(kafkatest.Context(t, testWait), []kgo.Opt{kgo.SeedBrokers(m["west"].ListenAddrs()...)})
		if err != nil {
			return err
		}
		if _, ok := tb.Entry("east", "plant.gone"); ok {
			return errors.New("east's entry is still there")
		}
		return nil
	})
	time.Sleep(time.Second) // a few scans and plans, which must not bring it back
	if n := partitionsAt(t, m["east"], "plant.gone"); n != 0 {
		t.Fatalf("the topic came back at east with %d partitions", n)
	}
	checkOnce(t, readAll(t, m["west"], "plant.gone", 10), 10) // the copied records stay
}

// Two sites that create one name with different partition counts, and
// write to it: the copies take the largest, at every site, and every site
// says so; each origin keeps its own count. (Had one of them been empty, it
// would have become a copy of the larger: see the adoption test.)
func TestCatalogResolvesPartitionConflictsTheSameEverywhere(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t), "north": newCluster(t)}
	createTopic(t, m["east"], "plant.temp", 2, nil)
	createTopic(t, m["north"], "plant.temp", 4, nil)
	produce(t, m["east"], "plant.temp", 0, 1)
	produce(t, m["north"], "plant.temp", 0, 1)
	regs := map[string]*prometheus.Registry{}
	for _, site := range []string{"east", "west", "north"} {
		regs[site] = prometheus.NewRegistry()
		startReplicatorWith(t, catalogConfig(m, site), regs[site])
	}
	kafkatest.Wait(t, testWait, func() error {
		if n := partitionsAt(t, m["west"], "plant.temp"); n != 4 {
			return fmt.Errorf("%d partitions at west", n)
		}
		for site, reg := range regs {
			if v := gathered(t, reg, "meshwork_replicator_catalog_conflicts"); v != 1 {
				return fmt.Errorf("%s counts %v conflicts", site, v)
			}
		}
		return nil
	})
	if n := partitionsAt(t, m["east"], "plant.temp"); n != 2 {
		t.Fatalf("east's own topic was changed to %d partitions without records needing it", n)
	}
}

// An empty topic that a consumer had its broker create at west, while east
// holds it as its origin, is taken as a copy and given east's partitions;
// excluded topics and the mesh's own are never copied.
func TestCatalogAdoptsAnEmptyTopicAndHonoursExclusions(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	createTopic(t, m["east"], "shop.cart", 3, nil)
	createTopic(t, m["east"], "shop.secret", 1, nil)
	createTopic(t, m["west"], "shop.cart", 1, nil) // as a broker's auto-creation would
	startReplicator(t, catalogConfig(m, "east"))
	cfg := catalogConfig(m, "west")
	cfg.Catalog.Exclude = []string{`shop\.secret`}
	startReplicator(t, cfg)
	kafkatest.Wait(t, testWait, func() error {
		if n := partitionsAt(t, m["west"], "shop.cart"); n != 3 {
			return fmt.Errorf("%d partitions at west", n)
		}
		return nil
	})
	if partitionsAt(t, m["west"], "shop.secret") != 0 {
		t.Fatal("an excluded topic was copied")
	}
}

// gathered returns the sum of the series of metric in reg (of a histogram,
// their observation counts): 0 when it has none.
func gathered(t *testing.T, reg *prometheus.Registry, metric string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == metric {
			for _, m := range mf.Metric {
				total += m.GetGauge().GetValue() + m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// An entry of a site this mesh does not have (another mesh's replicator on
// a shared cluster, a site since removed) is never materialised: nothing
// could copy its records here.
func TestCatalogIgnoresSitesOutsideTheMesh(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	createTopic(t, m["east"], "shop.cart", 1, nil)
	codec, err := catalog.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := codec.Record(catalog.Entry{Site: "stranger", Topic: "stranger.topic", Role: catalog.RoleOrigin, Partitions: 2, Updated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	cl := kafkatest.Client(t, m["west"])
	if err := catalog.EnsureTopic(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, cl, stranger)
	startReplicator(t, catalogConfig(m, "east"))
	startReplicator(t, catalogConfig(m, "west"))
	kafkatest.Wait(t, testWait, func() error {
		if partitionsAt(t, m["west"], "shop.cart") != 1 {
			return errors.New("shop.cart not at west yet")
		}
		return nil
	})
	if partitionsAt(t, m["west"], "stranger.topic") != 0 {
		t.Fatal("a topic of a site outside the mesh was materialised")
	}
}

// A topic deleted at its origin while the origin's replicator was away
// still has the origin's entry in the catalog; the other sites list the
// origin's cluster themselves and make no copy of it.
func TestCatalogTrustsNoStaleOriginEntry(t *testing.T) {
	m := mesh{"east": newCluster(t), "west": newCluster(t)}
	createTopic(t, m["east"], "shop.cart", 1, nil)
	codec, err := catalog.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	stale, err := codec.Record(catalog.Entry{Site: "east", Topic: "shop.gone", Role: catalog.RoleOrigin, Partitions: 2, Updated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	cl := kafkatest.Client(t, m["west"])
	if err := catalog.EnsureTopic(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, cl, stale)
	startReplicator(t, catalogConfig(m, "west"))
	startReplicator(t, catalogConfig(m, "east"))
	kafkatest.Wait(t, testWait, func() error {
		if partitionsAt(t, m["west"], "shop.cart") != 1 {
			return errors.New("shop.cart not at west yet")
		}
		return nil
	})
	if partitionsAt(t, m["west"], "shop.gone") != 0 {
		t.Fatal("a topic its origin no longer holds was brought back as an empty copy")
	}
}
