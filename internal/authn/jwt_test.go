package authn

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meshwork/meshwork/internal/authn/authntest"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// JWTs are verified against the provider's keys, issuer, audience,
// validity times and algorithms; the principal comes from principal_claim.
// Each refusal is 401 with Bearer error="invalid_token".
func TestJWT(t *testing.T) {
	p := newIDP(t)
	s := serve(t, Config{JWT: p.config()})
	k1 := p.key("k1")
	other := newKey(t)
	past := time.Now().Add(-2 * time.Hour).Unix()
	for _, c := range []struct {
		name   string
		token  string
		status int
		reason string
	}{
		{"valid", sign(t, k1, jwt.SigningMethodES256, "k1", nil), 200, ""},
		{"within leeway", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), 200, ""},
		{"expired", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["iat"], c["exp"] = past, past+60 }), 401, ReasonExpiredJWT},
		{"not yet valid", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), 401, ReasonExpiredJWT},
		{"no exp", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { delete(c, "exp") }), 401, ReasonInvalidJWT},
		{"signed by another key", sign(t, other, jwt.SigningMethodES256, "k1", nil), 401, ReasonInvalidJWT},
		{"wrong audience", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["aud"] = "someone-else" }), 401, ReasonInvalidJWT},
		{"wrong issuer", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" }), 401, ReasonInvalidJWT},
		{"hmac with a public key", sign(t, []byte("k1"), jwt.SigningMethodHS256, "k1", nil), 401, ReasonInvalidJWT},
		{"alg none", sign(t, jwt.UnsafeAllowNoneSignatureType, jwt.SigningMethodNone, "k1", nil), 401, ReasonInvalidJWT},
		{"no subject", sign(t, k1, jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { delete(c, "sub") }), 401, ReasonInvalidJWT},
	} {
		before := 0.0
		if c.reason != "" {
			before = s.failures(c.reason)
		}
		status, hdr, body := s.get("/", "Bearer "+c.token)
		if status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
			continue
		}
		if status == 200 {
			if body != "carol/jwt" {
				t.Errorf("%s: principal %s", c.name, body)
			}
			continue
		}
		message(t, body)
		if got := bearerError(hdr); len(got) < 50 || got[:50] != `Bearer realm="meshwork", error="invalid_token", er` {
			t.Errorf("%s: challenge %q", c.name, got)
		}
		if got := s.failures(c.reason); got != before+1 {
			t.Errorf("%s: failures{reason=%s} %v -> %v", c.name, c.reason, before, got)
		}
	}
}

// A token signed by a key the provider added after the keys were fetched
// makes them be fetched again, at once but at most once per interval.
func TestJWTKeyRotation(t *testing.T) {
	p := newIDP(t)
	s := serve(t, Config{JWT: p.config()})
	if status, _, body := s.get("/", "Bearer "+sign(t, p.key("k1"), jwt.SigningMethodES256, "k1", nil)); status != 200 {
		t.Fatalf("k1: %d %s", status, body)
	}
	fetches := p.Fetches.Load()
	k2 := p.addKey("k2")
	if status, _, body := s.get("/", "Bearer "+sign(t, k2, jwt.SigningMethodES256, "k2", nil)); status != 200 {
		t.Fatalf("k2 after rotation: %d %s", status, body)
	}
	if got := p.Fetches.Load(); got != fetches+1 {
		t.Fatalf("keys fetched %d times for the new kid, want 1", got-fetches)
	}
	// Forged key ids do not make the provider be asked again within the interval.
	for i := range 5 {
		tok := sign(t, newKey(t), jwt.SigningMethodES256, "forged-"+string(rune('a'+i)), nil)
		if status, _, _ := s.get("/", "Bearer "+tok); status != 401 {
			t.Fatalf("forged kid: %d", status)
		}
	}
	if got := p.Fetches.Load(); got > fetches+2 {
		t.Fatalf("forged kids made %d fetches", got-fetches-1)
	}
}

// principal_claim names another claim; a custom clock shows the leeway.
func TestJWTPrincipalClaim(t *testing.T) {
	p := newIDP(t)
	cfg := p.config()
	cfg.PrincipalClaim = "preferred_username"
	s := serve(t, Config{JWT: cfg})
	tok := sign(t, p.key("k1"), jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["preferred_username"] = "carol.smith" })
	if status, _, body := s.get("/", "Bearer "+tok); status != 200 || body != "carol.smith/jwt" {
		t.Fatalf("%d %s", status, body)
	}
}

// A verified JWT is remembered (a signature check costs CPU on every
// request otherwise), never past its exp and leeway; a refused one is not.
func TestJWTCache(t *testing.T) {
	p := newIDP(t)
	s := serve(t, Config{JWT: p.config()})
	exp := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	tok := sign(t, p.key("k1"), jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) { c["exp"] = exp.Unix() })
	if status, _, _ := s.get("/", "Bearer "+sign(t, newKey(t), jwt.SigningMethodES256, "k1", nil)); status != 401 || s.a.cache.len() != 0 {
		t.Fatalf("a refused token: %d, cached %d", status, s.a.cache.len())
	}
	for range 2 {
		if status, _, body := s.get("/", "Bearer "+tok); status != 200 || body != "carol/jwt" {
			t.Fatalf("%d %s", status, body)
		}
	}
	if s.a.cache.len() != 1 {
		t.Fatalf("cached %d", s.a.cache.len())
	}
	e := s.a.cache.entries[keyed(s.a.key, "jwt", tok)]
	if e.name != "carol" || !e.exp.Equal(exp.Add(DefaultLeeway)) {
		t.Fatalf("entry %+v, want carol until %s", e, exp.Add(DefaultLeeway))
	}
}

// A provider on https with an organisation's own CA: jwt.tls.ca_file
// verifies it; without it, its keys are never fetched and tokens refused.
func TestJWTProviderWithPrivateCA(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "idp-ca")
	leaf := ca.Issue(t, tlstest.Spec{CN: "idp"})
	key := newKey(t)
	b, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	jwks := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":%q,"y":%q}]}`,
		base64.RawURLEncoding.EncodeToString(b[1:33]), base64.RawURLEncoding.EncodeToString(b[33:]))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, jwks) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.Pair}}
	srv.StartTLS()
	defer srv.Close()
	tok := sign(t, key, jwt.SigningMethodES256, "k1", nil)
	for _, c := range []struct {
		files  tlsconfig.Files
		status int
	}{{tlsconfig.Files{CAFile: ca.File}, 200}, {tlsconfig.Files{}, 401}} {
		s := serve(t, Config{JWT: &JWT{JWKSURL: srv.URL + "/jwks.json", Issuer: authntest.Issuer, Audience: authntest.Audience, TLS: c.files}})
		if status, _, body := s.get("/", "Bearer "+tok); status != c.status {
			t.Fatalf("ca_file %q: %d %s", c.files.CAFile, status, body)
		}
	}
}
