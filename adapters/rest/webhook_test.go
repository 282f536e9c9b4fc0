package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// receiver is a webhook endpoint that verifies signatures with the
// Standard Webhooks library and answers as fail says.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	verify *standardwebhooks.Webhook
	mu     sync.Mutex
	got    []delivery
	fail   func(d delivery, attempt int) (int, string) // status and Retry-After
	tries  map[string]int
}

type delivery struct {
	id, key, body, ceID, ceType, origin string
	at                                  time.Time
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newReceiver(t *testing.T, fail func(d delivery, attempt int) (int, string)) *receiver {
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, verify: wh, fail: fail, tries: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := rc.verify.Verify(body, r.Header); err != nil {
			t.Errorf("signature not verified by the Standard Webhooks library: %v", err)
			w.WriteHeader(400)
			return
		}
		d := delivery{id: r.Header.Get("Webhook-Id"), key: r.Header.Get("Ce-Partitionkey"), body: string(body),
			ceID: r.Header.Get("Ce-Id"), ceType: r.Header.Get("Ce-Type"), origin: r.Header.Get("Mesh-Origin"), at: time.Now()}
		rc.mu.Lock()
		rc.tries[d.id]++
		attempt := rc.tries[d.id]
		rc.mu.Unlock()
		if rc.fail != nil {
			if status, ra := rc.fail(d, attempt); status != 0 {
				if ra != "" {
					w.Header().Set("Retry-After", ra)
				}
				w.WriteHeader(status)
				fmt.Fprint(w, "receiver says no")
				return
			}
		}
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *receiver) waitFor(n int, timeout time.Duration) []delivery {
	rc.t.Helper()
	deadline := time.Now().Add(timeout)
	for len(rc.deliveries()) < n {
		if time.Now().After(deadline) {
			rc.t.Fatalf("%d of %d deliveries after %s", len(rc.deliveries()), n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rc.deliveries()
}

func webhookEnv(t *testing.T, cluster *kfake.Cluster, mod func(*Config)) *env {
	return newEnv(t, cluster, func(c *Config) {
		c.Webhooks.AllowTargets = []string{"127.0.0.0/8"}
		c.Webhooks.Backoff = 20 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	})
}

func (e *env) subscribe(body string) string {
	e.t.Helper()
	status, hdr, b := e.do("POST", "/v1/subscriptions", "application/json", []byte(body))
	var s subscriptionView
	if err := json.Unmarshal(b, &s); status != 201 || err != nil || s.ID == "" || hdr.Get("Location") == "" {
		e.t.Fatalf("subscribe: %d %s", status, b)
	}
	if strings.Contains(string(b), "whsec_") || !s.HasSecret {
		e.t.Fatalf("the secret must never be shown: %s", b)
	}
	return s.ID
}

// A receiver that fails the first attempts sees retries (after the pause
// its Retry-After asked for), then every event, each key's in order,
// signed so that the Standard Webhooks library verifies them.
func TestWebhookRetriesInKeyOrder(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(3, "orders"))
	var firstFail time.Time
	var mu sync.Mutex
	rc := newReceiver(t, func(d delivery, attempt int) (int, string) {
		if d.body == `{"n":"a1"}` && attempt <= 2 {
			mu.Lock()
			defer mu.Unlock()
			if attempt == 1 {
				firstFail = time.Now()
				return 503, "1"
			}
			return 500, ""
		}
		return 0, ""
	})
	e := webhookEnv(t, cluster, nil)
	// Written before the subscription was made: never delivered to it.
	if status, _, body := e.do("POST", "/topics/orders", mediaJSONV2, []byte(`{"records":[{"key":"a","value":{"n":"a0"}}]}`)); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	for before := time.Now().UnixMilli(); time.Now().UnixMilli() <= before; {
		runtime.Gosched() // the subscription is made in a later millisecond
	}
	e.subscribe(fmt.Sprintf(`{"topic":"orders","url":%q,"secret":%q,"max_attempts":5}`, rc.srv.URL+"/hook", testSecret))
	var recs []string
	for _, v := range []string{"a1", "b1", "a2", "b2", "a3"} {
		recs = append(recs, fmt.Sprintf(`{"key":%q,"value":{"n":%q}}`, v[:1], v))
	}
	if status, _, body := e.do("POST", "/topics/orders", mediaJSONV2, []byte(`{"records":[`+strings.Join(recs, ",")+`]}`)); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	got := rc.waitFor(5, 45*time.Second)
	order := map[string][]string{}
	for _, d := range got {
		var v struct{ N string }
		_ = json.Unmarshal([]byte(d.body), &v)
		order[d.key] = append(order[d.key], v.N)
		if d.ceID == "" || d.id != d.ceID || d.ceType != "orders" || d.origin != "east" {
			t.Fatalf("delivery without its envelope: %+v", d)
		}
	}
	if fmt.Sprint(order["%22a%22"]) != "[a1 a2 a3]" || fmt.Sprint(order["%22b%22"]) != "[b1 b2]" {
		t.Fatalf("key order broken: %v", order)
	}
	for _, d := range got {
		if d.body == `{"n":"a1"}` {
			mu.Lock()
			gap := d.at.Sub(firstFail)
			mu.Unlock()
			if gap < time.Second {
				t.Fatalf("Retry-After: 1 not honoured: delivered %s after the first failure", gap)
			}
		}
	}
	if n := e.a.core.RetryCount("egress"); n == nil {
		t.Fatal("no metric")
	}
}

// A receiver that always fails leaves the record in the dead-letter topic
// with the status and the body's beginning; the subscription's offsets
// move on and its status says what happened.
func TestWebhookDeadLetters(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(1, "orders"))
	rc := newReceiver(t, func(delivery, int) (int, string) { return 500, "" })
	e := webhookEnv(t, cluster, nil)
	id := e.subscribe(fmt.Sprintf(`{"id":"always-fails","topic":"orders","url":%q,"secret":%q,"max_attempts":2,"backoff":"10ms"}`, rc.srv.URL, testSecret))
	if status, _, body := e.do("POST", "/topics/orders", mediaBinaryV2, []byte(`{"records":[{"key":"azE=","value":"cG9pc29u"}]}`)); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	letter := kafkatest.Read(t, cluster, dlq.Topic("orders"), 1, 20*time.Second)[0]
	l, err := dlq.Read(letter)
	if err != nil || string(letter.Value) != "poison" || !strings.Contains(l.Reason, "HTTP 500") || !strings.Contains(l.Reason, "receiver says no") {
		t.Fatalf("dead letter %q: %+v %v", letter.Value, l, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, body := e.do("GET", "/v1/subscriptions/"+id, "", nil)
		var v subscriptionView
		_ = json.Unmarshal(body, &v)
		if status != 200 || strings.Contains(string(body), "whsec_") {
			t.Fatalf("%d %s", status, body)
		}
		if v.Status != nil && v.Status.DeadLetters == 1 && v.Status.Failures == 2 && v.Status.Lag != nil && *v.Status.Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the dead letter and a committed offset: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Subscriptions made through the API live in Kafka: a second replica
// sees them; an update and a deletion reach it too; configured ones
// cannot be changed through the API; targets are checked against the
// allowlist; every subscription leases its topic.
func TestSubscriptionsAPIAndPersistence(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(1, "orders", "audit"))
	e := webhookEnv(t, cluster, func(c *Config) {
		c.Webhooks.Subscriptions = []SubscriptionConfig{{ID: "from-config", Topic: "audit", URL: "http://127.0.0.1:1/x"}}
	})
	id := e.subscribe(`{"topic":"orders","url":"http://127.0.0.1:9/hook","secret":"s3cret","headers":{"X-Team":"shop"}}`)
	second := webhookEnv(t, cluster, nil)
	status, _, body := second.do("GET", "/v1/subscriptions/"+id, "", nil)
	if status != 200 || !strings.Contains(string(body), `"X-Team":"shop"`) || strings.Contains(string(body), "s3cret") {
		t.Fatalf("second replica: %d %s", status, body)
	}
	status, _, body = e.do("PUT", "/v1/subscriptions/"+id, "application/json", []byte(`{"topic":"orders","url":"http://127.0.0.1:9/v2"}`))
	if status != 200 || !strings.Contains(string(body), `"has_secret":true`) {
		t.Fatalf("put: %d %s", status, body)
	}
	waitFor(t, func() bool {
		s, _ := second.a.hooks.get(id)
		return strings.HasSuffix(s.URL, "/v2") && s.Secret == "s3cret"
	})
	status, _, body = e.do("PUT", "/v1/subscriptions/from-config", "application/json", []byte(`{"topic":"audit","url":"http://127.0.0.1:9/x"}`))
	if status != 409 || errorCode(t, body) != CodeConflict {
		t.Fatalf("config subscription changed through the API: %d %s", status, body)
	}
	for _, target := range []string{"http://169.254.169.254/latest/meta-data", "http://[::1]:8080/", "http://localhost/x", "http://0.0.0.0/"} {
		status, _, body := newEnvNoAllow(t, cluster).do("POST", "/v1/subscriptions", "application/json", []byte(fmt.Sprintf(`{"topic":"orders","url":%q}`, target)))
		if status != 422 || !strings.Contains(string(body), "allow_targets") {
			t.Fatalf("target %s: %d %s", target, status, body)
		}
	}
	for _, bad := range []string{`{"topic":"orders"}`, `{"topic":"_mesh.interest","url":"http://127.0.0.1/"}`, `{"topic":"orders","url":"http://127.0.0.1/","colour":"red"}`} {
		if status, _, body := e.do("POST", "/v1/subscriptions", "application/json", []byte(bad)); status != 422 {
			t.Fatalf("%s: %d %s", bad, status, body)
		}
	}
	// Leases: each subscription's topic is interest of the site.
	leases := kafkatest.Read(t, cluster, "_mesh.interest", 2, 10*time.Second)
	var keys []string
	for _, r := range leases {
		keys = append(keys, string(r.Key))
	}
	if all := strings.Join(keys, " "); !strings.Contains(all, "orders") || !strings.Contains(all, "audit") {
		t.Fatalf("leases %v", keys)
	}
	if status, _, _ := e.do("DELETE", "/v1/subscriptions/"+id, "", nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	waitFor(t, func() bool { _, ok := second.a.hooks.get(id); return !ok })
}

func newEnvNoAllow(t *testing.T, cluster *kfake.Cluster) *env { return newEnv(t, cluster, nil) }

// Connections are checked when dialled, whatever name led there.
func TestAllowlistChecksTheDialledAddress(t *testing.T) {
	a := newAllowlist(nil)
	if err := a.control("example.com")("tcp", "127.0.0.1:80", nil); err == nil {
		t.Fatal("loopback dialled")
	}
	if err := a.control("example.com")("tcp", "169.254.169.254:80", nil); err == nil {
		t.Fatal("metadata service dialled")
	}
	if err := a.control("example.com")("tcp", "93.184.216.34:443", nil); err != nil {
		t.Fatal(err)
	}
	if err := newAllowlist([]string{"127.0.0.0/8"}).control("x")("tcp", "127.0.0.1:80", nil); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://internal.example/")
	if err := newAllowlist([]string{"internal.example"}).checkURL(u); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatal("condition not met in 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
