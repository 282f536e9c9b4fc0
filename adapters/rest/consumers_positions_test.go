package rest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

// readOffsets reads the instance's records until one satisfies done or
// 15 s pass, and returns the offsets read, in order.
func (e *env) readOffsets(base string, done func([]int64) bool) []int64 {
	e.t.Helper()
	var got []int64
	deadline := time.Now().Add(15 * time.Second)
	for !done(got) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: read offsets %v, never what the test waits for", base, got)
		}
		status, _, body := e.do("GET", base+"/records?timeout=300", "", nil, "Accept", mediaBinaryV2)
		if status != 200 {
			e.t.Fatalf("records: %d %s", status, body)
		}
		var batch []v2Consumed
		if err := json.Unmarshal(body, &batch); err != nil {
			e.t.Fatal(err)
		}
		for _, r := range batch {
			got = append(got, r.Offset)
		}
	}
	return got
}

func atLeast(n int) func([]int64) bool { return func(o []int64) bool { return len(o) >= n } }

func (e *env) expect(method, path, body string, status, code int) []byte {
	e.t.Helper()
	got, _, resp := e.do(method, path, contentTypeV2, []byte(body))
	if got != status || code != 0 && errorCode(e.t, resp) != code {
		e.t.Fatalf("%s %s %s: %d %s, want %d %d", method, path, body, got, resp, status, code)
	}
	return resp
}

// A subscribed instance moves its positions as REST Proxy's do: to the
// beginning (also for a new group at auto.offset.reset latest that has
// read nothing, which franz-go alone would ignore), to an offset, to a
// time, to the end; it lists its assignment; seeking a partition it does
// not read, or assigning partitions by hand while subscribed, is 409
// 40903.
func TestV2ConsumerPositionsSubscribed(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(1, "orders"))
	e := newEnv(t, cluster, nil)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "v%d", i), Timestamp: t0.Add(time.Duration(i) * time.Minute)})
	}
	kafkatest.Produce(t, kafkatest.Client(t, cluster), recs...)
	e.expect("POST", "/consumers/shop", `{"name":"c1","auto.commit.enable":"false"}`, 200, 0)
	base := "/consumers/shop/instances/c1"
	e.expect("POST", base+"/positions/beginning", `{"partitions":[{"topic":"orders","partition":0}]}`, 409, CodeIllegalState)
	e.expect("POST", base+"/subscription", `{"topics":["orders"]}`, 204, 0)

	// A new member has its partitions after its first reads; at latest,
	// it reads nothing of what was there before.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := e.readOffsets(base, func([]int64) bool { return true }); len(got) != 0 {
			t.Fatalf("auto.offset.reset latest read %v", got)
		}
		if _, _, body := e.do("GET", base+"/assignments", "", nil); string(body) == `{"partitions":[{"topic":"orders","partition":0}]}`+"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no assignment within 15 s")
		}
	}
	e.expect("POST", base+"/positions/beginning", `{"partitions":[{"topic":"orders","partition":0}]}`, 204, 0)
	if got := e.readOffsets(base, atLeast(5)); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("after seeking to the beginning: %v", got)
	}
	e.expect("POST", base+"/positions", `{"offsets":[{"topic":"orders","partition":0,"offset":3}]}`, 204, 0)
	if got := e.readOffsets(base, atLeast(2)); fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("after seeking to offset 3: %v", got)
	}
	at := t0.Add(90 * time.Second).UTC().Format(time.RFC3339)
	e.expect("POST", base+"/positions", `{"timestamps":[{"topic":"orders","partition":0,"timestamp":"`+at+`"}]}`, 204, 0)
	if got := e.readOffsets(base, atLeast(3)); fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("after seeking to %s (between records 1 and 2): %v", at, got)
	}
	e.expect("POST", base+"/positions/beginning", `{"partitions":[{"topic":"orders","partition":0}]}`, 204, 0)
	e.expect("POST", base+"/positions/end", `{"partitions":[{"topic":"orders","partition":0}]}`, 204, 0)
	kafkatest.Produce(t, kafkatest.Client(t, cluster), &kgo.Record{Topic: "orders", Value: []byte("new")})
	if got := e.readOffsets(base, atLeast(1)); fmt.Sprint(got) != "[5]" {
		t.Fatalf("after seeking to the end and one new record: %v", got)
	}

	e.expect("POST", base+"/positions", `{"offsets":[{"topic":"orders","partition":7,"offset":0}]}`, 409, CodeIllegalState)
	e.expect("POST", base+"/positions", `{"offsets":[{"topic":"orders","partition":0,"offset":-1}]}`, 422, CodeUnprocessable)
	e.expect("POST", base+"/positions", `{}`, 422, CodeUnprocessable)
	e.expect("POST", base+"/positions/end", `{"partitions":[]}`, 422, CodeUnprocessable)
	e.expect("POST", base+"/assignments", `{"partitions":[{"topic":"orders","partition":0}]}`, 409, CodeIllegalState)
	if _, _, body := e.do("DELETE", base+"/subscription", "", nil); len(body) != 0 {
		t.Fatalf("unsubscribe: %s", body)
	}
	if _, _, body := e.do("GET", base+"/assignments", "", nil); string(body) != `{"partitions":[]}`+"\n" {
		t.Fatalf("assignments after unsubscribing: %s", body)
	}
}

