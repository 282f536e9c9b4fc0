package demand

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/meshwork/meshwork/interest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumeAndCommit runs a franz-go group member of group on topic until it
// read one record, commits, and leaves the group: the group then has
// committed offsets on topic and no members.
func consumeAndCommit(t *testing.T, c *kfake.Cluster, group, topic string) {
	t.Helper()
	ctx := testCtx(t)
	prod := testClient(t, c)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(clientOpts(c), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for n := 0; n == 0; {
		fs := cl.PollFetches(ctx) // polling is how a member learns its assignment
		if err := ctx.Err(); err != nil {
			t.Fatalf("group %s read nothing from %s: %v", group, topic, err)
		}
		n = fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
}

// joinClassic makes one member of a classic consumer group subscribed to
// topics, as the Java client does, which names topics in its subscription
// whether or not they exist. It leaves when the test ends.
func joinClassic(t *testing.T, cl *kgo.Client, group string, topics ...string) {
	t.Helper()
	ctx := testCtx(t)
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 1
	meta.Topics = topics
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = "range"
	proto.Metadata = meta.AppendTo(nil)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = 30_000
	join.RebalanceTimeoutMillis = 30_000
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	var resp *kmsg.JoinGroupResponse
	for {
		var err error
		if resp, err = join.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		if errors.Is(err, kerr.MemberIDRequired) {
			join.MemberID = resp.MemberID
			continue
		}
		if err != nil {
			t.Fatalf("join %s: %v", group, err)
		}
		break
	}
	assignment := kmsg.NewConsumerMemberAssignment()
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = group
	sync.Generation = resp.Generation
	sync.MemberID = resp.MemberID
	sync.ProtocolType = kmsg.StringPtr("consumer")
	sync.Protocol = resp.Protocol
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID = resp.MemberID
	sa.MemberAssignment = assignment.AppendTo(nil)
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{sa}
	sresp, err := sync.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
		t.Fatalf("sync %s: %v", group, err)
	}
	t.Cleanup(func() {
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group = group
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = resp.MemberID
		leave.Members = []kmsg.LeaveGroupRequestMember{m}
		_, _ = leave.RequestWith(context.Background(), cl)
	})
}

func topicsOf(leases []interest.Lease) map[string][]string {
	out := map[string][]string{}
	for _, l := range leases {
		t := l.Topic
		if l.Pattern {
			t = "pattern:" + t
		}
		out[l.SourceID] = append(out[l.SourceID], t)
	}
	return out
}

func TestDiscoverer(t *testing.T) {
	c := testCluster(t, "shop.order.created", "shop.order.shipped", "_schemas")
	cl := testClient(t, c)
	ctx := testCtx(t)
	w := startWatcher(t, c)

	consumeAndCommit(t, c, "billing", "shop.order.created")
	consumeAndCommit(t, c, "meshwork-replicator-east", "shop.order.created") // the mesh's own: excluded
	consumeAndCommit(t, c, "_confluent-internal", "shop.order.created")      // excluded
	consumeAndCommit(t, c, "schema-reader", "_schemas")                      // internal topic: excluded
	joinClassic(t, cl, "analytics", "shop.refund.issued", "shop.order.shipped", "__consumer_offsets")

	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDiscoverer(cl, "east", TTL(600*time.Millisecond), DiscoveryInterval(100*time.Millisecond),
		WithMetrics(m), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	leases, err := d.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"billing":   {"shop.order.created"},
		"analytics": {"shop.order.shipped", "shop.refund.issued"}, // the second does not exist yet
	}
	if got := topicsOf(leases); !reflect.DeepEqual(got, want) {
		t.Fatalf("discovered %v, want %v", got, want)
	}
	for _, l := range leases {
		if l.Kind != interest.KindConsumerGroup || l.Site != "east" || l.Resume != interest.ResumeCheckpoint || l.Expires.IsZero() {
			t.Fatalf("discovered lease %+v", l)
		}
	}
	waitFor(t, 5*time.Second, "the leases in the watched table", func() bool {
		return reflect.DeepEqual(topicsOf(w.Table().Active(time.Now())), want)
	})
	if got := w.Table().Resolve(time.Now(), nil)["shop.refund.issued"]; !slices.Equal(got, []string{"east"}) {
		t.Fatalf("a subscription to a topic that does not exist yet resolves to %v", got)
	}

	// Run keeps renewing; deleting the group ends billing's interest:
	// no longer renewed, its lease expires.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(rctx) }()
	defer func() { cancel(); <-done }()
	billing := leases[slices.IndexFunc(leases, func(l interest.Lease) bool { return l.SourceID == "billing" })]
	first, _ := w.Table().Lease(billing.Key())
	waitFor(t, 5*time.Second, "a renewal", func() bool {
		cur, _ := w.Table().Lease(billing.Key())
		return cur.Expires.After(first.Expires)
	})
	res, err := kadm.NewClient(cl).DeleteGroups(ctx, "billing")
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the deleted group's lease to expire", func() bool {
		_, active := topicsOf(w.Table().Active(time.Now()))["billing"]
		return !active
	})
	cur, _ := w.Table().Lease(billing.Key())
	if cur.Key() == billing.Key() && !cur.Expired(time.Now()) {
		t.Fatal("billing's lease is still in force")
	}
	if _, ok := topicsOf(w.Table().Active(time.Now()))["analytics"]; !ok {
		t.Fatal("analytics lost its interest")
	}
	if testutil.ToFloat64(m.scans) < 2 || testutil.ToFloat64(m.scanErrors) != 0 || testutil.ToFloat64(m.discovered) != 2 {
		t.Fatalf("metrics: scans %v errors %v discovered %v", testutil.ToFloat64(m.scans),
			testutil.ToFloat64(m.scanErrors), testutil.ToFloat64(m.discovered))
	}
}

