package rest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/authn/authntest"
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
		{"wrong password", "POST", "/topics/orders", []string{"Authorization", authntest.Basic("ops", "x")}, 401, CodeUnauthenticated},
		{"token may produce", "POST", "/topics/orders", []string{"Authorization", "Bearer t0ken"}, 200, 0},
		{"token may not produce elsewhere", "POST", "/topics/plain", []string{"Authorization", "Bearer t0ken"}, 403, CodeForbidden},
		{"consumer may not produce", "POST", "/topics/orders", []string{"Authorization", authntest.Basic("ops", "pw")}, 403, CodeForbidden},
		{"producer may not manage subscriptions", "GET", "/v1/subscriptions", []string{"Authorization", "Bearer t0ken"}, 403, CodeForbidden},
		{"ops manages subscriptions", "GET", "/v1/subscriptions", []string{"Authorization", authntest.Basic("ops", "pw")}, 200, 0},
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

// Every refusal of the common auth section (no credentials, a wrong
// password, an expired JWT, one signed by another key, for another
// audience or of another issuer, a webhook subscription without
// credentials) is 401 with 40101 and a challenge, and nothing is written:
// no record, no subscription. A valid JWT's subject is the principal the
// grants name.
func TestAuthRefusalsWriteNothing(t *testing.T) {
	idp := authntest.New(t)
	e := newEnv(t, nil, func(c *Config) {
		c.Auth = authn.Config{
			Users: []authn.User{{Name: "ops", Password: "pw"}},
			JWT:   &authn.JWT{JWKSURL: idp.URL, Issuer: authntest.Issuer, Audience: authntest.Audience},
		}
		c.Grants = []Grant{{Principal: "carol", Produce: []string{"orders"}, Subscriptions: true}}
	})
	body := []byte(`{"records":[{"value":"YQ=="}]}`)
	sub := []byte(`{"id":"refused","topic":"orders","url":"https://hooks.example/x"}`)
	for _, c := range []struct{ name, auth, challenge string }{
		{"no credentials", "", `Basic realm="meshwork"`},
		{"wrong password", authntest.Basic("ops", "nope"), `Basic realm="meshwork"`},
		{"expired JWT", "Bearer " + idp.Token("carol", authntest.Expired), `Bearer realm="meshwork", error="invalid_token", error_description="the token has expired or is not valid yet"`},
		{"JWT signed by another key", "Bearer " + authntest.Sign(t, authntest.NewKey(t), jwt.SigningMethodES256, "k1", nil), `Bearer realm="meshwork", error="invalid_token"`},
		{"JWT for another audience", "Bearer " + idp.Token("carol", func(c jwt.MapClaims) { c["aud"] = "other" }), `Bearer realm="meshwork", error="invalid_token"`},
		{"JWT of another issuer", "Bearer " + idp.Token("carol", func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" }), `Bearer realm="meshwork", error="invalid_token"`},
	} {
		var hdr []string
		if c.auth != "" {
			hdr = []string{"Authorization", c.auth}
		}
		for _, r := range []struct {
			path, ct string
			body     []byte
		}{{"/topics/orders", mediaBinaryV2, body}, {"/v1/subscriptions", "application/json", sub}} {
			status, h, resp := e.do("POST", r.path, r.ct, r.body, hdr...)
			if status != 401 || errorCode(t, resp) != CodeUnauthenticated {
				t.Errorf("%s: POST %s: %d %s", c.name, r.path, status, resp)
				continue
			}
			found := false
			for _, v := range h.Values("WWW-Authenticate") {
				found = found || strings.HasPrefix(v, c.challenge)
			}
			if !found {
				t.Errorf("%s: challenges %q, want %q", c.name, h.Values("WWW-Authenticate"), c.challenge)
			}
		}
	}
	if n := e.ends("orders"); n != 0 {
		t.Fatalf("refused produces wrote %d records", n)
	}
	carol := "Bearer " + idp.Token("carol", nil)
	status, _, resp := e.do("GET", "/v1/subscriptions", "", nil, "Authorization", carol)
	if status != 200 || strings.Contains(string(resp), "refused") {
		t.Fatalf("subscriptions after refused creations: %d %s", status, resp)
	}
	if status, _, resp := e.do("POST", "/topics/orders", mediaBinaryV2, body, "Authorization", carol); status != 200 {
		t.Fatalf("carol's JWT: %d %s", status, resp)
	}
	if status, _, resp := e.do("POST", "/topics/plain", mediaBinaryV2, body, "Authorization", carol); status != 403 || errorCode(t, resp) != CodeForbidden {
		t.Fatalf("carol's JWT on a topic she has no grant for: %d %s", status, resp)
	}
}
