package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshwork/meshwork/internal/identity"
)

// echo answers the principal of the request: "name/method".
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p := identity.FromContext(r.Context())
	_, _ = io.WriteString(w, p.Name+"/"+p.Method)
})

type served struct {
	t   *testing.T
	a   *Authenticator
	url string
	reg *prometheus.Registry
}

// serve runs the middleware of cfg in front of echo.
func serve(t *testing.T, cfg Config, opts ...Option) *served {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, append([]Option{WithMetrics(reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Middleware(echo, "/healthz", "/readyz"))
	t.Cleanup(srv.Close)
	return &served{t: t, a: a, url: srv.URL, reg: reg}
}

// get sends GET path with the Authorization header auth ("" for none).
func (s *served) get(path, auth string) (int, http.Header, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (s *served) failures(reason string) float64 {
	return testutil.ToFloat64(s.a.failures.WithLabelValues(reason))
}

func basicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// message returns the message of a refusal body, checking its shape.
func message(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != CodeUnauthenticated || e.Message == "" {
		t.Fatalf("refusal body %q: want {\"error_code\":40101,\"message\":...} (%v)", body, err)
	}
	return e.Message
}

// idp is an OIDC provider's JWKS endpoint with keys that can be rotated.
type idp struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey
	fetches atomic.Int64
}

func newIDP(t *testing.T) *idp {
	p := &idp{t: t, keys: map[string]*ecdsa.PrivateKey{}}
	p.addKey("k1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		var keys []map[string]string
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
	p.url = srv.URL + "/jwks.json"
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *idp) addKey(kid string) *ecdsa.PrivateKey {
	k := newKey(p.t)
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
	return k
}

func (p *idp) key(kid string) *ecdsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

func (p *idp) config() *JWT {
	return &JWT{JWKSURL: p.url, Issuer: "https://idp.example/", Audience: "meshwork"}
}

// sign returns a token signed by key under kid with the standard claims
// of a valid token, changed by mod.
func sign(t *testing.T, key any, method jwt.SigningMethod, kid string, mod func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": "https://idp.example/", "aud": "meshwork", "sub": "carol", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
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

func bearerError(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, "Bearer") {
			return v
		}
	}
	return ""
}
