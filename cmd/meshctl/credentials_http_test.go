package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/identity"
)

// The registry gets meshctl's credentials too ($MESHCTL_TOKEN, or
// $MESHCTL_USER with $MESHCTL_PASSWORD); without them it refuses.
func TestRegistryCredentials(t *testing.T) {
	isolate(t)
	a, err := authn.New(authn.Config{Users: []authn.User{{Name: "ops", Password: "pw"}}, Tokens: []authn.Token{{Name: "ci", Token: "tok"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	seen := make(chan string, 16)
	srv := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- identity.FromContext(r.Context()).Name
		if r.URL.Path == "/subjects" {
			_ = json.NewEncoder(w).Encode([]string{"orders-value"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"subject": "orders-value", "version": 1, "id": 1, "schema": `"string"`})
	})))
	defer srv.Close()
	for _, c := range []struct {
		env map[string]string
		who string
	}{
		{map[string]string{tokenEnv: "tok"}, "ci"},
		{map[string]string{userEnv: "ops", passwordEnv: "pw"}, "ops"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		code, out, errOut := meshctl(t, "schemas", "list", "--registry", srv.URL)
		if code != 0 || !strings.Contains(out, "orders-value") {
			t.Fatalf("%v: %d %q %q", c.env, code, out, errOut)
		}
		for len(seen) > 0 {
			if who := <-seen; who != c.who {
				t.Fatalf("%v: the registry saw %q, want %q", c.env, who, c.who)
			}
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
	if code, _, errOut := meshctl(t, "schemas", "list", "--registry", srv.URL); code == 0 || !strings.Contains(errOut, "Unauthorized: no credentials") {
		t.Fatalf("no credentials: %d %q", code, errOut)
	}
}
