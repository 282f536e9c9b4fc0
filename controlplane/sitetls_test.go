package controlplane

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// adminOverMutualTLS serves an admin endpoint whose /readyz answers 200
// over TLS with srv's certificate, requiring a client certificate of
// clients.
func adminOverMutualTLS(t *testing.T, srv *tlstest.Leaf, clients *tlstest.CA) string {
	t.Helper()
	ts, err := tlsconfig.NewServer(tlsconfig.ServerFiles{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: clients.File}, "tls")
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) }))
	h.Listener = tls.NewListener(h.Listener, ts.Config())
	h.Start()
	t.Cleanup(h.Close)
	return "https://" + h.Listener.Addr().String()
}

// The control plane checks a site's https admin endpoints with the site's
// tls section of mesh.yaml (CA and client certificate); a site without one
// shows its endpoints down with the certificate error.
func TestHealthChecksOfHTTPSEndpointsUseTheSiteTLS(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	admin := adminOverMutualTLS(t, servers.Issue(t, tlstest.Spec{CN: "east-mqtt"}), clients)
	other := adminOverMutualTLS(t, servers.Issue(t, tlstest.Spec{CN: "west-mqtt"}), clients)
	cp := clients.Issue(t, tlstest.Spec{CN: "controlplane", Client: true})
	east, west := kafkatest.Cluster(t), kafkatest.Cluster(t)

	meshPath := filepath.Join(dir, "mesh.yaml")
	doc := fmt.Sprintf(`sites:
  - name: east
    kafka: {brokers: [%s]}
    tls: {ca_file: %s, cert_file: %s, key_file: %s}
    adapters: [{name: mqtt, admin: %s}]
  - name: west
    kafka: {brokers: [%s]}
    adapters: [{name: mqtt, admin: %s}]
links: [east-west]
`, east.ListenAddrs()[0], servers.File, cp.CertFile, cp.KeyFile, admin, west.ListenAddrs()[0], other)
	if err := os.WriteFile(meshPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "east", meshPath, nil
	cfg.RefreshInterval, cfg.Timeout = 200*time.Millisecond, 2*time.Second
	s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(kafkatest.Context(t, wait)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	var sites struct{ Sites []Site }
	deadline := time.Now().Add(wait)
	for {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/sites", nil))
		if err := json.Unmarshal(rec.Body.Bytes(), &sites); err == nil && len(sites.Sites) == 2 &&
			len(sites.Sites[0].Adapters) == 1 && sites.Sites[0].Adapters[0].Status != StatusUnknown &&
			len(sites.Sites[1].Adapters) == 1 && sites.Sites[1].Adapters[0].Status != StatusUnknown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sites never looked at: %s", rec.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h := sites.Sites[0].Adapters[0].Health; h.Status != StatusOK {
		t.Errorf("east's https adapter, checked with east's tls section: %+v, want ok", h)
	}
	if h := sites.Sites[1].Adapters[0].Health; h.Status != StatusDown || !strings.Contains(h.Error, "certificate") {
		t.Errorf("west's https adapter, no tls section: %+v, want down for an unverified certificate", h)
	}
}

// The control plane reads a site's CA file anew when its content changes:
// an endpoint whose certificate a new CA issued is checked as ok once the
// site's ca_file holds the new CA, without a restart and with mesh.yaml
// unchanged.
func TestSiteTLSFilesAreReadAgainWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	oldCA := tlstest.NewCA(t, dir, "servers")
	newCA := tlstest.NewCA(t, dir, "servers-renewed")
	oldLeaf, newLeaf := oldCA.Issue(t, tlstest.Spec{CN: "east-mqtt"}), newCA.Issue(t, tlstest.Spec{CN: "east-mqtt-renewed"})
	var cert atomic.Pointer[tls.Certificate]
	cert.Store(&oldLeaf.Pair)
	h := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) }))
	h.Listener = tls.NewListener(h.Listener, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Load(), nil }})
	h.Start()
	t.Cleanup(h.Close)
	admin := "https://" + h.Listener.Addr().String()
	east := kafkatest.Cluster(t)

	caFile := filepath.Join(dir, "site-ca.pem")
	copyFile := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		tlstest.Write(t, caFile, b)
	}
	copyFile(oldCA.File)
	meshPath := filepath.Join(dir, "mesh.yaml")
	doc := fmt.Sprintf("sites:\n  - name: east\n    kafka: {brokers: [%s]}\n    tls: {ca_file: %s}\n    adapters: [{name: mqtt, admin: %s}]\n",
		east.ListenAddrs()[0], caFile, admin)
	if err := os.WriteFile(meshPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "east", meshPath, nil
	cfg.RefreshInterval, cfg.Timeout = 100*time.Millisecond, 2*time.Second
	s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(kafkatest.Context(t, wait)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	health := func() Health {
		var sites struct{ Sites []Site }
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/sites", nil))
		if err := json.Unmarshal(rec.Body.Bytes(), &sites); err != nil || len(sites.Sites) != 1 || len(sites.Sites[0].Adapters) != 1 {
			return Health{}
		}
		return sites.Sites[0].Adapters[0].Health
	}
	waitFor := func(what string, status string) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for {
			h := health()
			if h.Status == status {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the adapter is %+v, want %s", what, h, status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the old CA", StatusOK)

	// The endpoint is renewed by the new CA: the site's file still names
	// the old one, so the check fails on the certificate...
	cert.Store(&newLeaf.Pair)
	h.CloseClientConnections()
	waitFor("a certificate of the new CA, the old one trusted", StatusDown)
	// ...until the file holds the new CA.
	copyFile(newCA.File)
	waitFor("the new CA in the site's ca_file", StatusOK)
}
