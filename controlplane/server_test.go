package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/replicator"
)

const wait = 60 * time.Second

func unusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// A topic written at east and consumed at west: the catalog shows west's
// group, the interest lease the API declared, the flow from east and its
// lag; the link to a site nobody runs is down with the reason; unknown
// sites and topics are 404 naming what exists.
func TestCatalogLinksAndInterest(t *testing.T) {
	const topic = "shop.order.created"
	east := kafkatest.Cluster(t, kfake.SeedTopics(2, topic))
	west := kafkatest.Cluster(t)
	dead := unusedAddr(t)

	// West's replicator, from the same mesh file, with its status served.
	dir := t.TempDir()
	meshPath := filepath.Join(dir, "mesh.yaml")
	repl := httptest.NewUnstartedServer(nil)
	doc := fmt.Sprintf(`sites:
  - name: east
    kafka: {brokers: [%s]}
  - name: west
    kafka: {brokers: [%s]}
    replicators: [{name: replicator, admin: http://%s}]
  - name: north
    kafka: {brokers: [%s], dial_timeout: 300ms}
links: [east-west, west-north]
`, east.ListenAddrs()[0], west.ListenAddrs()[0], repl.Listener.Addr(), dead)
	if err := os.WriteFile(meshPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := replicator.DefaultConfig()
	rc.Site, rc.MeshFile, rc.Kafka.Brokers = "west", meshPath, nil
	rc.Interest.Discover = false
	rc.Interest.LeaseTTL = 2 * time.Second
	rc.Flow.FetchMaxWait = 20 * time.Millisecond
	rc.Flow.PlanInterval = 200 * time.Millisecond
	rc.Flow.CheckpointInterval = 200 * time.Millisecond
	r, err := replicator.New(rc, kafkatest.Logger(), prometheus.NewRegistry(), kgo.RetryTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := kafkatest.Context(t, wait)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	repl.Config.Handler = r.Handler()
	repl.Start()
	defer repl.Close()

	cfg := DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "west", meshPath, nil
	cfg.RefreshInterval, cfg.Timeout = 200*time.Millisecond, 2*time.Second
	s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	api := httptest.NewServer(s.Handler())
	defer api.Close()

	// Interest declared through the API starts the flow.
	var lease Lease
	if code := call(t, "POST", api.URL+"/v1/interest", InterestRequest{Site: "west", Topic: topic, TTL: "1h"}, &lease); code != 200 || lease.Kind != "DECLARED" {
		t.Fatalf("POST /v1/interest: %d %+v", code, lease)
	}
	// The next read sees the write.
	var listed struct{ Leases []Lease }
	if call(t, "GET", api.URL+"/v1/interest?site=west", nil, &listed); !slices.ContainsFunc(listed.Leases, func(l Lease) bool { return l.Topic == topic && l.Kind == "DECLARED" }) {
		t.Fatalf("GET /v1/interest right after POST: %+v", listed.Leases)
	}
	cl := kafkatest.Client(t, east)
	for i := range 20 {
		kafkatest.Produce(t, cl, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte("v"),
			Headers: []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}, {Key: "ce_source", Value: []byte("/shop")},
				{Key: "mesh_adapter", Value: []byte("mqtt-east")}}})
	}
	// An adapter's egress rule at west reads the topic: it leases it.
	pub, err := interest.NewPublisher(kafkatest.Client(t, west), "west")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Set(ctx, []interest.Lease{{Topic: topic, Site: "west", Kind: interest.KindAdapterEgress, SourceID: "mqtt-west/by-key"}}); err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	kafkatest.Read(t, west, topic, 20, wait)
	// A consumer group at west.
	cons := kafkatest.Client(t, west, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 5 {
		fs := cons.PollRecords(ctx, 5)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	var tp Topic
	kafkatest.Wait(t, wait, func() error {
		tp = Topic{}
		if code := call(t, "GET", api.URL+"/v1/topics/"+topic, nil, &tp); code != 200 {
			return fmt.Errorf("status %d", code)
		}
		i := slices.IndexFunc(tp.Sites, func(s TopicAtSite) bool { return s.Site == "west" })
		if i < 0 {
			return fmt.Errorf("west not in %+v", tp.Sites)
		}
		w := tp.Sites[i]
		switch {
		case len(w.Groups) == 0 || w.Groups[0].Group != "billing" || w.Groups[0].Lag < int64(20-got): // offsets, so transaction markers count too
			return fmt.Errorf("groups %+v", w.Groups)
		case len(w.Interest) == 0:
			return fmt.Errorf("no lease")
		case len(w.Flows) == 0 || w.Flows[0].Source != "east" || w.Flows[0].Copied != 20 || w.Flows[0].Lag != 0 || !w.Flows[0].Running:
			return fmt.Errorf("flows %+v", w.Flows)
		case len(w.Producers) == 0 || w.Producers[0].Origin != "east" || w.Producers[0].Adapter != "mqtt-east":
			return fmt.Errorf("producers %+v", w.Producers)
		case !slices.Contains(w.Adapters, AdapterUse{Adapter: "mqtt-west", Rule: "by-key", Direction: "egress"}):
			return fmt.Errorf("adapters at west %+v", w.Adapters)
		}
		e := tp.Sites[slices.IndexFunc(tp.Sites, func(s TopicAtSite) bool { return s.Site == "east" })]
		if !slices.Contains(e.Adapters, AdapterUse{Adapter: "mqtt-east", Direction: "ingress"}) {
			return fmt.Errorf("adapters at east %+v (producers %+v)", e.Adapters, e.Producers)
		}
		return nil
	})
	var links struct{ Links []Link }
	kafkatest.Wait(t, wait, func() error {
		call(t, "GET", api.URL+"/v1/links", nil, &links)
		for _, l := range links.Links {
			if l.Target == "west" && l.Source == "north" && l.Status == LinkDown && strings.Contains(l.Reports[0].Error, strings.Split(dead, ":")[1]) {
				return nil
			}
		}
		return fmt.Errorf("no down link north->west yet: %+v", links.Links)
	})
	var sites struct{ Sites []Site }
	call(t, "GET", api.URL+"/v1/sites", nil, &sites)
	for _, st := range sites.Sites {
		if (st.Name == "north") == (st.Kafka.Status == StatusOK) {
			t.Fatalf("site %s kafka %+v", st.Name, st.Kafka)
		}
	}

	var e Error
	if code := call(t, "GET", api.URL+"/v1/topics/no.such.topic", nil, &e); code != 404 || !strings.Contains(e.Error, topic) {
		t.Fatalf("unknown topic: %d %q", code, e.Error)
	}
	if code := call(t, "POST", api.URL+"/v1/interest", InterestRequest{Site: "south", Topic: topic}, &e); code != 404 || !strings.Contains(e.Error, "east, west, north") {
		t.Fatalf("unknown site: %d %q", code, e.Error)
	}
	if code := call(t, "DELETE", api.URL+"/v1/interest", InterestRequest{Site: "west", Topic: topic}, &e); code != 200 {
		t.Fatalf("DELETE: %d %q", code, e.Error)
	}
	if call(t, "GET", api.URL+"/v1/interest?site=west", nil, &listed); slices.ContainsFunc(listed.Leases, func(l Lease) bool { return l.Topic == topic && l.Kind == "DECLARED" }) {
		t.Fatalf("GET /v1/interest right after DELETE: %+v", listed.Leases)
	}
	if code := call(t, "DELETE", api.URL+"/v1/interest", InterestRequest{Site: "west", Topic: topic}, &e); code != 404 || !strings.Contains(e.Error, "no declared interest") {
		t.Fatalf("DELETE twice: %d %q", code, e.Error)
	}

	// A new link in mesh.yaml: the control plane follows it at once, the
	// replicator says it needs a restart, and /v1/sites passes that on.
	if err := os.WriteFile(meshPath+".tmp", []byte(strings.Replace(doc, "west-north]", "west-north, east-north]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(meshPath+".tmp", meshPath); err != nil {
		t.Fatal(err)
	}
	kafkatest.Wait(t, wait, func() error {
		var sites struct{ Sites []Site }
		call(t, "GET", api.URL+"/v1/sites", nil, &sites)
		call(t, "GET", api.URL+"/v1/links", nil, &links)
		for _, st := range sites.Sites {
			if st.Name == "west" && len(st.Replicators) == 1 && strings.Contains(st.Replicators[0].Note, "restart to apply the mesh file: its links changed") && len(links.Links) == 6 {
				return nil
			}
		}
		return fmt.Errorf("sites %+v, %d links", sites.Sites, len(links.Links))
	})
}

// Every route is in the OpenAPI document, and the document has no other.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var inDoc, routed []string
	for path, ops := range doc.Paths {
		for m := range ops {
			inDoc = append(inDoc, strings.ToUpper(m)+" "+path)
		}
	}
	for pattern := range (&Server{}).ownRoutes() {
		routed = append(routed, pattern)
	}
	slices.Sort(inDoc)
	slices.Sort(routed)
	if !slices.Equal(inDoc, routed) || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json %v\nroutes       %v", inDoc, routed)
	}
}
