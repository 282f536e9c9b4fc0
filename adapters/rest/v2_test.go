package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// Binary and JSON records land in Kafka as sent, keyed records on the
// partition Kafka's Java client would choose, with the mesh's envelope.
func TestV2ProduceBinaryAndJSON(t *testing.T) {
	e := newEnv(t, nil, nil)
	status, hdr, body := e.do("POST", "/topics/orders", mediaBinaryV2,
		[]byte(`{"records":[{"key":"a2V5","value":"aGVsbG8="},{"value":"d29ybGQ=","partition":2}]}`))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != contentTypeV2 {
		t.Fatalf("content type %q", ct)
	}
	var resp v2Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Offsets) != 2 || resp.Offsets[0].Offset == nil || *resp.Offsets[0].Partition != keyPartition([]byte("key"), 3) ||
		*resp.Offsets[1].Partition != 2 || resp.Offsets[1].ErrorCode != nil {
		t.Fatalf("response %s", body)
	}
	if !strings.Contains(string(body), `"key_schema_id":null`) || !strings.Contains(string(body), `"error_code":null`) {
		t.Fatalf("the proxy's nulls are missing: %s", body)
	}
	status, _, body = e.do("POST", "/topics/orders/partitions/1", mediaJSONV2,
		[]byte(`{"records":[{"key":{"id": 1},"value":{"total": 12.5, "items": [1, 2]}}]}`))
	if status != 200 || !strings.Contains(string(body), `"partition":1`) {
		t.Fatalf("status %d: %s", status, body)
	}
	recs := kafkatest.Read(t, e.kafka, "orders", 3, 10*time.Second)
	byValue := map[string]*kgo.Record{}
	for _, r := range recs {
		byValue[string(r.Value)] = r
	}
	if r := byValue["hello"]; r == nil || string(r.Key) != "key" || r.Partition != keyPartition([]byte("key"), 3) {
		t.Fatalf("binary record: %+v", r)
	}
	if r := byValue["world"]; r == nil || r.Key != nil || r.Partition != 2 {
		t.Fatalf("unkeyed record: %+v", r)
	}
	r := byValue[`{"total":12.5,"items":[1,2]}`]
	if r == nil || string(r.Key) != `{"id":1}` || r.Partition != 1 || header(r, "content-type") != "application/json" {
		t.Fatalf("json record: %+v", r)
	}
	for _, r := range recs {
		if header(r, "ce_id") == "" || header(r, "mesh_origin") != "east" || header(r, "ce_type") != "orders" || header(r, "traceparent") == "" {
			t.Fatalf("envelope missing: %v", r.Headers)
		}
	}
	// Topic listing.
	status, _, body = e.do("GET", "/topics", "", nil)
	if status != 200 || string(body) != "[\"orders\",\"plain\"]\n" {
		t.Fatalf("topics %d: %s", status, body)
	}
	status, _, body = e.do("GET", "/topics/orders/partitions", "", nil)
	if status != 200 || !strings.Contains(string(body), `"partition":2`) {
		t.Fatalf("partitions %d: %s", status, body)
	}
	status, _, body = e.do("GET", "/topics/orders", "", nil)
	if status != 200 || !strings.Contains(string(body), `"name":"orders"`) {
		t.Fatalf("topic %d: %s", status, body)
	}
}

