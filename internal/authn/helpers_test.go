package authn

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshwork/meshwork/internal/authn/authntest"
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

// idp is the test provider with this package's JWT section.
type idp struct{ *authntest.IDP }

func newIDP(t *testing.T) *idp { return &idp{authntest.New(t)} }

func (p *idp) config() *JWT {
	return &JWT{JWKSURL: p.URL, Issuer: authntest.Issuer, Audience: authntest.Audience}
}

func (p *idp) key(kid string) *ecdsa.PrivateKey    { return p.Key(kid) }
func (p *idp) addKey(kid string) *ecdsa.PrivateKey { return p.AddKey(kid) }
func newKey(t *testing.T) *ecdsa.PrivateKey        { return authntest.NewKey(t) }

func sign(t *testing.T, key any, method jwt.SigningMethod, kid string, mod func(jwt.MapClaims)) string {
	return authntest.Sign(t, key, method, kid, mod)
}

func bearerError(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, "Bearer") {
			return v
		}
	}
	return ""
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
