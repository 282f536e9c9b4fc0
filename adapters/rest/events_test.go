package rest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestCloudEventsModes(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(2, "shop.order.created", "shop.order.paid", "audit"))
	e := newEnv(t, cluster, func(c *Config) {
		c.Events = []EventRule{{Type: "shop.order.*", Topic: "{type}"}}
	})
	// Binary mode without an id: one is assigned and answered.
	status, _, body := e.do("POST", "/events", "application/json", []byte(`{"order":1}`),
		"Ce-Specversion", "1.0", "Ce-Type", "shop.order.created", "Ce-Source", "/shop/web", "Ce-Partitionkey", "order-1",
		"Mesh-Origin", "west", "Ce-Tenant", "acme")
	var ans eventAnswer
	if err := json.Unmarshal(body, &ans); status != 200 || err != nil || ans.ID == "" || ans.Topic != "shop.order.created" {
		t.Fatalf("binary: %d %s", status, body)
	}
	r := kafkatest.Read(t, cluster, "shop.order.created", 1, 10*time.Second)[0]
	if header(r, "ce_id") != ans.ID || header(r, "ce_source") != "/shop/web" || header(r, "ce_tenant") != "acme" ||
		header(r, "mesh_origin") != "east" || string(r.Key) != "order-1" || string(r.Value) != `{"order":1}` || header(r, "content-type") != "application/json" {
		t.Fatalf("binary record: key %q value %q headers %v", r.Key, r.Value, r.Headers)
	}
	// Structured mode keeps the event's own id.
	status, _, body = e.do("POST", "/topics/audit/events", mediaCloudEvent,
		[]byte(`{"specversion":"1.0","id":"e-42","source":"/x","type":"anything","datacontenttype":"text/plain","data":"hello","priority":3}`))
	if status != 200 || !strings.Contains(string(body), `"id":"e-42"`) {
		t.Fatalf("structured: %d %s", status, body)
	}
	r = kafkatest.Read(t, cluster, "audit", 1, 10*time.Second)[0]
	if string(r.Value) != "hello" || header(r, "ce_id") != "e-42" || header(r, "ce_priority") != "3" || header(r, "content-type") != "text/plain" {
		t.Fatalf("structured record: %q %v", r.Value, r.Headers)
	}
	// A batch is routed event by event.
	status, _, body = e.do("POST", "/events", mediaCloudEventBatch, []byte(`[
		{"specversion":"1.0","id":"b1","source":"/x","type":"shop.order.created","data":{"n":1}},
		{"specversion":"1.0","source":"/x","type":"shop.order.paid","data_base64":"AAE="}]`))
	var batch struct {
		Events []eventAnswer `json:"events"`
	}
	if err := json.Unmarshal(body, &batch); status != 200 || err != nil || len(batch.Events) != 2 || batch.Events[1].ID == "" || batch.Events[1].Topic != "shop.order.paid" {
		t.Fatalf("batch: %d %s", status, body)
	}
	r = kafkatest.Read(t, cluster, "shop.order.paid", 1, 10*time.Second)[0]
	if string(r.Value) != "\x00\x01" || header(r, "ce_id") != batch.Events[1].ID {
		t.Fatalf("batch record %q %v", r.Value, r.Headers)
	}
	// Refusals: no rule, not a CloudEvent, malformed attributes. Nothing written.
	cases := []struct {
		name, path, ct, body string
		hdr                  []string
		status, code         int
	}{
		{"no rule", "/events", mediaCloudEvent, `{"specversion":"1.0","id":"x","source":"/x","type":"billing.invoice"}`, nil, 422, CodeNoEventRoute},
		{"no rule in batch", "/events", mediaCloudEventBatch, `[{"specversion":"1.0","id":"x","source":"/x","type":"shop.order.created"},{"specversion":"1.0","id":"y","source":"/x","type":"other"}]`, nil, 422, CodeNoEventRoute},
		{"not an event", "/events", "application/json", `{}`, nil, 415, CodeUnsupportedType},
		{"bad version", "/events", mediaCloudEvent, `{"specversion":"0.3","id":"x","source":"/x","type":"shop.order.created"}`, nil, 400, CodeBadRequest},
		{"bad time", "/events", "text/plain", `x`, []string{"Ce-Specversion", "1.0", "Ce-Type", "shop.order.created", "Ce-Source", "/x", "Ce-Time", "yesterday"}, 400, CodeBadRequest},
		{"bad base64", "/topics/audit/events", mediaCloudEvent, `{"specversion":"1.0","id":"x","source":"/x","type":"t","data_base64":"!!"}`, nil, 400, CodeBadRequest},
	}
	for _, c := range cases {
		status, _, body := e.do("POST", c.path, c.ct, []byte(c.body), c.hdr...)
		if status != c.status || errorCode(t, body) != c.code {
			t.Errorf("%s: %d %s, want %d %d", c.name, status, body, c.status, c.code)
		}
	}
	if n := e.ends("shop.order.created"); n != 2 {
		t.Fatalf("%d records in shop.order.created, want 2", n)
	}
}
