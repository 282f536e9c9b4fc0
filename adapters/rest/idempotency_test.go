package rest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// A request sent again with its Idempotency-Key gets the first answer and
// writes nothing, also at a replica that started after the first answer
// (the answers live in Kafka); the same key with another body is refused.
func TestIdempotencyKey(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(2, "orders"))
	e := newEnv(t, cluster, func(c *Config) { c.InstanceID = "a" })
	body := []byte(`{"records":[{"key":"azE=","value":"b25l"},{"value":"dHdv"}]}`)
	status, hdr, first := e.do("POST", "/topics/orders", mediaBinaryV2, body, "Idempotency-Key", "req-1")
	if status != 200 || hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("%d %s", status, first)
	}
	written := e.ends("orders")
	status, hdr, again := e.do("POST", "/topics/orders", mediaBinaryV2, body, "Idempotency-Key", "req-1")
	if status != 200 || string(again) != string(first) || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s (first %s)", status, again, first)
	}
	// Another replica (as after a restart) knows the answer from Kafka.
	other := newEnv(t, cluster, func(c *Config) { c.InstanceID = "b" })
	status, _, again = other.do("POST", "/topics/orders", mediaBinaryV2, body, "Idempotency-Key", "req-1")
	if status != 200 || string(again) != string(first) {
		t.Fatalf("replay at another replica: %d %s", status, again)
	}
	status, _, refused := e.do("POST", "/topics/orders", mediaBinaryV2, []byte(`{"records":[{"value":"b3RoZXI="}]}`), "Idempotency-Key", "req-1")
	if status != http.StatusUnprocessableEntity || errorCode(t, refused) != CodeIdempotencyReuse {
		t.Fatalf("key reused: %d %s", status, refused)
	}
	if n := e.ends("orders"); n != written {
		t.Fatalf("end offsets moved from %d to %d: something was written twice", written, n)
	}
	// The records were written in a committed transaction.
	recs := kafkatest.Read(t, cluster, "orders", 2, 10*time.Second)
	cl := kafkatest.Client(t, cluster, kgo.ConsumeTopics("orders"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var committed int
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for committed < len(recs) && ctx.Err() == nil {
		committed += len(cl.PollFetches(ctx).Records())
	}
	if committed != 2 {
		t.Fatalf("%d committed records, want 2", committed)
	}
	// Events take keys too.
	ev := []byte(`{"specversion":"1.0","id":"e1","source":"/s","type":"t","data":{"n":1}}`)
	s1, _, b1 := e.do("POST", "/topics/orders/events", mediaCloudEvent, ev, "Idempotency-Key", "ev-1")
	s2, _, b2 := e.do("POST", "/topics/orders/events", mediaCloudEvent, ev, "Idempotency-Key", "ev-1")
	if s1 != 200 || s2 != 200 || string(b1) != string(b2) {
		t.Fatalf("events: %d %s / %d %s", s1, b1, s2, b2)
	}
}
