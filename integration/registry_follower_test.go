package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestIntegrationRegistryFollowerReadsItsWrites runs the registry the way a
// mesh runs it, on real Kafka: east's registry writes _schemas on east's
// cluster, a mesh-replicator of the follower site copies it into west's
// cluster, and the follower's registry reads it there and forwards writes
// to east. A schema registered at the follower is read back there at once,
// a thousand times in a row; with east's registry stopped, the follower
// still serves reads, also after a restart.
//
// The schema log is the mesh's own, _schemas (the replicator carries no
// other), on the long-lived test clusters: every run adds to it, under its
// own subject. The follower site takes a name of its own per run, so that
// its replicator shares neither transactional ids nor its slot group with
// a replicator of site west that another test or benchmark runs.
func TestIntegrationRegistryFollowerReadsItsWrites(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	regBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	repBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	site := fmt.Sprintf("rf-%d", time.Now().UnixNano())
	subject := site + "-value"
	ports := freePorts(t, 3)

	eastCfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\n", ports[0], east)
	followerCfg := fmt.Sprintf("site: %s\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\nprimary: {url: \"http://127.0.0.1:%d\"}\nwrite_timeout: 10s\n",
		site, ports[1], west, ports[0])
	repCfg := fmt.Sprintf(`site: %s
listen: 127.0.0.1:%d
kafka: {brokers: [%q]}
sites:
  - name: east
    kafka: {brokers: [%q]}
  - name: %s
schemas_primary: east
interest: {discover: false}
catalog: {materialize: false} # only _schemas matters here
flow: {fetch_max_wait: 50ms, plan_interval: 1s}
`, site, ports[2], west, east, site)

	eastReg := startService(t, regBin, "registry-east", eastCfg, ports[0])
	// The follower starts before its replicator: on a cluster that never
	// had _schemas it waits for it, else for the copy to catch up. Either
	// way it starts, and is not ready yet, or ready with a complete copy.
	follower := launchService(t, regBin, "registry-"+site, followerCfg, ports[1])
	startService(t, repBin, "replicator-"+site, repCfg, ports[2])
	follower.waitReady(t, "registry-"+site, 60*time.Second)

	cl := &http.Client{Timeout: 30 * time.Second}
	call := func(method, url string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	must := func(method, url string, body any) []byte {
		t.Helper()
		status, b := call(method, url, body)
		if status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, url, status, b)
		}
		return b
	}

	// A config set at the follower is read there at once.
	must("PUT", follower.url+"/config/"+subject, map[string]string{"compatibility": "NONE"})
	if b := must("GET", follower.url+"/config/"+subject, nil); !strings.Contains(string(b), `"NONE"`) {
		t.Fatalf("config read back at the follower: %s", b)
	}

	const rounds = 1000
	var registerTimes, roundTimes []time.Duration
	ids := make([]int, 0, rounds)
	start := time.Now()
	for i := range rounds {
		schema := fmt.Sprintf(`{"type":"record","name":"R%d","namespace":"it.follower","fields":[{"name":"a","type":"string"}]}`, i)
		t0 := time.Now()
		status, b := call("POST", follower.url+"/subjects/"+subject+"/versions", map[string]string{"schema": schema})
		t1 := time.Now()
		if status != http.StatusOK {
			t.Fatalf("round %d: register at the follower: %d %s", i, status, b)
		}
		var res struct{ ID int }
		if err := json.Unmarshal(b, &res); err != nil || res.ID == 0 {
			t.Fatalf("round %d: register answered %s", i, b)
		}
		status, b = call("GET", fmt.Sprintf("%s/schemas/ids/%d", follower.url, res.ID), nil)
		if status != http.StatusOK {
			t.Fatalf("round %d: id %d registered at the follower, then read there: %d %s", i, res.ID, status, b)
		}
		var got struct{ Schema string }
		if err := json.Unmarshal(b, &got); err != nil || got.Schema != schema {
			t.Fatalf("round %d: id %d at the follower is %s", i, res.ID, b)
		}
		registerTimes, roundTimes = append(registerTimes, t1.Sub(t0)), append(roundTimes, time.Since(t0))
		ids = append(ids, res.ID)
	}
	total := time.Since(start)
	t.Logf("%d rounds (register at the follower, then GET the id there): %s in all, %s per round; register p50 %s p99 %s max %s; round p50 %s p99 %s max %s",
		rounds, total.Round(time.Millisecond), (total / rounds).Round(time.Microsecond),
		pct(registerTimes, 50), pct(registerTimes, 99), pct(registerTimes, 100), pct(roundTimes, 50), pct(roundTimes, 99), pct(roundTimes, 100))
	if m := metric(t, follower.url, `meshwork_registry_forwarded_requests_total{outcome="not_applied"`); m != "" {
		t.Fatalf("a forwarded write was answered before the follower had it: %s", m)
	}

	// East's registry goes away: the follower still serves every read, and
	// says why it cannot take writes.
	eastReg.stop(t)
	checkReads := func(p *serviceProc) {
		t.Helper()
		var versions []int
		if err := json.Unmarshal(must("GET", p.url+"/subjects/"+subject+"/versions", nil), &versions); err != nil || len(versions) != rounds {
			t.Fatalf("versions at the follower with east down: %d (%v)", len(versions), err)
		}
		for _, id := range []int{ids[0], ids[rounds/2], ids[rounds-1]} {
			must("GET", fmt.Sprintf("%s/schemas/ids/%d", p.url, id), nil)
		}
	}
	checkReads(follower)
	if status, b := call("POST", follower.url+"/subjects/"+subject+"/versions", map[string]string{"schema": `"string"`}); status != http.StatusBadGateway || !strings.Contains(string(b), "50003") {
		t.Fatalf("a write at the follower with east down: %d %s", status, b)
	}
	// And after a restart, once it has given up asking east how far the
	// log is (write_timeout), from its own copy.
	follower.stop(t)
	again := launchService(t, regBin, "registry-"+site, followerCfg, ports[1])
	again.waitReady(t, "registry-"+site, 60*time.Second)
	checkReads(again)
}

// pct returns the p-th percentile of ds (100: the largest).
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(100 * time.Microsecond)
}

// metric returns the line of the service's /metrics that starts with
// prefix, or "".
func metric(t *testing.T, url, prefix string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
