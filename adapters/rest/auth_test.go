package rest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshwork/meshwork/internal/authn"
)

// With the common auth section, requests need credentials (basic or
// bearer), and each principal may do what its grants say: 401 and 403 in
// the proxy's format otherwise.
func TestAuthBasicBearerAndRules(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil, func(c *Config) {
		c.Auth = authn.Config{
			Tokens: []authn.Token{{Name: "shop", TokenFile: tokenFile}},
			Users:  []authn.User{{Name: "ops", Password: "pw"}},
		}
		c.Grants = []Grant{
			{Principal: "shop", Produce: []string{"ord*"}},
			{Principal: "ops", Consume: []string{"*"}, Subscriptions: true},
		}
	})
	body := []byte(`{"records":[{"value":"YQ=="}]}`)
	cases := []struct {
		name, method, path string
		hdr                []string
		status, code       int
	}{
		{"no credentials", "POST", "/topics/orders", nil, 401, CodeUnauthenticated},
		{"wrong token", "POST", "/topics/orders", []string{"Authorization", "Bearer nope"}, 401, CodeUnauthenticated},
		{"wrong password", "POST", "/topics/orders", []string{"Authorization", basic("ops", "x")}, 401, CodeUnauthenticated},
		{"token may produce", "POST", "/topics/orders", []string{"Authorization", "Bearer t0ken"}, 200, 0},
		{"token may not produce elsewhere", "POST", "/topics/plain", []string{"Authorization", "Bearer t0ken"}, 403, CodeForbidden},
		{"consumer may not produce", "POST", "/topics/orders", []string{"Authorization", basic("ops", "pw")}, 403, CodeForbidden},
		{"producer may not manage subscriptions", "GET", "/v1/subscriptions", []string{"Authorization", "Bearer t0ken"}, 403, CodeForbidden},
		{"ops manages subscriptions", "GET", "/v1/subscriptions", []string{"Authorization", basic("ops", "pw")}, 200, 0},
		{"openapi needs credentials too", "GET", "/openapi.json", nil, 401, CodeUnauthenticated},
		{"openapi with credentials", "GET", "/openapi.json", []string{"Authorization", "Bearer t0ken"}, 200, 0},
	}
	for _, c := range cases {
		var b []byte
		if c.method == "POST" {
			b = body
		}
		status, hdr, resp := e.do(c.method, c.path, mediaBinaryV2, b, c.hdr...)
		if status != c.status {
			t.Errorf("%s: %d %s", c.name, status, resp)
			continue
		}
		if c.code != 0 && errorCode(t, resp) != c.code {
			t.Errorf("%s: %s", c.name, resp)
		}
		if status == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
	// GET /topics lists only what the principal may see.
	status, _, resp := e.do("GET", "/topics", "", nil, "Authorization", "Bearer t0ken")
	if status != 200 || string(resp) != "[\"orders\"]\n" {
		t.Fatalf("topics for shop: %d %s", status, resp)
	}
}

func basic(user, pw string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}
