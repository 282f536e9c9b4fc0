package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/identity"
)

// meshctl sends --user/--password, --token, their variables or the dev
// mesh's admin credentials to the control plane and the registry; without
// them, it shows the refusal.
func TestCredentials(t *testing.T) {
	dir := isolate(t)
	// The control plane's refusals, as mesh-controlplane answers them.
	a, err := authn.New(authn.Config{Users: []authn.User{{Name: "ops", Password: "pw"}}, Tokens: []authn.Token{{Name: "ci", Token: "tok"}}},
		authn.WithRefusalBody(func(m string) any { return controlplane.Error{Error: m} }))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	seen := make(chan string, 64)
	// who returns the principal of every request since the last call, or
	// "" when they differ or there were none.
	who := func() string {
		got := ""
		for {
			select {
			case p := <-seen:
				if got != "" && got != p {
					return ""
				}
				got = p
			default:
				return got
			}
		}
	}
	srv := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- identity.FromContext(r.Context()).Name
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/sites":
			_ = json.NewEncoder(w).Encode(map[string]any{"sites": []any{}})
		case r.URL.Path == "/subjects":
			_ = json.NewEncoder(w).Encode([]string{"orders-value"})
		case r.URL.Path == "/subjects/orders-value/versions/latest":
			_ = json.NewEncoder(w).Encode(map[string]any{"subject": "orders-value", "version": 1, "id": 1, "schema": `"string"`})
		default:
			http.NotFound(w, r)
		}
	})))
	defer srv.Close()

	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		who  string
	}{
		{"flags", nil, []string{"--user", "ops", "--password", "pw"}, "ops"},
		{"token flag", nil, []string{"--token", "tok"}, "ci"},
		{"variables", map[string]string{userEnv: "ops", passwordEnv: "pw"}, nil, "ops"},
		{"token variable", map[string]string{tokenEnv: "tok"}, nil, "ci"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		code, out, errOut := meshctl(t, append([]string{"sites", "--server", srv.URL}, c.args...)...)
		if code != 0 || who() != c.who {
			t.Errorf("%s: sites: %d %q %q", c.name, code, out, errOut)
		}
		code, out, errOut = meshctl(t, append([]string{"schemas", "list", "--registry", srv.URL}, c.args...)...)
		if code != 0 || !strings.Contains(out, "orders-value") || who() != c.who {
			t.Errorf("%s: schemas list: %d %q %q", c.name, code, out, errOut)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
	code, _, errOut := meshctl(t, "sites", "--server", srv.URL)
	if code == 0 || !strings.Contains(errOut, "Unauthorized: no credentials") {
		t.Fatalf("no credentials: %d %q", code, errOut)
	}
	code, _, errOut = meshctl(t, "sites", "--server", srv.URL, "--user", "ops", "--password", "wrong")
	if code == 0 || !strings.Contains(errOut, "Unauthorized") {
		t.Fatalf("wrong password: %d %q", code, errOut)
	}
	if code, _, errOut := meshctl(t, "sites", "--server", srv.URL, "--user", "ops"); code != 2 || !strings.Contains(errOut, "--user ops needs --password") {
		t.Fatalf("user without password: %d %q", code, errOut)
	}
	// The dev mesh's credentials.json: its admin.
	if err := os.MkdirAll(filepath.Join(dir, ".mesh"), 0o700); err != nil {
		t.Fatal(err)
	}
	creds := `{"admin":{"username":"ops","password":"pw"},"viewer":{"username":"v","password":"x"}}`
	if err := os.WriteFile(filepath.Join(dir, ".mesh", "credentials.json"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := meshctl(t, "sites", "--server", srv.URL); code != 0 || who() != "ops" {
		t.Fatalf("credentials.json: %d %q %q", code, out, errOut)
	}
}