// TestDiscovererConsumerProtocol: a KIP-848 group's subscription counts.
func TestDiscovererConsumerProtocol(t *testing.T) {
	c := testCluster(t, "shop.order.created")
	cl := testClient(t, c)
	ctx := testCtx(t)
	member, err := kgo.NewClient(append(clientOpts(c), kgo.ConsumerGroup("fulfilment"), kgo.ConsumeTopics("shop.order.created"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for mctx.Err() == nil {
			member.PollFetches(mctx)
		}
	}()
	d, err := NewDiscoverer(cl, "east", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer d.pub.Close(ctx)
	want := map[string][]string{"fulfilment": {"shop.order.created"}}
	waitFor(t, 10*time.Second, "the consumer-protocol group's lease", func() bool {
		leases, err := d.Scan(ctx)
		return err == nil && reflect.DeepEqual(topicsOf(leases), want)
	})
	if !d.kip848 {
		t.Fatal("found without the consumer-protocol describe")
	}
}

// TestInterestOf covers what the fake cluster cannot show: regular
// expression subscriptions, and groups that cannot be read this time.
func TestInterestOf(t *testing.T) {
	re := `shop\..*`
	consumer := kadm.DescribedConsumerGroups{
		"regex": {Group: "regex", Members: []kadm.ConsumerGroupMember{
			{SubscribedTopicRegex: &re, Assignment: kadm.TopicsSet{"shop.order.created": {0: {}}, "": {0: {}}}},
		}},
		"loading": {Group: "loading", Err: kerr.CoordinatorLoadInProgress},
	}
	classic := kadm.DescribedGroups{
		"gone": {Group: "gone", Err: kerr.GroupIDNotFound},
	}
	offsets := kadm.FetchOffsetsResponses{
		"regex": {Group: "regex", Fetched: kadm.OffsetResponses{
			"billing.invoice": {0: {Offset: kadm.Offset{At: -1}}, 1: {Offset: kadm.Offset{At: 7}}},
			"never.read":      {0: {Offset: kadm.Offset{At: -1}}},
			"_internal":       {0: {Offset: kadm.Offset{At: 3}}},
		}},
		"offsets-down": {Group: "offsets-down", Err: kerr.CoordinatorNotAvailable},
	}
	found, unsure := interestOf([]string{"regex", "loading", "gone", "offsets-down"}, classic, consumer, offsets)
	want := map[string][]want{"regex": {{"billing.invoice", false}, {"shop.order.created", false}, {re, true}}}
	if !reflect.DeepEqual(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}
	if !reflect.DeepEqual(unsure, []string{"loading", "offsets-down"}) {
		t.Fatalf("unsure %v", unsure)
	}
}

func TestDiscovererOptions(t *testing.T) {
	c := testCluster(t)
	cl := testClient(t, c)
	for _, tc := range []struct {
		site string
		opts []DiscovererOpt
	}{
		{"East", nil},
		{"east", []DiscovererOpt{DiscoveryInterval(0)}},
		{"east", []DiscovererOpt{TTL(0)}},
	} {
		if _, err := NewDiscoverer(cl, tc.site, tc.opts...); err == nil {
			t.Errorf("NewDiscoverer(%q, %d options) accepted", tc.site, len(tc.opts))
		}
	}
	d, err := NewDiscoverer(cl, "east", ExcludeGroups("tmp-"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.pub.Close(context.Background())
	if !d.excluded("tmp-1") || d.excluded("meshwork-x") {
		t.Fatal("ExcludeGroups does not replace the defaults")
	}
}
