package kafkaclient_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestEnsureTopicCreatesWithConfigs(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	ctx := context.Background()
	spec := kafkaclient.Topic{Name: "_mesh.x", Partitions: 3, Configs: map[string]string{"cleanup.policy": "compact", "segment.ms": "3600000"},
		Compacted: true, AddMissingConfigs: true, AwaitServed: true}
	got, err := kafkaclient.EnsureTopic(ctx, cl, spec)
	if err != nil || !got.Created || got.Partitions != 3 {
		t.Fatalf("first: %+v %v", got, err)
	}
	set, err := kafkaclient.TopicConfigs(ctx, kadm.NewClient(cl), "_mesh.x")
	if err != nil || set["cleanup.policy"] != "compact" || set["segment.ms"] != "3600000" {
		t.Fatalf("configs %v %v", set, err)
	}
	// The second time finds the topic as it should be and does nothing.
	got, err = kafkaclient.EnsureTopic(ctx, cl, spec)
	if err != nil || got.Created || len(got.ConfigsSet) != 0 {
		t.Fatalf("second: %+v %v", got, err)
	}
}

// An existing topic gets the configs it lacks and keeps those its operator
// set on it.
func TestEnsureTopicAddsMissingConfigsAndKeepsTheOperators(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	own := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.ms": kadm.StringPtr("600000")}
	if _, err := adm.CreateTopic(ctx, 1, 1, own, "t"); err != nil {
		t.Fatal(err)
	}
	got, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: "t", Partitions: 1, AddMissingConfigs: true, Compacted: true,
		Configs: map[string]string{"cleanup.policy": "compact", "segment.ms": "3600000", "delete.retention.ms": "600000"}})
	if err != nil || !slices.Equal(got.ConfigsSet, []string{"delete.retention.ms"}) {
		t.Fatalf("%+v %v", got, err)
	}
	set, _ := kafkaclient.TopicConfigs(ctx, adm, "t")
	if set["segment.ms"] != "600000" || set["delete.retention.ms"] != "600000" {
		t.Fatalf("configs %v: want the operator's segment.ms kept and delete.retention.ms added", set)
	}
}

func TestEnsureTopicRefusesWhatItCannotMend(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "t"); err != nil {
		t.Fatal(err)
	}
	_, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: "t", Compacted: true})
	if !errors.Is(err, kafkaclient.ErrTopicMismatch) || !strings.Contains(err.Error(), "--add-config cleanup.policy=compact") {
		t.Fatalf("delete policy: got %v, want the command that compacts the topic", err)
	}
	_, err = kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: "t", Partitions: 8, Partitioning: kafkaclient.ExactPartitions})
	if !errors.Is(err, kafkaclient.ErrTopicMismatch) || !strings.Contains(err.Error(), "has 2 partitions, but 8 are needed") {
		t.Fatalf("exact partitions: got %v", err)
	}
}

func TestEnsureTopicGrowsPartitions(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	spec := kafkaclient.Topic{Name: "t", Partitions: 3, Partitioning: kafkaclient.AtLeastPartitions, AwaitServed: true}
	got, err := kafkaclient.EnsureTopic(ctx, cl, spec)
	if err != nil || got.Grown != 1 || got.Partitions != 3 {
		t.Fatalf("%+v %v", got, err)
	}
	spec.Partitions = 2 // fewer than it has: left alone
	if got, err = kafkaclient.EnsureTopic(ctx, cl, spec); err != nil || got.Grown != 0 || got.Partitions != 3 {
		t.Fatalf("%+v %v", got, err)
	}
}

// Many topics at once: the missing ones are created in one request, each
// with its own partitions and configs; an existing one is grown; one the
// controller refuses fails alone.
func TestEnsureTopicsAtOnce(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "old"); err != nil {
		t.Fatal(err)
	}
	specs := []kafkaclient.Topic{
		{Name: "old", Partitions: 2, Partitioning: kafkaclient.AtLeastPartitions, AwaitServed: true},
		{Name: "bad", Partitions: 1, ReplicationFactor: 9}, // more than the brokers
	}
	for i := range 50 {
		specs = append(specs, kafkaclient.Topic{Name: "t" + strconv.Itoa(i), Partitions: int32(1 + i%3), AwaitServed: true,
			Configs: map[string]string{"retention.ms": strconv.Itoa(60000 + i)}})
	}
	got, errs := kafkaclient.EnsureTopics(ctx, cl, specs...)
	if errs["bad"] == nil || !strings.Contains(errs["bad"].Error(), "creating topic bad") {
		t.Fatalf("bad: %v", errs["bad"])
	}
	delete(errs, "bad")
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if g := got["old"]; g.Created || g.Grown != 1 || g.Partitions != 2 {
		t.Fatalf("old: %+v", g)
	}
	var names []string
	for i := range 50 {
		name := "t" + strconv.Itoa(i)
		names = append(names, name)
		if g := got[name]; !g.Created || g.Partitions != int32(1+i%3) {
			t.Fatalf("%s: %+v", name, g)
		}
	}
	set, err := kafkaclient.TopicsConfigs(ctx, adm, names...)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		if set[name]["retention.ms"] != strconv.Itoa(60000+i) {
			t.Fatalf("%s configs %v", name, set[name])
		}
	}
}

// A topic another client has just created may be unknown for a moment to
// the broker asked for its configs: EnsureTopic asks again rather than
// failing (seen on real Kafka when a replicator and the control plane made
// _mesh.interest at once).
func TestEnsureTopicWaitsForATopicJustCreatedElsewhere(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "_mesh.y"); err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.DescribeConfigs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if refused.Load() >= 3 {
			return nil, nil, false
		}
		refused.Add(1)
		r := req.(*kmsg.DescribeConfigsRequest)
		resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, rr := range r.Resources {
			res := kmsg.NewDescribeConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			res.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Resources = append(resp.Resources, res)
		}
		return resp, nil, true
	})
	got, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: "_mesh.y", Partitions: 1, Compacted: true,
		Configs: map[string]string{"cleanup.policy": "compact"}})
	if err != nil || got.Created || refused.Load() != 3 {
		t.Fatalf("%+v %v after %d refusals; want the existing topic once the broker knows it", got, err, refused.Load())
	}
}
