package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIntegrationRESTConsumer runs the REST Proxy v2 consumer flow of
// Confluent's quickstart with curl against mesh-rest on real Kafka:
// create an instance, subscribe, read, then move its position back to the
// beginning and to an offset and read again, list its assignment, assign
// a partition by hand to a second instance and commit from it, and delete
// both.
func TestIntegrationRESTConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka := env(t, "MESH_E2E_KAFKA_EAST")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic, group := "it.rest.consume."+suffix, "it-rest-"+suffix
	createTopics(t, kafka, 1, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, `{"n":%d}`, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	port := freePorts(t, 1)[0]
	p := startREST(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-rest"), port, kafka, "", suffix)

	// curl runs curl and returns the status and the body.
	curl := func(method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		args := []string{"-sS", "--max-time", "20", "-X", method, "-w", "\n%{http_code}"}
		for _, h := range hdr {
			args = append(args, "-H", h)
		}
		if body != "" {
			args = append(args, "-H", "Content-Type: application/vnd.kafka.v2+json", "--data", body)
		}
		out, err := tryRun(ctx, nil, "curl", append(args, p.url+path)...)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.TrimRight(string(out), "\n")
		i := strings.LastIndexByte(text, '\n')
		status, _ := strconv.Atoi(text[i+1:])
		return status, strings.TrimRight(text[:max(i, 0)], "\n")
	}
	expect := func(method, path, body string, want int) string {
		t.Helper()
		status, out := curl(method, path, body)
		if status != want {
			t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, status, out, want)
		}
		return out
	}
	// read reads records in JSON until n arrived, and returns their offsets.
	read := func(base string, n int) []int64 {
		t.Helper()
		var offs []int64
		waitFor(t, 30*time.Second, fmt.Sprintf("%d records at %s", n, base), func() error {
			status, out := curl("GET", base+"/records?timeout=1000", "", "Accept: application/vnd.kafka.json.v2+json")
			if status != 200 {
				t.Fatalf("records: %d %s", status, out)
			}
			var recs []struct {
				Offset int64           `json:"offset"`
				Value  json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal([]byte(out), &recs); err != nil {
				t.Fatalf("records: %v: %s", err, out)
			}
			for _, r := range recs {
				if string(r.Value) != fmt.Sprintf(`{"n":%d}`, r.Offset) {
					t.Fatalf("record %d has value %s", r.Offset, r.Value)
				}
				offs = append(offs, r.Offset)
			}
			if len(offs) < n {
				return fmt.Errorf("%d records", len(offs))
			}
			return nil
		})
		return offs
	}

	out := expect("POST", "/consumers/"+group, `{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`, 200)
	var created struct {
		BaseURI string `json:"base_uri"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.BaseURI, p.url+"/consumers/") {
		t.Fatalf("create: %s", out)
	}
	base := strings.TrimPrefix(created.BaseURI, p.url)
	expect("POST", base+"/subscription", `{"topics":["`+topic+`"]}`, 204)
	if got := read(base, 5); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("first read: %v", got)
	}
	if out := expect("GET", base+"/assignments", "", 200); out != `{"partitions":[{"topic":"`+topic+`","partition":0}]}` {
		t.Fatalf("assignments: %s", out)
	}
	expect("POST", base+"/positions/beginning", `{"partitions":[{"topic":"`+topic+`","partition":0}]}`, 204)
	if got := read(base, 5); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("after seeking to the beginning: %v", got)
	}
	expect("POST", base+"/positions", `{"offsets":[{"topic":"`+topic+`","partition":0,"offset":3}]}`, 204)
	if got := read(base, 2); fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("after seeking to offset 3: %v", got)
	}
	expect("POST", base+"/offsets", `{"offsets":[{"topic":"`+topic+`","partition":0,"offset":4}]}`, 200)
	expect("DELETE", base, "", 204)

	// A second instance assigned the partition by hand starts at the
	// group's committed offset (5: after offset 4), seeks back, and
	// commits what it read without joining the group.
	expect("POST", "/consumers/"+group, `{"name":"c2","format":"json"}`, 200)
	base = "/consumers/" + group + "/instances/c2"
	expect("POST", base+"/assignments", `{"partitions":[{"topic":"`+topic+`","partition":0}]}`, 204)
	if status, out := curl("GET", base+"/records?timeout=1000", "", "Accept: application/vnd.kafka.json.v2+json"); status != 200 || out != "[]" {
		t.Fatalf("c2 at the committed offset read %d %s", status, out)
	}
	expect("POST", base+"/positions", `{"offsets":[{"topic":"`+topic+`","partition":0,"offset":1}]}`, 204)
	if got := read(base, 4); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("c2 after seeking to offset 1: %v", got)
	}
	expect("POST", base+"/offsets", `{"offsets":[{"topic":"`+topic+`","partition":0,"offset":2}]}`, 200)
	if out := expect("GET", base+"/offsets", `{"partitions":[{"topic":"`+topic+`","partition":0}]}`, 200); !strings.Contains(out, `"offset":3`) {
		t.Fatalf("committed: %s", out)
	}
	expect("DELETE", base, "", 204)
}