// Every bad request is a clear 4xx in the proxy's format, and nothing of
// it is written.
func TestV2BadRequests(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.MaxBodyBytes = 4096 })
	cases := []struct {
		name, path, ct, body string
		status, code         int
	}{
		{"unknown topic", "/topics/nope", mediaBinaryV2, `{"records":[{"value":"YQ=="}]}`, 404, CodeTopicNotFound},
		{"unknown partition", "/topics/orders/partitions/7", mediaBinaryV2, `{"records":[{"value":"YQ=="}]}`, 404, CodePartitionNotFound},
		{"record partition", "/topics/orders", mediaBinaryV2, `{"records":[{"value":"YQ=="},{"value":"YQ==","partition":9}]}`, 404, CodePartitionNotFound},
		{"wrong content type", "/topics/orders", "text/plain", `{"records":[{"value":"YQ=="}]}`, 415, CodeUnsupportedType},
		{"protobuf", "/topics/orders", mediaProtobufV2, `{"records":[{"value":{}}]}`, 415, CodeUnsupportedType},
		{"malformed json", "/topics/orders", mediaJSONV2, `{"records":[{"value":`, 400, CodeBadRequest},
		{"two objects", "/topics/orders", mediaJSONV2, `{"records":[{"value":1}]} {}`, 400, CodeBadRequest},
		{"records not a list", "/topics/orders", mediaJSONV2, `{"records":{"value":1}}`, 422, CodeUnprocessable},
		{"no records", "/topics/orders", mediaJSONV2, `{"records":[]}`, 422, CodeUnprocessable},
		{"bad base64", "/topics/orders", mediaBinaryV2, `{"records":[{"value":"YQ=="},{"value":"not base64!"}]}`, 422, CodeUnprocessable},
		{"internal topic", "/topics/_mesh.interest", mediaBinaryV2, `{"records":[{"value":"YQ=="}]}`, 403, CodeForbidden},
		{"too large", "/topics/orders", mediaJSONV2, `{"records":[{"value":"` + strings.Repeat("x", 5000) + `"}]}`, 413, CodeTooLarge},
		{"avro without registry", "/topics/orders", mediaAvroV2, `{"value_schema_id":1,"records":[{"value":1}]}`, 415, CodeUnsupportedType},
		{"no route", "/nothing/here", mediaJSONV2, `{}`, 404, CodeNotFound},
		{"wrong method", "/topics", mediaJSONV2, `{}`, 405, CodeMethodNotAllowed},
	}
	for _, c := range cases {
		status, _, body := e.do("POST", c.path, c.ct, []byte(c.body))
		if status != c.status || errorCode(t, body) != c.code {
			t.Errorf("%s: got %d %s, want %d %d", c.name, status, body, c.status, c.code)
		}
	}
	if n := e.ends("orders"); n != 0 {
		t.Fatalf("%d records written by bad requests", n)
	}
}

// A request is answered only once Kafka acknowledged its records, and the
// window of records in flight turns into 429 with Retry-After, never into
// unbounded waiting.
func TestV2AnswersAfterKafkaAcksAnd429WhenFull(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfakeTopics("orders")...)
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	td, err := kadm.NewClient(kafkatest.Client(t, cluster)).ListTopics(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	ordersID := td["orders"].ID
	held := make(chan struct{}, 1)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			if t.Topic == "orders" || t.TopicID == ordersID {
				select {
				case held <- struct{}{}:
				default:
				}
				cluster.SleepControl(func() { <-gate })
			}
		}
		return nil, nil, false
	})
	e := newEnv(t, cluster, func(c *Config) { c.MaxInFlight = 3; c.RetryAfter = 2 * time.Second })
	answered := make(chan int, 1)
	go func() {
		status, _, _ := e.do("POST", "/topics/orders", mediaBinaryV2, []byte(`{"records":[{"value":"YQ=="},{"value":"Yg=="}]}`))
		answered <- status
	}()
	// While Kafka holds the first request's records, a request that does
	// not fit in the window is turned away at once.
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request's records never reached Kafka")
	}
	status, hdr, body := e.do("POST", "/topics/orders", mediaBinaryV2, []byte(`{"records":[{"value":"YQ=="},{"value":"Yg=="}]}`))
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") != "2" || errorCode(t, body) != CodeTooManyRequests {
		t.Fatalf("want 429 with Retry-After 2 while the window is full, got %d %v %s", status, hdr, body)
	}
	select {
	case s := <-answered:
		t.Fatalf("answered %d before Kafka acknowledged", s)
	case <-time.After(200 * time.Millisecond):
	}
	status, _, body = e.do("POST", "/topics/orders", mediaBinaryV2, []byte(`{"records":[{"value":"YQ=="},{"value":"Yg=="},{"value":"Yw=="},{"value":"ZA=="}]}`))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a request over the whole window: %d %s", status, body)
	}
	open()
	select {
	case s := <-answered:
		if s != 200 {
			t.Fatalf("status %d", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer after Kafka acknowledged")
	}
}

func kfakeTopics(topics ...string) []kfakeOpt { return []kfakeOpt{seedTopics(3, topics...)} }

var _ = fmt.Sprint
