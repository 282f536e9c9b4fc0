package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// With auth, the control plane's API refuses requests without credentials
// in its own error shape and changes nothing (no interest declared); it
// reaches a site's registry that has auth with site_auth.
func TestAuthAPIAndSiteCredentials(t *testing.T) {
	east := kafkatest.Cluster(t)
	// The site's registry, with auth: it answers /subjects to the token only.
	regAuth, err := authn.New(authn.Config{Tokens: []authn.Token{{Name: "svc-controlplane", Token: "cp-token"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer regAuth.Close()
	reg := httptest.NewServer(regAuth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("[]"))
	})))
	defer reg.Close()
	dir := t.TempDir()
	meshPath := filepath.Join(dir, "mesh.yaml")
	doc := fmt.Sprintf("sites:\n  - name: east\n    kafka: {brokers: [%s]}\n    registry: %s\n", east.ListenAddrs()[0], reg.URL)
	if err := os.WriteFile(meshPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "cp-token")
	if err := os.WriteFile(tokenFile, []byte("cp-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	registryHealth := func(siteAuth authn.Credentials) (*http.Client, string, ServiceHealth) {
		cfg := DefaultConfig()
		cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "east", meshPath, nil
		cfg.RefreshInterval, cfg.Timeout = 100*time.Millisecond, 2*time.Second
		cfg.SiteAuth = siteAuth
		cfg.Auth = authn.Config{Users: []authn.User{{Name: "ops", Password: "pw"}}}
		s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		ctx := kafkatest.Context(t, wait)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(ctx) })
		a, err := cfg.Authenticator(kafkatest.Logger(), prometheus.NewRegistry(), authn.WithRefusalBody(s.AuthRefusal))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		api := httptest.NewServer(a.Middleware(s.Handler(), "/healthz", "/readyz"))
		t.Cleanup(api.Close)
		ops := &http.Client{Transport: mustTransport(t, authn.Credentials{Username: "ops", Password: "pw"})}
		deadline := time.Now().Add(wait)
		for {
			var res struct{ Sites []Site }
			resp, err := ops.Get(api.URL + "/v1/sites")
			if err != nil {
				t.Fatal(err)
			}
			_ = json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if len(res.Sites) == 1 && res.Sites[0].Registry != nil && res.Sites[0].Registry.Status != "unknown" && res.Sites[0].Registry.Status != "" {
				return ops, api.URL, *res.Sites[0].Registry
			}
			if time.Now().After(deadline) {
				t.Fatalf("the registry's health never gathered: %+v", res.Sites)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if _, _, h := registryHealth(authn.Credentials{}); h.Status != "down" || !strings.Contains(h.Error, "401") {
		t.Fatalf("without site_auth, the registry's health: %+v", h)
	}
	ops, url, h := registryHealth(authn.Credentials{TokenFile: tokenFile})
	if h.Status != "ok" {
		t.Fatalf("with site_auth, the registry's health: %+v", h)
	}

	// The API without credentials: 401 in the API's shape, no lease.
	resp, err := http.Post(url+"/v1/interest", "application/json", strings.NewReader(`{"site":"east","topic":"orders","ttl":"1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	var e Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(e.Error, "Unauthorized: no credentials") || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("POST /v1/interest without credentials: %d %+v", resp.StatusCode, e)
	}
	resp, err = ops.Get(url + "/v1/interest?site=east")
	if err != nil {
		t.Fatal(err)
	}
	var listed struct{ Leases []Lease }
	_ = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(listed.Leases) != 0 {
		t.Fatalf("leases after a refused POST: %d %+v", resp.StatusCode, listed.Leases)
	}
}

func mustTransport(t *testing.T, c authn.Credentials) http.RoundTripper {
	rt, err := c.Transport(http.DefaultTransport, "test")
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
