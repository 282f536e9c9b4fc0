package rest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/policy"
)

const restPolicy = `rules:
  - name: shop-produces
    principals: [shop]
    actions: [produce]
    resources: ["topic:orders*"]
  - name: ops-reads
    principals: [ops]
    actions: [consume, describe]
    resources: ["topic:*"]
`

// policyEnv is an adapter whose decisions the policy takes, behind a
// stand-in for the service's authentication: X-Test-User names the
// principal.
func policyEnv(t *testing.T) *env {
	t.Helper()
	p, err := policy.Parse("policy.yaml", []byte(restPolicy))
	if err != nil {
		t.Fatal(err)
	}
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(3, "orders", "plain"))
	e := newEnvWith(t, cluster, func(c *Config) { c.Webhooks.AllowTargets = []string{"127.0.0.0/8"} }, WithPolicy(policy.StaticAuthorizer(p)))
	inner := e.srv
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{Name: u, Method: identity.MethodBasic}))
		}
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func wantForbidden(t *testing.T, status int, body []byte, message string) {
	t.Helper()
	want := `{"error_code":40301,"message":` + message + "}\n"
	if status != http.StatusForbidden || string(body) != want {
		t.Fatalf("got %d %s, want 403 %s", status, body, want)
	}
}

func TestPolicyDecidesProduceAndSubscriptions(t *testing.T) {
	e := policyEnv(t)
	record := []byte(`{"records":[{"value":"YQ=="}]}`)
	as := func(user string) []string { return []string{"X-Test-User", user} }

	status, _, body := e.do("POST", "/topics/orders", mediaBinaryV2, record, as("ops")...)
	wantForbidden(t, status, body, `"Forbidden: ops may not produce topic \"orders\"."`)
	status, _, body = e.do("POST", "/v3/clusters/kfake/topics/orders/records", "application/json", []byte(`{"value":{"type":"JSON","data":1}}`), as("ops")...)
	wantForbidden(t, status, body, `"Forbidden: ops may not produce topic \"orders\"."`)
	status, _, body = e.do("POST", "/topics/plain", mediaBinaryV2, record, as("shop")...)
	wantForbidden(t, status, body, `"Forbidden: shop may not produce topic \"plain\"."`)
	status, _, body = e.do("POST", "/topics/orders", mediaBinaryV2, record)
	wantForbidden(t, status, body, `"Forbidden: anonymous may not produce topic \"orders\"."`)
	if n := e.ends("orders") + e.ends("plain"); n != 0 {
		t.Fatalf("%d records written by refused requests", n)
	}
	if status, _, body := e.do("POST", "/topics/orders", mediaBinaryV2, record, as("shop")...); status != 200 {
		t.Fatalf("shop may produce to orders: %d %s", status, body)
	}
	if n := e.ends("orders"); n != 1 {
		t.Fatalf("orders holds %d records, want 1", n)
	}

	// A webhook on a topic the principal may not consume: refused, none made.
	sub := []byte(`{"topic":"orders","url":"http://127.0.0.1:9/hook"}`)
	status, _, body = e.do("POST", "/v1/subscriptions", "application/json", sub, as("shop")...)
	wantForbidden(t, status, body, `"Forbidden: shop may not consume topic \"orders\"."`)
	if subs := e.a.hooks.list(); len(subs) != 0 {
		t.Fatalf("a refused subscription was made: %+v", subs)
	}
	status, _, body = e.do("POST", "/v1/subscriptions", "application/json", sub, as("ops")...)
	if status != 201 {
		t.Fatalf("ops may subscribe to orders: %d %s", status, body)
	}
	id := e.a.hooks.list()[0].ID
	if status, _, body := e.do("GET", "/v1/subscriptions", "", nil, as("shop")...); status != 200 || strings.Contains(string(body), id) {
		t.Fatalf("shop sees a subscription of a topic it may not consume: %d %s", status, body)
	}
	status, _, body = e.do("DELETE", "/v1/subscriptions/"+id, "", nil, as("shop")...)
	wantForbidden(t, status, body, `"Forbidden: shop may not consume topic \"orders\"."`)
	if _, ok := e.a.hooks.get(id); !ok {
		t.Fatal("a refused delete removed the subscription")
	}

	// Lists show what the principal may describe, and refuse nothing.
	if status, _, body := e.do("GET", "/topics", "", nil, as("shop")...); status != 200 || string(body) != "[]\n" {
		t.Fatalf("topics for shop: %d %s", status, body)
	}
	if status, _, body := e.do("GET", "/topics", "", nil, as("ops")...); status != 200 || string(body) != `["orders","plain"]`+"\n" {
		t.Fatalf("topics for ops: %d %s", status, body)
	}
}
