package rest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// Existing REST Proxy consumer code works: create an instance, subscribe,
// read records in its format, commit, query the committed offsets,
// delete; idle instances expire.
func TestV2Consumers(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(1, "orders"))
	e := newEnv(t, cluster, func(c *Config) { c.Consumers.IdleTimeout = 2 * time.Second })
	kafkatest.Produce(t, kafkatest.Client(t, cluster), &kgo.Record{Topic: "orders", Key: []byte("k1"), Value: []byte(`{"n":1}`)},
		&kgo.Record{Topic: "orders", Value: []byte(`{"n":2}`)})
	status, _, body := e.do("POST", "/consumers/shop", contentTypeV2, []byte(`{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`))
	if status != 200 || !strings.Contains(string(body), `"base_uri":"`+e.srv.URL+`/consumers/shop/instances/c1"`) {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, _, body := e.do("POST", "/consumers/shop", contentTypeV2, []byte(`{"name":"c1"}`)); status != 409 || errorCode(t, body) != CodeConsumerExists {
		t.Fatalf("duplicate: %d %s", status, body)
	}
	base := "/consumers/shop/instances/c1"
	if status, _, body := e.do("POST", base+"/subscription", contentTypeV2, []byte(`{"topics":["orders"]}`)); status != 204 {
		t.Fatalf("subscribe: %d %s", status, body)
	}
	if status, _, body := e.do("GET", base+"/records", "", nil, "Accept", mediaBinaryV2); status != 406 || errorCode(t, body) != CodeConsumerFormat {
		t.Fatalf("format mismatch: %d %s", status, body)
	}
	var got []v2Consumed
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		status, _, body := e.do("GET", base+"/records?timeout=500", "", nil, "Accept", mediaJSONV2)
		if status != 200 {
			t.Fatalf("records: %d %s", status, body)
		}
		var batch []v2Consumed
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Fatal(err)
		}
		got = append(got, batch...)
	}
	if len(got) != 2 || string(got[0].Key) != `"k1"` || string(got[0].Value) != `{"n":1}` || string(got[1].Key) != "null" {
		t.Fatalf("records %+v", got)
	}
	if status, _, body := e.do("POST", base+"/offsets", contentTypeV2, []byte(`{"offsets":[{"topic":"orders","partition":0,"offset":1}]}`)); status != 200 {
		t.Fatalf("commit: %d %s", status, body)
	}
	status, _, body = e.do("GET", base+"/offsets", contentTypeV2, []byte(`{"partitions":[{"topic":"orders","partition":0}]}`))
	if status != 200 || !strings.Contains(string(body), `"offset":2`) { // the next to read, as REST Proxy answers
		t.Fatalf("committed: %d %s", status, body)
	}
	if status, _, _ := e.do("DELETE", base, "", nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _, body := e.do("GET", base+"/records", "", nil); status != 404 || errorCode(t, body) != CodeConsumerNotFound {
		t.Fatalf("deleted: %d %s", status, body)
	}
	// An idle instance expires.
	if status, _, _ := e.do("POST", "/consumers/shop", contentTypeV2, []byte(`{"name":"idle"}`)); status != 200 {
		t.Fatal(status)
	}
	waitFor(t, func() bool {
		e.a.consumers.mu.Lock()
		defer e.a.consumers.mu.Unlock()
		return len(e.a.consumers.by) == 0
	})
	if status, _, _ := e.do("GET", "/consumers/shop/instances/idle/subscription", "", nil); status != 404 {
		t.Fatalf("expired instance answered %d", status)
	}
}
