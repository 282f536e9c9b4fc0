package adapters

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// An adapter reaches an https registry that requires mutual TLS with its
// registry.tls section (the CA and its client certificate), and not
// without it.
func TestRegistryClientOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	srvCert := servers.Issue(t, tlstest.Spec{CN: "registry"})
	adapter := clients.Issue(t, tlstest.Spec{CN: "mqtt-adapter", Client: true})
	ts, err := tlsconfig.NewServer(tlsconfig.ServerFiles{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, ClientCAFile: clients.File}, "tls")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_, _ = w.Write([]byte(`["orders-value"]`))
	}))
	srv.Listener = tls.NewListener(srv.Listener, ts.Config())
	srv.Start()
	t.Cleanup(srv.Close)
	url := "https://" + srv.Listener.Addr().String()

	get := func(reg Registry) error {
		t.Helper()
		hc, err := reg.HTTPClient(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(url + "/subjects")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return nil
	}
	good := Registry{URL: url, TLS: tlsconfig.Files{CAFile: servers.File, CertFile: adapter.CertFile, KeyFile: adapter.KeyFile}}
	if err := get(good); err != nil {
		t.Fatalf("with the CA and a client certificate: %v", err)
	}
	if _, err := NewSchemas(good, nil, nil); err != nil {
		t.Fatalf("NewSchemas with registry.tls: %v", err)
	}
	if err := get(Registry{URL: url, TLS: tlsconfig.Files{CAFile: servers.File}}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without a client certificate: %v, want the handshake refused", err)
	}
	if err := get(Registry{URL: url}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want the server's certificate unverified", err)
	}
	if _, err := NewSchemas(Registry{URL: url, TLS: tlsconfig.Files{CAFile: filepath.Join(dir, "missing.pem")}}, nil, nil); err == nil || !strings.Contains(err.Error(), "registry.tls.ca_file") {
		t.Errorf("a missing CA file: %v, want an error naming registry.tls.ca_file", err)
	}
}
