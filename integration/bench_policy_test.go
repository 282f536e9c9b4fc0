package integration

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRESTProducePolicy measures what the security policy adds to
// REST produce (v2, one record a request, acks=all on real Kafka), in one
// run, three adapters taking turns: no authentication (anonymous); HTTP
// basic users whose own produce lists decide (the adapter's authorizer
// before the policy); the same users with the policy deciding.
// policy-cost-% is what the policy takes off the users' rate.
func BenchmarkRESTProducePolicy(b *testing.B) {
	kafka := env(b, "MESH_E2E_KAFKA_EAST")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "bench.policy." + suffix
	createTopics(b, kafka, 3, topic)
	policyFile := filepath.Join(b.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`rules:
  - {name: admins, principals: [admin], actions: ["*"], resources: ["*"]}
  - {name: viewers, principals: [viewer], actions: [read, consume, describe], resources: ["*"]}
  - {name: shop, principals: [shop, "team-shop-*"], actions: [produce], resources: ["topic:bench.*", "topic:orders.*"]}
deny:
  - {principals: ["*"], actions: [produce], resources: ["topic:pii.*"]}
`), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := buildBinary(b, "github.com/meshwork/meshwork/cmd/mesh-rest")
	users := "auth: {users: [{name: shop, password: bench-secret}]}\ngrants: [{principal: shop, produce: [\"bench.*\"]}]\n"
	variants := []struct {
		name, extra string
		p           *serviceProc
		took        time.Duration
		sent        int
	}{
		{name: "no-auth"},
		{name: "users", extra: users},
		{name: "users+policy", extra: users + "policy: {file: " + policyFile + "}\n"},
	}
	for i := range variants {
		port := freePorts(b, 1)[0]
		cfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ninstance_id: bench-%s-%d\nmax_in_flight: 100000\nkafka:\n  brokers: [%s]\n  producer: {linger: 1ms}\nwebhooks: {allow_targets: [127.0.0.0/8], subscriptions_topic: _mesh.rest.subscriptions.bench-%s}\nidempotency: {topic: _mesh.rest.idempotency.bench-%s}\nlog: {level: warn}\n%s",
			port, suffix, port, kafka, suffix, suffix, variants[i].extra)
		variants[i].p = launchBench(b, bin, cfg, port)
	}
	// The three take turns in slices, so that the machine's other load
	// (it is shared) falls on all of them alike.
	const slices = 12
	b.ResetTimer()
	for s := range slices {
		n := b.N / slices
		if s < b.N%slices {
			n++
		}
		for k := range variants { // each slice begins with another, against order effects
			v := &variants[(s+k)%len(variants)]
			var auth []string
			if v.extra != "" {
				auth = []string{"shop", "bench-secret"}
			}
			v.took += restRound(b, v.p, topic, n, auth...)
			v.sent += n
		}
	}
	b.StopTimer()
	rate := map[string]float64{}
	for _, v := range variants {
		rate[v.name] = float64(v.sent) / v.took.Seconds()
		b.ReportMetric(rate[v.name], v.name+"-msgs/s")
	}
	b.ReportMetric(100*(1-rate["users+policy"]/rate["users"]), "policy-cost-%")
}

// restRound sends n single-record produce requests from restBenchClients
// clients and returns how long they took.
func restRound(b *testing.B, p *serviceProc, topic string, n int, basicAuth ...string) time.Duration {
	tr := &http.Transport{MaxIdleConnsPerHost: restBenchClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	body := []byte(`{"records":[{"value":"` + base64.StdEncoding.EncodeToString(restPayload(0)) + `"}]}`)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range restBenchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, err := http.NewRequest(http.MethodPost, p.url+"/topics/"+topic, bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/vnd.kafka.binary.v2+json")
				if len(basicAuth) == 2 {
					req.SetBasicAuth(basicAuth[0], basicAuth[1])
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
