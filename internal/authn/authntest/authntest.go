// Package authntest is an OIDC provider's JWKS endpoint for tests: keys
// that can be added (rotation), tokens signed with them or with a key the
// provider never published.
package authntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer and Audience are what the provider's tokens carry by default.
const (
	Issuer   = "https://idp.example/"
	Audience = "meshwork"
)

// IDP serves a JWK set of ES256 keys on loopback.
type IDP struct {
	t testing.TB
	// URL is the JWKS URL.
	URL string
	// Fetches counts the requests for the key set.
	Fetches atomic.Int64

	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
}

// New starts a provider with one key, k1, stopped when the test ends.
func New(t testing.TB) *IDP {
	p := &IDP{t: t, keys: map[string]*ecdsa.PrivateKey{}}
	p.AddKey("k1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.Fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		keys := []map[string]string{}
		for kid, k := range p.keys {
			b, err := k.PublicKey.Bytes() // 0x04 || X || Y
			if err != nil {
				t.Error(err)
				return
			}
			keys = append(keys, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
				"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:])})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/jwks.json"
	return p
}

// NewKey returns a fresh ES256 key, e.g. one the provider never published.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// AddKey publishes a new key under kid.
func (p *IDP) AddKey(kid string) *ecdsa.PrivateKey {
	k := NewKey(p.t)
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
	return k
}

// Key returns the published key kid.
func (p *IDP) Key(kid string) *ecdsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

// Token returns a token for subject, valid for an hour, signed by k1 and
// changed by mod.
func (p *IDP) Token(subject string, mod func(jwt.MapClaims)) string {
	return Sign(p.t, p.Key("k1"), jwt.SigningMethodES256, "k1", func(c jwt.MapClaims) {
		c["sub"] = subject
		if mod != nil {
			mod(c)
		}
	})
}

// Sign returns a token signed by key under kid with the claims of a valid
// token (Issuer, Audience, sub carol, an hour left), changed by mod.
func Sign(t testing.TB, key any, method jwt.SigningMethod, kid string, mod func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "carol", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Expired makes a token that expired an hour ago.
func Expired(c jwt.MapClaims) {
	past := time.Now().Add(-2 * time.Hour).Unix()
	c["iat"], c["exp"] = past, past+3600
}

// Basic is the Authorization header of HTTP basic credentials.
func Basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
