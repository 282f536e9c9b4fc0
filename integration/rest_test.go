package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// restProc is a mesh-rest process on real Kafka, with the registry.
type restProc struct {
	*serviceProc
	t        *testing.T // the test that owns the process, restarts included
	bin, cfg string
	port     int
}

func startREST(t *testing.T, bin string, port int, kafka, registry, suffix string) *restProc {
	t.Helper()
	cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%[2]d
instance_id: it-%[1]s
read_timeout: 2s
max_body_bytes: 65536
kafka:
  brokers: [%[3]s]
registry:
  url: %[4]s
  auto_register: true
idempotency:
  topic: _mesh.rest.idempotency.it-%[1]s
webhooks:
  subscriptions_topic: _mesh.rest.subscriptions.it-%[1]s
  allow_targets: [127.0.0.0/8]
  backoff: 50ms
  max_backoff: 2s
  timeout: 5s
`, suffix, port, kafka, registry)
	return &restProc{serviceProc: startService(t, bin, "mesh-rest", cfg, port), t: t, bin: bin, cfg: cfg, port: port}
}

// kill9 kills the process without letting it finish anything, and starts
// it again on the same configuration.
func (p *restProc) kill9AndRestart() {
	_ = p.cmd.Process.Kill()
	<-p.done
	p.serviceProc = startService(p.t, p.bin, "mesh-rest", p.cfg, p.port)
}

func (p *restProc) post(t *testing.T, path, contentType, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// kcatRecords reads a topic from its start to its end with kcat (JSON
// envelope: partition, offset, key, payload, headers).
func kcatRecords(ctx context.Context, t *testing.T, kcat, kafka, topic string, n int, extra ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	waitFor(t, 30*time.Second, fmt.Sprintf("%d records in %s", n, topic), func() error {
		args := append([]string{"-C", "-b", kafka, "-t", topic, "-o", "beginning", "-e", "-q", "-J"}, extra...)
		b, err := tryRun(ctx, nil, kcat, args...)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		if len(out) < n {
			return fmt.Errorf("%d records", len(out))
		}
		return nil
	})
	return out
}

func kcatHeader(m map[string]any, key string) string {
	hs, _ := m["headers"].([]any)
	for i := 0; i+1 < len(hs); i += 2 {
		if hs[i] == key {
			s, _ := hs[i+1].(string)
			return s
		}
	}
	return ""
}

// TestIntegrationREST runs mesh-rest on real Kafka with the mesh's
// registry and checks it with clients Meshwork did not write: kcat and
// sarama read what REST Proxy v2/v3 and CloudEvents requests produced,
// confluent-kafka's AvroDeserializer decodes an Avro record, webhooks
// retry in key order and dead-letter, a kill -9 loses no webhook delivery
// and writes no idempotent request twice, bad input is a 4xx, and
// schemathesis finds no answer outside the OpenAPI document.
func TestIntegrationREST(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kafka, kcat, python := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT"), env(t, "MESH_E2E_PYTHON")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic, avroTopic, hookTopic, deadTopic := "it.rest."+suffix, "it.rest.avro."+suffix, "it.rest.hook."+suffix, "it.rest.dead."+suffix
	createTopics(t, kafka, 3, topic, hookTopic)
	createTopics(t, kafka, 1, avroTopic, deadTopic)
	ports := freePorts(t, 2)
	regBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	reg := startService(t, regBin, "mesh-registry", fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.%s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\n", ports[0], suffix, suffix, kafka), ports[0])
	p := startREST(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-rest"), ports[1], kafka, reg.url, suffix)

	t.Run("v2 and v3 read by kcat and sarama", func(t *testing.T) {
		// Confluent's own examples, binary and JSON.
		status, body := p.post(t, "/topics/"+topic, "application/vnd.kafka.binary.v2+json", `{"records":[{"key":"a2V5","value":"Y29uZmx1ZW50"},{"value":"a2Fma2E=","partition":1}]}`)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var v2 struct {
			Offsets []struct{ Partition int32 }
		}
		_ = json.Unmarshal(body, &v2)
		status, body = p.post(t, "/topics/"+topic, "application/vnd.kafka.json.v2+json", `{"records":[{"value":{"foo":"bar"}}]}`)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var clusters struct {
			Data []struct {
				ClusterID string `json:"cluster_id"`
			}
		}
		resp, err := http.Get(p.url + "/v3/clusters")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&clusters)
		resp.Body.Close()
		status, body = p.post(t, "/v3/clusters/"+clusters.Data[0].ClusterID+"/topics/"+topic+"/records", "application/json",
			`{"partition_id":2,"headers":[{"name":"tenant","value":"YWNtZQ=="}],"key":{"type":"STRING","data":"v3"},"value":{"type":"JSON","data":{"n":3}}}`)
		if status != 200 {
			t.Fatalf("v3: %d %s", status, body)
		}
		status, body = p.post(t, "/topics/"+topic+"/events", "application/json", `{"n":4}`,
			"Ce-Specversion", "1.0", "Ce-Type", "it.rest", "Ce-Source", "/it", "Ce-Id", "ev-"+suffix)
		if status != 200 {
			t.Fatalf("events: %d %s", status, body)
		}
		recs := kcatRecords(ctx, t, kcat, kafka, topic, 5)
		byPayload := map[string]map[string]any{}
		for _, r := range recs {
			byPayload[fmt.Sprint(r["payload"])] = r
			if kcatHeader(r, "ce_id") == "" || kcatHeader(r, "mesh_origin") != "east" {
				t.Fatalf("record without the envelope: %v", r)
			}
		}
		if r := byPayload["confluent"]; r == nil || r["key"] != "key" || int32(r["partition"].(float64)) != v2.Offsets[0].Partition {
			t.Fatalf("binary record %v (answered partition %d)", r, v2.Offsets[0].Partition)
		}
		if r := byPayload["kafka"]; r == nil || r["partition"].(float64) != 1 {
			t.Fatalf("record for partition 1: %v", r)
		}
		if r := byPayload[`{"n":3}`]; r == nil || r["key"] != "v3" || r["partition"].(float64) != 2 || kcatHeader(r, "tenant") != "acme" {
			t.Fatalf("v3 record %v", r)
		}
		if r := byPayload[`{"n":4}`]; r == nil || kcatHeader(r, "ce_id") != "ev-"+suffix || kcatHeader(r, "ce_type") != "it.rest" {
			t.Fatalf("event %v", r)
		}
		// sarama sees the same records and headers.
		client, err := sarama.NewClient([]string{kafka}, saramaConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		consumer, err := sarama.NewConsumerFromClient(client)
		if err != nil {
			t.Fatal(err)
		}
		defer consumer.Close()
		pc, err := consumer.ConsumePartition(topic, 2, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		deadline := time.After(20 * time.Second)
		for found := false; !found; {
			select {
			case m := <-pc.Messages():
				if string(m.Key) != "v3" {
					continue // an unkeyed record placed on partition 2
				}
				hs := map[string]string{}
				for _, h := range m.Headers {
					hs[string(h.Key)] = string(h.Value)
				}
				if hs["tenant"] != "acme" || hs["ce_id"] == "" || hs["content-type"] != "application/json" {
					t.Fatalf("sarama: key %q headers %v", m.Key, hs)
				}
				found = true
			case <-deadline:
				t.Fatal("sarama did not read the v3 record")
			}
		}
	})

	t.Run("avro decoded by confluent-kafka", func(t *testing.T) {
		schema := `{"type":"record","name":"Order","namespace":"shop.witness","fields":[{"name":"id","type":"string"},{"name":"total_cents","type":"long"},{"name":"coupon","type":["null","string"],"default":null}]}`
		sj, _ := json.Marshal(schema)
		status, body := p.post(t, "/topics/"+avroTopic, "application/vnd.kafka.avro.v2+json",
			fmt.Sprintf(`{"value_schema":%s,"records":[{"value":{"id":"o-1","total_cents":1250,"coupon":{"string":"SPRING"}}},{"value":{"id":"o-2","total_cents":5,"coupon":null}}]}`, sj))
		if status != 200 || !strings.Contains(string(body), `"value_schema_id":`) {
			t.Fatalf("%d %s", status, body)
		}
		out := run(ctx, t, nil, python, witnessPath("sr_python.py"), "consume", reg.url, kafka, avroTopic, "2")
		if !strings.Contains(string(out), `"id": "o-1", "total_cents": 1250, "coupon": "SPRING"`) || !strings.Contains(string(out), `"id": "o-2"`) {
			t.Fatalf("confluent-kafka decoded:\n%s", out)
		}
		status, body = p.post(t, "/topics/"+avroTopic, "application/vnd.kafka.avro.v2+json", fmt.Sprintf(`{"value_schema":%s,"records":[{"value":{"id":7}}]}`, sj))
		if status != 422 || !strings.Contains(string(body), `"error_code":42203`) {
			t.Fatalf("misfit: %d %s", status, body)
		}
	})

	t.Run("webhooks: retries in key order, dead letters, kill -9", func(t *testing.T) {
		var mu sync.Mutex
		tries := map[string]int{}
		var got []string
		slow := make(chan struct{})
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			tries[r.Header.Get("Webhook-Id")]++
			n := tries[r.Header.Get("Webhook-Id")]
			mu.Unlock()
			if string(b) == `{"k":"a","i":0}` && n <= 2 {
				w.WriteHeader(503)
				return
			}
			select {
			case <-slow:
			default:
				time.Sleep(20 * time.Millisecond) // slow enough to be killed mid-way
			}
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
			w.WriteHeader(200)
		}))
		defer recv.Close()
		dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprint(w, "permanently broken")
		}))
		defer dead.Close()
		for _, s := range []string{
			fmt.Sprintf(`{"topic":%q,"url":%q,"secret":"whsec_c2VjcmV0","max_attempts":5}`, hookTopic, recv.URL),
			fmt.Sprintf(`{"topic":%q,"url":%q,"max_attempts":2}`, deadTopic, dead.URL),
		} {
			if status, body := p.post(t, "/v1/subscriptions", "application/json", s); status != 201 {
				t.Fatalf("%d %s", status, body)
			}
		}
		const perKey = 20
		var recs []string
		for i := range perKey {
			for _, k := range []string{"a", "b", "c"} {
				recs = append(recs, fmt.Sprintf(`{"key":%q,"value":{"k":%q,"i":%d}}`, k, k, i))
			}
		}
		if status, body := p.post(t, "/topics/"+hookTopic, "application/vnd.kafka.json.v2+json", `{"records":[`+strings.Join(recs, ",")+`]}`); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		if status, body := p.post(t, "/topics/"+deadTopic, "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"cG9pc29u"}]}`); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		waitFor(t, 30*time.Second, "deliveries under way", func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) < 10 {
				return fmt.Errorf("%d delivered", len(got))
			}
			return nil
		})
		p.kill9AndRestart()
		close(slow)
		distinct := func() map[string]bool {
			mu.Lock()
			defer mu.Unlock()
			m := map[string]bool{}
			for _, g := range got {
				m[g] = true
			}
			return m
		}
		waitFor(t, 60*time.Second, "every record delivered after kill -9", func() error {
			if n := len(distinct()); n < 3*perKey {
				return fmt.Errorf("%d of %d distinct", n, 3*perKey)
			}
			return nil
		})
		// Each key's first deliveries are in order (a kill -9 may repeat a
		// suffix, never reorder what the receiver first saw).
		mu.Lock()
		seen := map[string]int{"a": -1, "b": -1, "c": -1}
		firsts := map[string]bool{}
		for _, g := range got {
			if firsts[g] {
				continue
			}
			firsts[g] = true
			var v struct {
				K string
				I int
			}
			_ = json.Unmarshal([]byte(g), &v)
			if v.I != seen[v.K]+1 {
				mu.Unlock()
				t.Fatalf("key %s: %d after %d", v.K, v.I, seen[v.K])
			}
			seen[v.K] = v.I
		}
		mu.Unlock()
		letters := kcatRecords(ctx, t, kcat, kafka, "_mesh.dlq."+deadTopic, 1)
		if e := kcatHeader(letters[0], "mesh_dlq_error"); !strings.Contains(e, "HTTP 500") || !strings.Contains(e, "permanently broken") || letters[0]["payload"] != "poison" {
			t.Fatalf("dead letter %v", letters[0])
		}
	})

	t.Run("idempotent retry after kill -9", func(t *testing.T) {
		body := `{"records":[{"key":"aWRlbQ==","value":"b25jZQ=="}]}`
		s1, b1 := p.post(t, "/topics/"+avroTopic, "application/vnd.kafka.binary.v2+json", body, "Idempotency-Key", "it-"+suffix)
		p.kill9AndRestart()
		s2, b2 := p.post(t, "/topics/"+avroTopic, "application/vnd.kafka.binary.v2+json", body, "Idempotency-Key", "it-"+suffix)
		if s1 != 200 || s2 != 200 || !bytes.Equal(b1, b2) {
			t.Fatalf("first %d %s, retry %d %s", s1, b1, s2, b2)
		}
		recs := kcatRecords(ctx, t, kcat, kafka, avroTopic, 3, "-X", "isolation.level=read_committed")
		n := 0
		for _, r := range recs {
			if r["payload"] == "once" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the idempotent record is in Kafka %d times", n)
		}
	})

	t.Run("bad input is a clear 4xx", func(t *testing.T) {
		cases := []struct {
			name, path, ct, body string
			status               int
		}{
			{"malformed json", "/topics/" + topic, "application/vnd.kafka.json.v2+json", `{"records":[`, 400},
			{"wrong content type", "/topics/" + topic, "text/csv", `a,b`, 415},
			{"unknown topic", "/topics/it.rest.none." + suffix, "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"YQ=="}]}`, 404},
			{"bad base64", "/topics/" + topic, "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"***"}]}`, 422},
			{"oversized", "/topics/" + topic, "application/vnd.kafka.json.v2+json", `{"records":[{"value":"` + strings.Repeat("x", 70000) + `"}]}`, 413},
		}
		for _, c := range cases {
			status, body := p.post(t, c.path, c.ct, c.body)
			if status != c.status || !strings.Contains(string(body), `"error_code"`) {
				t.Errorf("%s: %d %s", c.name, status, body)
			}
		}
		req, _ := http.NewRequest("GET", p.url+"/topics", nil)
		req.Header.Set("X-Big", strings.Repeat("h", 10<<20))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("10 MB header: %d", resp.StatusCode)
			}
			resp.Body.Close()
		}
		// A client that stops sending its body gets 408 after read_timeout.
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /topics/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.binary.v2+json\r\nContent-Length: 100\r\n\r\n{\"rec", topic)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		reply, _ := io.ReadAll(conn)
		if !strings.HasPrefix(string(reply), "HTTP/1.1 408") || !strings.Contains(string(reply), `"error_code":408`) {
			t.Errorf("slow client: %q", reply)
		}
		if resp, err := http.Get(p.url + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("server down after bad input: %v", err)
		}
	})

	t.Run("schemathesis finds nothing outside the document", func(t *testing.T) {
		st := schemathesisPath(t)
		cmd := exec.CommandContext(ctx, st, "run", p.url+"/openapi.json", "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
			"--max-examples", "15", "--request-timeout", "20", "--phases", "examples,fuzzing", "--no-color")
		cmd.Dir = t.TempDir() // it keeps a cache (.schemathesis) where it runs
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("schemathesis: %v\n%s", err, lastLines(out, 80))
		}
	})
}

// schemathesisPath finds the schemathesis CLI that deploy/dev/install.sh
// installs in its own venv.
func schemathesisPath(t *testing.T) string {
	if p := os.Getenv("MESH_E2E_SCHEMATHESIS"); p != "" {
		return p
	}
	cache := os.Getenv("MESHWORK_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "meshwork")
	}
	p := filepath.Join(cache, "schemathesis", "bin", "schemathesis")
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("schemathesis not installed (%v): run deploy/dev/install.sh", err)
	}
	return p
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
