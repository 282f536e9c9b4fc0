package devmesh

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/replicator"
)

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	for i := range cfg.Sites {
		cfg.Sites[i].Ports = map[string]int{} // free ports: tests run in parallel with a real dev mesh
	}
	cfg.AdminPort = 0
	cfg.ControlPlanePort = 0
	return cfg
}

func TestMeshKeepsEventsAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(t)
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := ReadEndpoints(m.EndpointsFile())
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Sites) != 2 || ep.Sites["east"].Kafka == "" || !strings.HasPrefix(ep.Sites["west"].MQTT, "tcp://127.0.0.1:") {
		t.Fatalf("unexpected endpoints %+v", ep)
	}
	east := ep.Sites["east"].Kafka

	// Another mesh on the same directory is refused.
	if _, err := Start(ctx, cfg); err == nil || !strings.Contains(err.Error(), "in use by another running dev mesh") {
		t.Fatalf("want a clear lock error, got %v", err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(east), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r := &kgo.Record{Topic: "shop.order.created", Key: []byte("k"), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	resp, err := http.Get(ep.Admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"west.mqtt":"ok"`) {
		t.Fatalf("readyz %d %s", resp.StatusCode, body)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same ports and directory: the events are still there.
	for i := range cfg.Sites {
		cfg.Sites[i].Ports[ServiceKafka] = portOf(t, ep.Sites[cfg.Sites[i].Name].Kafka)
	}
	m2, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	cl, err = kgo.NewClient(kgo.SeedBrokers(east), kgo.ConsumeTopics("shop.order.created"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 10 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "0,1,2,3,4,5,6,7,8,9" {
		t.Fatalf("records after restart: %v", got)
	}
	// Sites are separate clusters: west may hold an empty copy of east's
	// topic (the topic catalog makes one), but none of its records, as
	// nothing at west is interested in them.
	adm, err := kgo.NewClient(kgo.SeedBrokers(m2.Endpoints().Sites["west"].Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, "shop.order.created")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			t.Errorf("west holds %d records of east's shop.order.created in partition %d; nothing there is interested", o.Offset, o.Partition)
		}
	})
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestMQTTBrokerPerSite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := Start(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	url := m.Endpoints().Sites["west"].MQTT
	got := make(chan string, 1)
	sub := connect(t, url, "sub")
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("factory/+/temp", 1, func(_ paho.Client, msg paho.Message) { got <- string(msg.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connect(t, url, "pub")
	defer pub.Disconnect(100)
	if tok := pub.Publish("factory/1/temp", 1, false, "21.5"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case v := <-got:
		if v != "21.5" {
			t.Fatalf("got %q", v)
		}
	case <-ctx.Done():
		t.Fatal("message not delivered")
	}
}

func connect(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	return c
}

func TestConfigErrors(t *testing.T) {
	cfg := DefaultConfig()
	for spec, want := range map[string]string{
		"east.kafka":       "want site.service=port",
		"north.kafka=1":    `unknown site "north"`,
		"east.amqp=1":      `unknown service "amqp"; want one of kafka, mqtt, registry`,
		"east.kafka=99999": "is not a port number",
	} {
		if err := cfg.SetPort(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", spec, err, want)
		}
	}
	if err := cfg.SetPort("west.mqtt=11883"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "sites[1].ports.mqtt: port 11883 is already used by sites[0].ports.mqtt") {
		t.Fatalf("got %v", err)
	}
}

// -amqp names a site and a broker URL; a broker belongs to one site; a
// password never shows in an error.
func TestAMQPConfigErrors(t *testing.T) {
	cfg := DefaultConfig()
	for spec, want := range map[string]string{
		"east":                        "want site=amqp://user:password@host:port",
		"north=amqp://127.0.0.1:1":    `unknown site "north"`,
		"east=":                       "want site=amqp",
		"nowhere=amqp://u:secret@h:1": "amqp://u:xxxxx@h:1",
	} {
		if err := cfg.SetAMQP(spec); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: got %v, want %q", spec, err, want)
		}
	}
	for _, c := range []struct{ east, west, want string }{
		{"amqp://guest:guest@127.0.0.1:5672", "amqp://127.0.0.1:5672", "sites[1].amqp: the broker at 127.0.0.1:5672 is also site east's"},
		{"http://u:secret@127.0.0.1:5672", "", `sites[0].amqp: want amqp://user:password@host:port, got "http://u:xxxxx@127.0.0.1:5672"`},
		{"amqp://127.0.0.1", "", "sites[0].amqp: want amqp://"},
	} {
		cfg := DefaultConfig()
		cfg.Sites[0].AMQP, cfg.Sites[1].AMQP = c.east, c.west
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: got %v", c, err)
		}
	}
	cfg = DefaultConfig()
	if err := cfg.SetAMQP("west=amqp://guest:guest@127.0.0.1:5672"); err != nil || cfg.Sites[1].AMQP != "amqp://guest:guest@127.0.0.1:5672" {
		t.Fatalf("%v %+v", err, cfg.Sites[1])
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Without a broker, the endpoint table says AMQP is not configured and
// how to configure it.
func TestEndpointTableWithoutAMQP(t *testing.T) {
	var b strings.Builder
	Endpoints{Sites: map[string]SiteEndpoints{"east": {Kafka: "k", AMQP: "amqp://127.0.0.1:5672"}, "west": {Kafka: "k2"}}}.PrintTable(&b)
	if !strings.Contains(b.String(), "east  amqp      amqp://127.0.0.1:5672") || !strings.Contains(b.String(), "west  amqp      not configured: start a broker (make services-up") {
		t.Fatalf("%s", b.String())
	}
}

func TestTakenPortIsNamed(t *testing.T) {
	ctx := context.Background()
	a := testConfig(t)
	m, err := Start(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := testConfig(t)
	b.Sites[0].Ports[ServiceKafka] = portOf(t, m.Endpoints().Sites["east"].Kafka)
	if _, err := Start(ctx, b); err == nil || !strings.Contains(err.Error(), "is taken") {
		t.Fatalf("want a taken-port error, got %v", err)
	}
}

func TestConfigFileErrorsNameLineAndField(t *testing.T) {
	doc := "dir: /tmp/x\nsites:\n  - name: east\n    ports: {kafka: 19092}\n  - name: West\n    ports:\n      kafka: 19092\n      amqp: 5672\n"
	cfg := DefaultConfig()
	err := config.Parse("dev.yaml", []byte(doc), &cfg)
	for _, want := range []string{
		`dev.yaml:5:5: field sites[1].name: "West": site names are lower-case`,
		`dev.yaml:7:7: field sites[1].ports.kafka: port 19092 is already used by sites[0].ports.kafka`,
		`dev.yaml:8:7: field sites[1].ports.amqp: unknown service "amqp"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
		}
	}
}

func TestRegistryPerSiteSharesIDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(t)
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep := m.Endpoints()
	east, west := ep.Sites["east"].Registry, ep.Sites["west"].Registry
	if !strings.HasPrefix(east, "http://127.0.0.1:") || !strings.HasPrefix(west, "http://127.0.0.1:") {
		t.Fatalf("registry endpoints %q %q", east, west)
	}
	schema := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`
	body := `{"schema": ` + fmt.Sprintf("%q", schema) + `}`
	resp, err := http.Post(west+"/subjects/shop.order.created-value/versions", "application/vnd.schemaregistry.v1+json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "{\"id\":1}\n" {
		t.Fatalf("register at west (forwarded to east): %d %s", resp.StatusCode, b)
	}
	for _, url := range []string{east, west} {
		if got := httpGet(t, url+"/schemas/ids/1/schema"); got != schema {
			t.Fatalf("%s serves id 1 as %q", url, got)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Schemas persist with the Kafka data.
	for i := range cfg.Sites {
		cfg.Sites[i].Ports[ServiceKafka] = portOf(t, ep.Sites[cfg.Sites[i].Name].Kafka)
	}
	m, err = Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := httpGet(t, m.Endpoints().Sites["west"].Registry+"/schemas/ids/1/schema"); got != schema {
		t.Fatalf("after a restart west serves id 1 as %q", got)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func TestMQTTAdapterPerSite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := Start(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep := m.Endpoints().Sites["east"]

	// MQTT -> Kafka: any topic lands in mqtt.ingress, keyed by the MQTT topic.
	pub := connect(t, ep.MQTT, "dev-pub")
	defer pub.Disconnect(100)
	if tok := pub.Publish("factory/1/temp", 1, false, "21.5"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.Kafka), kgo.ConsumeTopics(MQTTIngressTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	r := fs.Records()[0]
	if string(r.Key) != "factory/1/temp" || string(r.Value) != "21.5" {
		t.Fatalf("record %q=%q", r.Key, r.Value)
	}
	env, err := envelope.FromKafka(r.Headers)
	if err != nil || env.Origin != "east" || env.ID == "" {
		t.Fatalf("envelope %+v (%v)", env, err)
	}

	// Kafka -> MQTT: a record of mqtt.egress goes to the MQTT topic its key names.
	got := make(chan string, 1)
	sub := connect(t, ep.MQTT, "dev-sub")
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("devices/7/cmd", 1, func(_ paho.Client, msg paho.Message) { got <- string(msg.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: MQTTEgressTopic, Key: []byte("devices/7/cmd"), Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != "open" {
			t.Fatalf("got %q", v)
		}
	case <-ctx.Done():
		t.Fatal("the egress record did not reach the MQTT subscriber")
	}

	// The command never comes back into Kafka through the adapter's own
	// ingress (its "#" filter matches it): a device's message published
	// after it is the next record of mqtt.ingress.
	if tok := pub.Publish("factory/1/after", 1, false, "after"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	var keys []string
	for !slices.Contains(keys, "factory/1/after") {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("mqtt.ingress holds %v, never the device's second message", keys)
		}
		fs.EachRecord(func(r *kgo.Record) { keys = append(keys, string(r.Key)) })
	}
	if slices.Contains(keys, "devices/7/cmd") {
		t.Fatalf("the egress command came back into mqtt.ingress: %v", keys)
	}
}

// TestReplicatesWhatAGroupReads: a consumer group at west reads a topic
// created at east with three partitions; without asking anything to create
// it at west, the group finds the topic there (an empty copy with east's
// partitions), joins, and receives every record within seconds; the flow
// stops once the group is deleted and its lease has expired.
func TestReplicatesWhatAGroupReads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(t)
	cfg.InterestTTL = 2 * time.Second
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep := m.Endpoints()
	prod, err := kgo.NewClient(kgo.SeedBrokers(ep.Sites["east"].Kafka), kgo.DefaultProduceTopic("shop.order.created"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, 3, 1, nil, "shop.order.created"); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("o-%d", i)), Value: []byte("first")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	group, err := kgo.NewClient(kgo.SeedBrokers(ep.Sites["west"].Kafka),
		kgo.ConsumerGroup("west-orders"), kgo.ConsumeTopics("shop.order.created"), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	var got []*kgo.Record
	for len(got) < 30 && time.Since(start) < 15*time.Second {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		got = append(got, group.PollFetches(pctx).Records()...)
		pcancel()
	}
	if len(got) != 30 {
		t.Fatalf("west's group received %d of 30 records in %s", len(got), time.Since(start).Round(time.Second))
	}
	partitions := map[int32]bool{}
	for _, r := range got {
		partitions[r.Partition] = true
	}
	if len(partitions) != 3 {
		t.Fatalf("the records came from %d partitions at west, want east's 3", len(partitions))
	}
	var first *kgo.Record = got[0]
	t.Logf("the records produced at east reached the group at west in %s (first: %q)", time.Since(start).Round(10*time.Millisecond), first.Value)
	if err := group.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	group.Close()
	wadm, err := kgo.NewClient(kgo.SeedBrokers(ep.Sites["west"].Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer wadm.Close()
	if _, err := kadm.NewClient(wadm).DeleteGroups(ctx, "west-orders"); err != nil {
		t.Fatal(err)
	}
	west := m.sites[1].unit(unitReplicator).svc.(*replicator.Replicator)
	for copying(west, "shop.order.created") {
		if ctx.Err() != nil {
			t.Fatal("west still copies shop.order.created after its only group was deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func copying(r *replicator.Replicator, topic string) bool {
	for _, c := range r.Copying() {
		if c.Topic == topic {
			return true
		}
	}
	return false
}

// A group at west that started before its topic existed anywhere gets the
// records once the topic is created and written at east, from every
// partition, with a client that never asks the broker to create a topic.
func TestReplicatesForAGroupThatCameFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := Start(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep := m.Endpoints()
	group, err := kgo.NewClient(kgo.SeedBrokers(ep.Sites["west"].Kafka),
		kgo.ConsumerGroup("west-payments"), kgo.ConsumeTopics("shop.payment.settled"), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	if n := len(group.PollFetches(pctx).Records()); n != 0 { // the group runs a while first
		t.Fatalf("%d records before the topic existed", n)
	}
	pcancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(ep.Sites["east"].Kafka), kgo.DefaultProduceTopic("shop.payment.settled"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	start := time.Now()
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, 2, 1, nil, "shop.payment.settled"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("p-%d", i)), Value: []byte("settled")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	partitions := map[int32]bool{}
	n := 0
	for n < 20 && time.Since(start) < 15*time.Second {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		for _, r := range group.PollFetches(pctx).Records() {
			partitions[r.Partition] = true
			n++
		}
		pcancel()
	}
	if n != 20 || len(partitions) != 2 {
		t.Fatalf("west's group received %d of 20 records from %d of 2 partitions in %s", n, len(partitions), time.Since(start).Round(time.Second))
	}
	t.Logf("a group waiting at west got east's new topic %s after its creation", time.Since(start).Round(10*time.Millisecond))
}
