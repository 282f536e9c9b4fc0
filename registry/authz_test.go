package registry

import (
	"net/http"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/policy"
)

const testPolicy = `rules:
  - name: admins
    principals: [admin]
    actions: ["*"]
    resources: ["*"]
  - name: viewers
    principals: [viewer]
    actions: [read]
    resources: ["*"]
  - name: orders-team
    principals: [team-orders]
    actions: [read, write]
    resources: ["subject:orders-*"]
deny:
  - name: keep-payments
    principals: ["*"]
    actions: [delete]
    resources: ["subject:payments-*"]
`

// userHeader stands for authentication in these tests: it names the
// request's principal.
const userHeader = "X-Test-User"

func asUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get(userHeader); u != "" {
			r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{Name: u, Method: identity.MethodBasic}))
		}
		next.ServeHTTP(w, r)
	})
}

func startWithPolicy(t testing.TB, text string) *instance {
	t.Helper()
	p, err := policy.Parse("policy.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	in := startInstanceWith(t, newCluster(t), nil, asUser, WithAuthorizer(policy.StaticAuthorizer(p)))
	in.waitReady(t)
	return in
}

func (in *instance) as(t *testing.T, user, method, path string, body any) response {
	t.Helper()
	in.client = &http.Client{Transport: headerTransport{user}}
	defer func() { in.client = http.DefaultClient }()
	return in.do(t, method, path, body)
}

type headerTransport struct{ user string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if h.user != "" {
		r.Header.Set(userHeader, h.user)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func wantDenied(t *testing.T, r response, message string) {
	t.Helper()
	want := `{"error_code":40301,"message":"` + message + `"}` + "\n"
	if r.status != http.StatusForbidden || string(r.body) != want || r.header.Get("Content-Type") != contentType {
		t.Fatalf("got %d %q (%s), want 403 %q", r.status, r.body, r.header.Get("Content-Type"), want)
	}
}

func TestPolicyRefusesAndChangesNothing(t *testing.T) {
	in := startWithPolicy(t, testPolicy)
	must := func(user string, status int, method, path string, body any) response {
		t.Helper()
		r := in.as(t, user, method, path, body)
		if r.status != status {
			t.Fatalf("%s %s %s: %d, want %d: %s", user, method, path, r.status, status, r.body)
		}
		return r
	}
	must("admin", 200, "POST", "/subjects/orders-value/versions", map[string]any{"schema": orderV1})
	must("admin", 200, "POST", "/subjects/payments-value/versions", map[string]any{"schema": `"string"`})

	// A valid principal without the grant: refused, and nothing changed.
	wantDenied(t, in.as(t, "viewer", "POST", "/subjects/orders-value/versions", map[string]any{"schema": orderV2}),
		"User is denied operation Write on Subject: orders-value")
	if body := string(must("admin", 200, "GET", "/subjects/orders-value/versions", nil).body); body != "[1]\n" {
		t.Fatalf("versions after a refused registration: %s", body)
	}
	wantDenied(t, in.as(t, "viewer", "DELETE", "/subjects/orders-value", nil), "User is denied operation Delete on Subject: orders-value")
	wantDenied(t, in.as(t, "viewer", "DELETE", "/subjects/orders-value/versions/1", nil), "User is denied operation Delete on Subject: orders-value")
	must("admin", 200, "GET", "/subjects/orders-value/versions/1", nil)
	wantDenied(t, in.as(t, "admin", "DELETE", "/subjects/payments-value", nil), "User is denied operation Delete on Subject: payments-value")
	if body := string(must("admin", 200, "GET", "/subjects", nil).body); body != `["orders-value","payments-value"]`+"\n" {
		t.Fatalf("subjects after refused deletes: %s", body)
	}
	wantDenied(t, in.as(t, "viewer", "PUT", "/config", map[string]string{"compatibility": "NONE"}), "User is denied operation Write on Subject: *")
	wantDenied(t, in.as(t, "team-orders", "PUT", "/config", map[string]string{"compatibility": "NONE"}), "User is denied operation Write on Subject: *")
	wantDenied(t, in.as(t, "viewer", "PUT", "/config/orders-value", map[string]string{"compatibility": "NONE"}), "User is denied operation Write on Subject: orders-value")
	wantDenied(t, in.as(t, "viewer", "PUT", "/mode", map[string]string{"mode": "READONLY"}), "User is denied operation Write on Subject: *")
	wantDenied(t, in.as(t, "viewer", "DELETE", "/mode/orders-value", nil), "User is denied operation Write on Subject: orders-value")
	if body := string(must("viewer", 200, "GET", "/config", nil).body); body != `{"compatibilityLevel":"BACKWARD"}`+"\n" {
		t.Fatalf("global config after refused changes: %s", body)
	}
	if r := must("admin", 404, "GET", "/config/orders-value", nil); r.errorCode() != codeSubjectLevelCompatNotSet {
		t.Fatalf("a subject config appeared: %s", r.body)
	}
	if body := string(must("viewer", 200, "GET", "/mode", nil).body); body != `{"mode":"READWRITE"}`+"\n" {
		t.Fatalf("mode after refused changes: %s", body)
	}

	// Reads: by subject; a schema id by the subjects it is registered under.
	must("viewer", 200, "GET", "/schemas/ids/1", nil)
	must("team-orders", 200, "GET", "/schemas/ids/1", nil)
	wantDenied(t, in.as(t, "team-orders", "GET", "/schemas/ids/2", nil), "User is denied operation Read on Schema: 2")
	wantDenied(t, in.as(t, "team-orders", "GET", "/schemas/ids/2?subject=payments-value", nil), "User is denied operation Read on Subject: payments-value")
	wantDenied(t, in.as(t, "team-orders", "GET", "/subjects/payments-value/versions/latest", nil), "User is denied operation Read on Subject: payments-value")
	wantDenied(t, in.as(t, "team-orders", "POST", "/subjects/payments-value", map[string]any{"schema": `"string"`}), "User is denied operation Read on Subject: payments-value")
	if body := string(must("team-orders", 200, "GET", "/subjects", nil).body); body != `["orders-value"]`+"\n" {
		t.Fatalf("team-orders lists %s, want only what it may read", body)
	}
	if body := must("team-orders", 200, "GET", "/schemas", nil).body; strings.Contains(string(body), "payments") {
		t.Fatalf("team-orders lists schemas of subjects it may not read: %s", body)
	}
	wantDenied(t, in.as(t, "", "GET", "/subjects/orders-value/versions", nil), "User is denied operation Read on Subject: orders-value")
	must("", 200, "GET", "/", nil)
	must("", 200, "GET", "/schemas/types", nil)

	// Grants: the team registers in its subjects, not elsewhere.
	must("team-orders", 200, "POST", "/subjects/orders-value/versions", map[string]any{"schema": orderV2})
	wantDenied(t, in.as(t, "team-orders", "POST", "/subjects/payments-value/versions", map[string]any{"schema": `"int"`}),
		"User is denied operation Write on Subject: payments-value")
	if body := string(must("admin", 200, "GET", "/subjects/payments-value/versions", nil).body); body != "[1]\n" {
		t.Fatalf("payments versions after a refused registration: %s", body)
	}
	// Id 2 registered under a subject the team may read: readable now.
	must("admin", 200, "PUT", "/config/orders-key", map[string]string{"compatibility": "NONE"})
	must("admin", 200, "POST", "/subjects/orders-key/versions", map[string]any{"schema": `"string"`})
	must("team-orders", 200, "GET", "/schemas/ids/2", nil)
	if body := string(must("team-orders", 200, "GET", "/schemas/ids/2/subjects", nil).body); body != `["orders-key"]`+"\n" {
		t.Fatalf("the id's subjects for team-orders: %s, want only those it may read", body)
	}
	if body := string(must("admin", 200, "GET", "/schemas/ids/2/subjects", nil).body); body != `["orders-key","payments-value"]`+"\n" {
		t.Fatalf("the id's subjects for admin: %s", body)
	}
}

// Every route the access table names is one the API serves: a typo in
// the table would leave its route unguarded.
func TestRouteAccessNamesRoutes(t *testing.T) {
	r := &Registry{}
	mux := http.NewServeMux()
	r.routes(mux)
	for pattern := range routeAccess {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{subject}", "s", "{version}", "1", "{id}", "1").Replace(path)
		req, _ := http.NewRequest(method, path, nil)
		if _, got := mux.Handler(req); got != pattern {
			t.Errorf("%s routes to %q", pattern, got)
		}
	}
}

func TestNoPolicyAllowsEverything(t *testing.T) {
	in := startInstanceWith(t, newCluster(t), nil, asUser, WithAuthorizer(nil))
	in.waitReady(t)
	if r := in.as(t, "", "POST", "/subjects/x-value/versions", map[string]any{"schema": `"string"`}); r.status != 200 {
		t.Fatalf("no policy: %d %s", r.status, r.body)
	}
}
