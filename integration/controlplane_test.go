package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/controlplane"
)

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// meshctlRun runs the meshctl binary and returns its exit status and
// output.
func meshctlRun(ctx context.Context, t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestIntegrationControlPlane runs the replicators of east and west and
// the control plane as processes, all reading one mesh.yaml, on two real
// Kafka clusters (and a third site whose cluster is an unused loopback
// port). Interest declared through the API (meshctl) starts the flow; the
// catalog of the topic produced at east and consumed at west shows the
// group, the lease, the flow and its lag at west, and the producers; the
// link to the dead site is down with why; unknown sites and topics, an
// invalid mesh.yaml, and a link that cannot connect each give a clear
// message, and meshctl exits non-zero.
func TestIntegrationControlPlane(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := uniq("cp")
	topic := "shop.order.created." + suffix
	createTopics(t, east, 3, topic)

	replBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	cpBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-controlplane")
	ctl := buildBinary(t, "github.com/meshwork/meshwork/cmd/meshctl")
	ports := freePorts(t, 3)
	dead := deadAddr(t)
	meshPath := filepath.Join(t.TempDir(), "mesh.yaml")
	mesh := fmt.Sprintf(`sites:
  - name: east
    kafka: {brokers: [%q]}
    replicators: [{name: replicator, admin: "http://127.0.0.1:%d"}]
  - name: west
    kafka: {brokers: [%q]}
    replicators: [{name: replicator, admin: "http://127.0.0.1:%d"}]
  - name: north
    kafka: {brokers: [%q], dial_timeout: 500ms}
links: [east-west, west-north]
policies: {replication_mode: exactly_once}
`, east, ports[0], west, ports[1], dead)
	if err := os.WriteFile(meshPath, []byte(mesh), 0o644); err != nil {
		t.Fatal(err)
	}
	repl := func(site string, port int) string {
		return fmt.Sprintf(`site: %s
listen: 127.0.0.1:%d
mesh_file: %s
interest: {discover: true, discovery_interval: 1s, lease_ttl: 6s}
flow: {fetch_max_wait: 50ms, plan_interval: 1s, checkpoint_interval: 1s}
`, site, port, meshPath)
	}
	launchService(t, replBin, "replicator-east", repl("east", ports[0]), ports[0])
	launchService(t, replBin, "replicator-west", repl("west", ports[1]), ports[1])
	cp := startService(t, cpBin, "controlplane", fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\nmesh_file: %s\nrefresh_interval: 1s\ntrace_index: {dir: %s}\n", ports[2], meshPath, filepath.Join(t.TempDir(), "traceindex")), ports[2])
	server := "--server=" + cp.url

	// Interest declared through the API starts the flow from east.
	if code, out := meshctlRun(ctx, t, ctl, "interest", "add", topic, "--site", "west", "--ttl", "10m", server); code != 0 || !strings.Contains(out, "Added west/") {
		t.Fatalf("meshctl interest add: %d %s", code, out)
	}
	prod := mustClient(t, east)
	const n = 40
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 5)), Value: []byte("v"),
			Headers: []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}, {Key: "ce_source", Value: []byte("/it/" + suffix)}}}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A group at west reads some of them and commits.
	group := "it-billing-" + suffix
	cons, err := kgo.NewClient(kgo.SeedBrokers(west), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	read := 0
	for read < 10 && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cons.PollRecords(pctx, 10-read)
		pcancel()
		read += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	get := func(path string, v any) (int, error) {
		resp, err := http.Get(cp.url + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
	}
	var atWest controlplane.TopicAtSite
	waitFor(t, 90*time.Second, "the catalog of the topic at west", func() error {
		var tp controlplane.Topic
		if _, err := get("/v1/topics/"+topic, &tp); err != nil {
			return err
		}
		i := slices.IndexFunc(tp.Sites, func(s controlplane.TopicAtSite) bool { return s.Site == "west" })
		if i < 0 {
			return fmt.Errorf("no west in %+v", tp.Sites)
		}
		atWest = tp.Sites[i]
		gi := slices.IndexFunc(atWest.Groups, func(g controlplane.Group) bool { return g.Group == group })
		switch {
		case gi < 0 || atWest.Groups[gi].Lag < int64(n-read):
			return fmt.Errorf("groups %+v", atWest.Groups)
		case !slices.ContainsFunc(atWest.Interest, func(l controlplane.Lease) bool { return l.Kind == "DECLARED" && l.Source == "meshctl" }):
			return fmt.Errorf("leases %+v", atWest.Interest)
		case len(atWest.Flows) != 1 || atWest.Flows[0].Source != "east" || atWest.Flows[0].Copied != n || atWest.Flows[0].Lag != 0 || !atWest.Flows[0].Running:
			return fmt.Errorf("flows %+v", atWest.Flows)
		case !slices.ContainsFunc(atWest.Producers, func(p controlplane.Producer) bool { return p.Origin == "east" && p.Source == "/it/"+suffix }):
			return fmt.Errorf("producers %+v", atWest.Producers)
		}
		return nil
	})
	t.Logf("west: %d records, groups %+v, flows %+v", atWest.Records, atWest.Groups, atWest.Flows)
	code, out := meshctlRun(ctx, t, ctl, "describe", "topic", topic, server)
	if code != 0 || !strings.Contains(out, group) || !strings.Contains(out, "Flows:") {
		t.Fatalf("meshctl describe topic: %d\n%s", code, out)
	}

	// The link that cannot connect: west's replicator says why.
	waitFor(t, 60*time.Second, "the link north->west reported down", func() error {
		var links struct{ Links []controlplane.Link }
		if _, err := get("/v1/links", &links); err != nil {
			return err
		}
		for _, l := range links.Links {
			if l.Source == "north" && l.Target == "west" && l.Status == controlplane.LinkDown && len(l.Reports) == 1 &&
				strings.Contains(l.Reports[0].Error, dead) {
				return nil
			}
		}
		return fmt.Errorf("links %+v", links.Links)
	})
	if code, out := meshctlRun(ctx, t, ctl, "links", server); code != 0 || !strings.Contains(out, "down") || !strings.Contains(out, dead) {
		t.Fatalf("meshctl links: %d\n%s", code, out)
	}

	// Bad input: each a clear message, meshctl non-zero.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"describe", "topic", "no.such." + suffix}, `no topic "no.such.` + suffix + `" at any site`},
		{[]string{"interest", "add", topic, "--site", "south"}, `no site "south" in the mesh; its sites are east, west, north`},
		{[]string{"interest", "remove", topic, "--site", "west", "--name", "nobody"}, `site west has no declared interest`},
	} {
		if code, out := meshctlRun(ctx, t, ctl, append(tc.args, server)...); code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("meshctl %q: exit %d, want 1 with %q:\n%s", tc.args, code, tc.want, out)
		}
	}
	if code, out := meshctlRun(ctx, t, ctl, "sites", "--server", "http://"+dead); code != 1 || !strings.Contains(out, "does not answer") {
		t.Errorf("meshctl sites at nothing: exit %d\n%s", code, out)
	}

	// An independent witness: schemathesis finds no answer outside the
	// document (reads only: its writes would declare interest at random).
	st := schemathesisPath(t)
	cmd := exec.CommandContext(ctx, st, "run", cp.url+"/openapi.json", "--include-method", "GET",
		"--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
		"--max-examples", "10", "--request-timeout", "20", "--phases", "examples,fuzzing", "--no-color")
	cmd.Dir = t.TempDir() // it keeps a cache (.schemathesis) where it runs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("schemathesis: %v\n%s", err, lastLines(out, 80))
	}

	// An invalid mesh.yaml: -check names file, line and field; the running
	// control plane keeps the last valid version and says why it is not
	// ready.
	bad := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(bad, []byte("sites:\n  - name: east\n    kafka: {brokers: [\"127.0.0.1:1\"]}\n    registry: not-a-url\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "cp.yaml")
	os.WriteFile(cfgPath, []byte("site: east\nmesh_file: "+bad+"\n"), 0o644)
	out2, err := exec.CommandContext(ctx, cpBin, "-config", cfgPath, "-check").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out2), bad+":4:5: field sites[0].registry: want an http:// or https:// URL") {
		t.Errorf("-check of an invalid mesh.yaml: %v\n%s", err, out2)
	}
	if err := os.WriteFile(meshPath+".tmp", []byte(strings.Replace(mesh, "name: north", "name: North", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(meshPath+".tmp", meshPath); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the control plane to report the invalid mesh.yaml", func() error {
		var ready struct{ Checks map[string]string }
		code, err := get("/readyz", &ready)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(ready.Checks["controlplane"], meshPath+":8:") || !strings.Contains(ready.Checks["controlplane"], "sites[2].name") {
			return fmt.Errorf("/readyz %d %v", code, ready.Checks)
		}
		return nil
	})
	var sites struct{ Sites []controlplane.Site }
	if _, err := get("/v1/sites", &sites); err != nil || len(sites.Sites) != 3 || sites.Sites[2].Name != "north" {
		t.Fatalf("the last valid mesh.yaml is not in force: %v %+v", err, sites.Sites)
	}
}