// An instance given partitions by hand reads them from the group's
// committed offset (or auto.offset.reset's), seeks, commits to its group
// without joining it, and cannot subscribe until the assignment ends.
func TestV2ConsumerManualAssignment(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(2, "orders"))
	e := newEnv(t, cluster, nil)
	var recs []*kgo.Record
	for i := range 4 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 1, Value: fmt.Appendf(nil, "v%d", i)})
	}
	kafkatest.Produce(t, kafkatest.Client(t, cluster, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)

	e.expect("POST", "/consumers/billing", `{"name":"m1","auto.offset.reset":"earliest","auto.commit.enable":"false"}`, 200, 0)
	base := "/consumers/billing/instances/m1"
	e.expect("POST", base+"/assignments", `{"partitions":[{"topic":"orders","partition":9}]}`, 404, CodePartitionNotFound)
	e.expect("POST", base+"/assignments", `{"partitions":[{"topic":"nope","partition":0}]}`, 404, CodeTopicNotFound)
	e.expect("POST", base+"/assignments", `{"partitions":[{"topic":"orders","partition":1}]}`, 204, 0)
	if body := e.expect("GET", base+"/assignments", "", 200, 0); string(body) != `{"partitions":[{"topic":"orders","partition":1}]}`+"\n" {
		t.Fatalf("assignments: %s", body)
	}
	if body := e.expect("GET", base+"/subscription", "", 200, 0); string(body) != `{"topics":[]}`+"\n" {
		t.Fatalf("subscription of a hand-assigned instance: %s", body)
	}
	e.expect("POST", base+"/subscription", `{"topics":["orders"]}`, 409, CodeIllegalState)
	if got := e.readOffsets(base, atLeast(4)); fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("read %v", got)
	}
	e.expect("POST", base+"/positions", `{"offsets":[{"topic":"orders","partition":1,"offset":2}]}`, 204, 0)
	if got := e.readOffsets(base, atLeast(2)); fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("after seeking to 2: %v", got)
	}
	e.expect("POST", base+"/positions", `{"offsets":[{"topic":"orders","partition":0,"offset":0}]}`, 409, CodeIllegalState)
	e.expect("POST", base+"/offsets", ``, 200, 0)
	if body := e.expect("GET", base+"/offsets", `{"partitions":[{"topic":"orders","partition":1}]}`, 200, 0); !strings.Contains(string(body), `"offset":4`) {
		t.Fatalf("committed after reading everything: %s", body)
	}

	// A second instance of the group, assigned the same partition, starts
	// at the committed offset.
	e.expect("POST", "/consumers/billing", `{"name":"m2","auto.offset.reset":"earliest"}`, 200, 0)
	e.expect("POST", "/consumers/billing/instances/m2/assignments", `{"partitions":[{"topic":"orders","partition":1}]}`, 204, 0)
	e.expect("POST", "/consumers/billing/instances/m2/positions/beginning", `{"partitions":[{"topic":"orders","partition":1}]}`, 204, 0)
	if got := e.readOffsets("/consumers/billing/instances/m2", atLeast(4)); fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("m2 after seeking to the beginning: %v", got)
	}
	e.expect("POST", "/consumers/billing/instances/m2/positions/end", `{"partitions":[{"topic":"orders","partition":1}]}`, 204, 0)
	if got := e.readOffsets("/consumers/billing/instances/m2", func([]int64) bool { return true }); len(got) != 0 {
		t.Fatalf("m2 at the end read %v", got)
	}

	e.expect("DELETE", base+"/subscription", "", 204, 0)
	if body := e.expect("GET", base+"/assignments", "", 200, 0); string(body) != `{"partitions":[]}`+"\n" {
		t.Fatalf("assignments after unsubscribing: %s", body)
	}
	e.expect("POST", base+"/subscription", `{"topics":["orders"]}`, 204, 0)
}
