package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/policy"
)

const cpPolicy = `rules:
  - name: viewers
    principals: [viewer]
    actions: [read]
    resources: ["*"]
  - name: shop-ops
    principals: [shop-ops]
    actions: [interest, read]
    resources: ["topic:shop.*"]
`

func TestPolicyRefusesInterestAndViews(t *testing.T) {
	east := kafkatest.Cluster(t)
	meshPath := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := fmt.Sprintf("sites:\n  - name: east\n    kafka: {brokers: [%s]}\n", east.ListenAddrs()[0])
	if err := os.WriteFile(meshPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("policy.yaml", []byte(cpPolicy))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "east", meshPath, nil
	cfg.RefreshInterval, cfg.Timeout = time.Second, 2*time.Second
	s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry(), WithAuthorizer(policy.StaticAuthorizer(p)),
		Mount("GET /v1/traces", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "{}") })))
	if err != nil {
		t.Fatal(err)
	}
	ctx := kafkatest.Context(t, wait)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{Name: u, Method: identity.MethodToken}))
		}
		s.Handler().ServeHTTP(w, r)
	}))
	defer api.Close()
	send := func(user, method, path string, body any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(string(b)))
		req.Header.Set("X-Test-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	wantForbidden := func(code int, body, msg string) {
		t.Helper()
		want := "{\n  \"error\": " + msg + "\n}\n"
		if code != http.StatusForbidden || body != want {
			t.Fatalf("got %d %q, want 403 %q", code, body, want)
		}
	}

	code, body := send("viewer", "POST", "/v1/interest", InterestRequest{Site: "east", Topic: "shop.order.created"})
	wantForbidden(code, body, `"forbidden: viewer may not interest topic:shop.order.created: denied: no rule grants it (deny by default)"`)
	code, body = send("shop-ops", "POST", "/v1/interest", InterestRequest{Site: "east", Topic: "billing.invoice"})
	wantForbidden(code, body, `"forbidden: shop-ops may not interest topic:billing.invoice: denied: no rule grants it (deny by default)"`)
	code, body = send("shop-ops", "POST", "/v1/interest", InterestRequest{Site: "east", Topic: `shop\..*`, Pattern: true})
	wantForbidden(code, body, `"forbidden: shop-ops may not interest mesh: denied: no rule grants it (deny by default)"`)
	code, body = send("viewer", "DELETE", "/v1/interest", InterestRequest{Site: "east", Topic: "shop.order.created"})
	wantForbidden(code, body, `"forbidden: viewer may not interest topic:shop.order.created: denied: no rule grants it (deny by default)"`)
	kc := kafkatest.Config(east)
	opts, err := kc.Options("test", "east")
	if err != nil {
		t.Fatal(err)
	}
	leases, err := interest.Read(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 0 {
		t.Fatalf("refused declarations left leases: %+v", leases)
	}
	if code, body := send("shop-ops", "POST", "/v1/interest", InterestRequest{Site: "east", Topic: "shop.order.created"}); code != 200 {
		t.Fatalf("shop-ops may declare interest in shop.*: %d %s", code, body)
	}
	if leases, err := interest.Read(ctx, opts); err != nil || len(leases) != 1 {
		t.Fatalf("after the granted declaration, leases %+v (%v), want 1", leases, err)
	}

	// Views: read on mesh, or on the topic.
	for _, path := range []string{"/v1/sites", "/v1/links", "/v1/topics", "/v1/interest", "/v1/traces"} {
		code, body := send("shop-ops", "GET", path, nil)
		wantForbidden(code, body, `"forbidden: shop-ops may not read mesh: denied: no rule grants it (deny by default)"`)
		if code, body := send("viewer", "GET", path, nil); code != 200 {
			t.Fatalf("viewer GET %s: %d %s", path, code, body)
		}
	}
	code, body = send("shop-ops", "GET", "/v1/topics/billing.invoice", nil)
	wantForbidden(code, body, `"forbidden: shop-ops may not read topic:billing.invoice: denied: no rule grants it (deny by default)"`)
	if code, _ := send("", "GET", "/openapi.json", nil); code != 200 {
		t.Fatalf("/openapi.json: %d", code)
	}
}

// Every route the access table names is one of the API's own: a typo in
// the table would leave its route unguarded.
func TestRouteAccessNamesRoutes(t *testing.T) {
	own := (&Server{}).ownRoutes()
	for pattern := range routeAccess {
		if _, ok := own[pattern]; !ok {
			t.Errorf("%s is not a route of the API", pattern)
		}
	}
	for pattern := range own {
		if _, ok := routeAccess[pattern]; !ok && pattern != "GET /openapi.json" && pattern != "POST /v1/interest" && pattern != "DELETE /v1/interest" {
			t.Errorf("route %s has no access rule", pattern)
		}
	}
}
