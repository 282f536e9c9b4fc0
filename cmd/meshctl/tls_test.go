package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// tlsControlPlane serves /v1/sites over https with a certificate of a
// private CA, asking for a client certificate of the same CA when mutual.
func tlsControlPlane(t *testing.T, ca *tlstest.CA, mutual bool) string {
	t.Helper()
	server := ca.Issue(t, tlstest.Spec{CN: "controlplane"})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/sites" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sites":[{"name":"east"}]}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.Pair}, MinVersion: tls.VersionTLS12}
	if mutual {
		srv.TLS.ClientCAs, srv.TLS.ClientAuth = ca.Pool(), tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPrivateCA(t *testing.T) {
	dir := isolate(t)
	t.Setenv(caEnv, "")
	t.Setenv(meshCAEnv, "")
	ca := tlstest.NewCA(t, dir, "mesh test CA")
	url := tlsControlPlane(t, ca, false)

	if code, _, errOut := meshctl(t, "sites", "--server", url); code != 1 || !strings.Contains(errOut, "certificate signed by unknown authority") {
		t.Fatalf("without the CA: %d %q", code, errOut)
	}
	if code, out, errOut := meshctl(t, "sites", "--server", url, "--cacert", ca.File); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("--cacert: %d %q %q", code, out, errOut)
	}
	t.Setenv(meshCAEnv, ca.File)
	if code, out, errOut := meshctl(t, "sites", "--server", url); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("$%s: %d %q %q", meshCAEnv, code, out, errOut)
	}
	t.Setenv(meshCAEnv, "")
	t.Setenv(caEnv, ca.File)
	if code, out, errOut := meshctl(t, "sites", "--server", url); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("$%s: %d %q %q", caEnv, code, out, errOut)
	}
	t.Setenv(caEnv, "")

	// The dev mesh's endpoints file names the control plane and its CA.
	if err := os.MkdirAll(".mesh", 0o755); err != nil {
		t.Fatal(err)
	}
	doc := `{"controlplane": "` + url + `", "tls_ca": "` + ca.File + `"}`
	if err := os.WriteFile(filepath.Join(".mesh", "endpoints.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := meshctl(t, "sites"); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("tls_ca of endpoints.json: %d %q %q", code, out, errOut)
	}

	if code, _, errOut := meshctl(t, "sites", "--server", url, "--cacert", filepath.Join(dir, "missing.pem")); code != 1 || !strings.Contains(errOut, "missing.pem") {
		t.Fatalf("a missing CA file: %d %q", code, errOut)
	}
}

func TestClientCertificate(t *testing.T) {
	dir := isolate(t)
	t.Setenv(certEnv, "")
	t.Setenv(keyEnv, "")
	ca := tlstest.NewCA(t, dir, "mesh test CA")
	client := ca.Issue(t, tlstest.Spec{CN: "operator", Client: true})
	url := tlsControlPlane(t, ca, true)

	if code, _, errOut := meshctl(t, "sites", "--server", url, "--cacert", ca.File); code != 1 || !strings.Contains(errOut, "does not answer") {
		t.Fatalf("without a client certificate: %d %q", code, errOut)
	}
	if code, out, errOut := meshctl(t, "sites", "--server", url, "--cacert", ca.File, "--cert", client.CertFile, "--key", client.KeyFile); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("--cert/--key: %d %q %q", code, out, errOut)
	}
	t.Setenv(certEnv, client.CertFile)
	t.Setenv(keyEnv, client.KeyFile)
	if code, out, errOut := meshctl(t, "sites", "--server", url, "--cacert", ca.File); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("$%s/$%s: %d %q %q", certEnv, keyEnv, code, out, errOut)
	}
	if code, _, errOut := meshctl(t, "sites", "--server", url, "--cacert", ca.File, "--key", ""); code != 0 {
		t.Fatalf("an empty flag falls back on the environment: %d %q", code, errOut)
	}
}
