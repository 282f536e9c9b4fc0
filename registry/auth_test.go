package registry

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/authn/authntest"
)

// authConfig is the auth section of the tests: alice with a bcrypt hash,
// the ci token, and JWTs of p.
func authConfig(t testing.TB, p *authntest.IDP) authn.Config {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return authn.Config{
		Users:  []authn.User{{Name: "alice", PasswordHash: string(hash)}},
		Tokens: []authn.Token{{Name: "ci", Token: "ci-token"}},
		JWT:    &authn.JWT{JWKSURL: p.URL, Issuer: authntest.Issuer, Audience: authntest.Audience},
	}
}

// withAuth sends requests with the Authorization header value.
func withAuth(value string) *http.Client {
	return &http.Client{Transport: authTransport{value}}
}

type authTransport struct{ value string }

func (h authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if h.value != "" {
		req.Header.Set("Authorization", h.value)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// What Confluent clients send works: basic credentials
// (basic.auth.credentials.source USER_INFO, or URL with user:password@
// in the URL) and a static bearer token (STATIC_TOKEN), and a JWT.
func TestAuthConfluentClients(t *testing.T) {
	p := authntest.New(t)
	in := startInstance(t, newCluster(t), func(c *Config) { c.Auth = authConfig(t, p) })
	in.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host := strings.TrimPrefix(in.url, "http://")
	for _, c := range []struct {
		name string
		opts []sr.ClientOpt
	}{
		{"USER_INFO", []sr.ClientOpt{sr.URLs(in.url), sr.BasicAuth("alice", "alice-pw")}},
		{"URL", []sr.ClientOpt{sr.URLs("http://alice:alice-pw@" + host)}},
		{"STATIC_TOKEN", []sr.ClientOpt{sr.URLs(in.url), sr.BearerToken("ci-token")}},
		{"JWT", []sr.ClientOpt{sr.URLs(in.url), sr.BearerToken(p.Token("carol", nil))}},
	} {
		cl, err := sr.NewClient(c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		subject := "auth-" + strings.ToLower(strings.ReplaceAll(c.name, "_", "-")) + "-value"
		ss, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: orderV1})
		if err != nil {
			t.Fatalf("%s: register: %v", c.name, err)
		}
		if s, err := cl.SchemaByID(ctx, ss.ID); err != nil || !strings.Contains(s.Schema, "Order") {
			t.Fatalf("%s: read: %v", c.name, err)
		}
	}
	// Without credentials, the Go client sees Confluent's 401.
	cl, _ := sr.NewClient(sr.URLs(in.url))
	_, err := cl.Subjects(ctx)
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 401 || re.ErrorCode != 40101 {
		t.Fatalf("no credentials: %v", err)
	}
}

// Every refusal is 401 with 40101 and a challenge, and a refused write
// leaves no new version; the probes stay open.
func TestAuthRefusalsChangeNothing(t *testing.T) {
	p := authntest.New(t)
	in := startInstance(t, newCluster(t), func(c *Config) { c.Auth = authConfig(t, p) })
	in.waitReady(t)
	alice := authntest.Basic("alice", "alice-pw")
	in.client = withAuth(alice)
	in.register(t, "orders-value", orderV1)

	other := authntest.NewKey(t)
	for _, c := range []struct {
		name, auth, challenge string
	}{
		{"no credentials", "", `Basic realm="meshwork", charset="UTF-8"`},
		{"wrong password", authntest.Basic("alice", "nope"), `Basic realm="meshwork", charset="UTF-8"`},
		{"unknown user", authntest.Basic("mallory", "alice-pw"), `Basic realm="meshwork", charset="UTF-8"`},
		{"unknown token", "Bearer nope", `Bearer realm="meshwork", error="invalid_token"`},
		{"expired JWT", "Bearer " + p.Token("carol", authntest.Expired), `Bearer realm="meshwork", error="invalid_token", error_description="the token has expired or is not valid yet"`},
		{"JWT signed by another key", "Bearer " + authntest.Sign(t, other, jwt.SigningMethodES256, "k1", nil), `Bearer realm="meshwork", error="invalid_token"`},
		{"JWT for another audience", "Bearer " + p.Token("carol", func(c jwt.MapClaims) { c["aud"] = "other" }), `Bearer realm="meshwork", error="invalid_token"`},
		{"JWT of another issuer", "Bearer " + p.Token("carol", func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" }), `Bearer realm="meshwork", error="invalid_token"`},
	} {
		in.client = withAuth(c.auth)
		for _, req := range []struct{ method, path string }{
			{"POST", "/subjects/orders-value/versions"},
			{"DELETE", "/subjects/orders-value"},
			{"PUT", "/config/orders-value"},
			{"GET", "/schemas/ids/1"},
		} {
			var body any
			if req.method == "POST" {
				body = map[string]any{"schema": orderV2}
			} else if req.method == "PUT" {
				body = map[string]any{"compatibility": "NONE"}
			}
			r := in.do(t, req.method, req.path, body)
			if r.status != 401 || r.errorCode() != 40101 || !strings.HasPrefix(string(r.body), `{"error_code":40101,"message":"Unauthorized: `) {
				t.Errorf("%s: %s %s: %d %s", c.name, req.method, req.path, r.status, r.body)
				continue
			}
			found := false
			for _, v := range r.header.Values("WWW-Authenticate") {
				found = found || strings.HasPrefix(v, c.challenge)
			}
			if !found {
				t.Errorf("%s: challenges %q, want one starting %q", c.name, r.header.Values("WWW-Authenticate"), c.challenge)
			}
		}
	}
	in.client = withAuth(alice)
	var versions []int
	in.must(t, 200, "GET", "/subjects/orders-value/versions", nil).decode(t, &versions)
	if len(versions) != 1 {
		t.Fatalf("versions after refused writes: %v", versions)
	}
	var cfg map[string]string
	if r := in.do(t, "GET", "/config/orders-value", nil); r.status != 404 {
		r.decode(t, &cfg)
		t.Fatalf("subject config after a refused PUT: %d %v", r.status, cfg)
	}
	in.client = withAuth("")
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := in.do(t, "GET", path, nil); r.status == 401 {
			t.Errorf("%s needs credentials", path)
		}
	}
}

// A follower site forwards a write with its client's Authorization, so
// the primary authenticates the client; without credentials the follower
// refuses it itself. The follower asks the primary how far its log is
// with peer_auth.
func TestAuthFollowerForwardsCredentials(t *testing.T) {
	p := authntest.New(t)
	east, west := newCluster(t), newCluster(t)
	auth := authConfig(t, p)
	primary := startInstance(t, east, func(c *Config) { c.Auth = auth })
	primary.waitReady(t)
	primary.client = withAuth("Bearer ci-token")
	primary.register(t, "early-value", orderV1)

	tokenFile := filepath.Join(t.TempDir(), "peer-token")
	if err := os.WriteFile(tokenFile, []byte("ci-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	follower := startFollower(t, west, primary, func(c *Config) {
		c.Auth = auth
		c.Auth.Users = append(slices.Clone(auth.Users), authn.User{Name: "bob", Password: "bob-pw"})
		c.PeerAuth = authn.Credentials{TokenFile: tokenFile}
	})
	startCopier(t, east, west, "_schemas")
	follower.waitReady(t)

	if pos := follower.reg.primaryPosition(context.Background()); pos <= 0 {
		t.Fatalf("with peer_auth, the primary's position is %d", pos)
	}
	anonymous := startFollower(t, newCluster(t), primary, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	if pos := anonymous.reg.primaryPosition(context.Background()); pos != 0 {
		t.Fatalf("without peer_auth, the primary answered its position %d", pos)
	}

	follower.client = withAuth("")
	if r := follower.do(t, "POST", "/subjects/west-value/versions", map[string]any{"schema": orderV2}); r.status != 401 || r.errorCode() != 40101 {
		t.Fatalf("a write without credentials at the follower: %d %s", r.status, r.body)
	}
	for _, auth := range []string{authntest.Basic("alice", "alice-pw"), "Bearer " + p.Token("carol", nil)} {
		follower.client = withAuth(auth)
		subject := "west-" + strings.Fields(auth)[0] + "-value"
		var res struct{ ID int }
		follower.must(t, 200, "POST", "/subjects/"+strings.ToLower(subject)+"/versions", map[string]any{"schema": orderV2}).decode(t, &res)
		primary.must(t, 200, "GET", "/subjects/"+strings.ToLower(subject)+"/versions/1", nil)
	}
	// A write the follower lets in (bob is a user of its own) but the
	// primary does not is refused by the primary, its answer relayed, and
	// nothing is written.
	follower.client = withAuth(authntest.Basic("bob", "bob-pw"))
	if r := follower.do(t, "POST", "/subjects/west-late-value/versions", map[string]any{"schema": orderV2}); r.status != 401 || r.errorCode() != 40101 {
		t.Fatalf("a write the primary refuses: %d %s", r.status, r.body)
	}
	if r := primary.do(t, "GET", "/subjects/west-late-value/versions", nil); r.status != 404 {
		t.Fatalf("the refused write was done: %d %s", r.status, r.body)
	}
}
