package service

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// runTLS runs the fake service with the tls section doc (YAML, indented
// under tls:) and returns its address once it answers over https.
func runTLS(t *testing.T, tlsDoc string, ready *http.Client) string {
	t.Helper()
	cmd := fakeCommand(&fakeService{})
	cmd.tlsOptions = []tlsconfig.ServerOption{tlsconfig.WithCheckInterval(0)}
	return runDoc(t, cmd, "tls:\n"+tlsDoc, "https", ready)
}

func get(c *http.Client, url string) (int, string, *tls.ConnectionState, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.TLS, err
}

// Every service's listen address (its API, /metrics, /healthz, /readyz)
// speaks TLS when the common tls section names a certificate: https with
// the CA works, plain HTTP is refused, and a renewed certificate is served
// on the next handshake without a restart.
func TestRunServesTLSAndReloadsCertificates(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	srv := servers.Issue(t, tlstest.Spec{CN: "service"})
	c := tlstest.Client(servers.Pool(), nil)
	addr := runTLS(t, fmt.Sprintf("  cert_file: %s\n  key_file: %s\n", srv.CertFile, srv.KeyFile), c)

	for _, path := range []string{"/greeting", "/healthz", "/readyz", "/metrics"} {
		if code, body, _, err := get(c, "https://"+addr+path); err != nil || code != http.StatusOK {
			t.Errorf("https %s: %d %v %.80q", path, code, err, body)
		}
	}
	// Plain HTTP to the TLS port: refused, the service's API never reached.
	code, body, _, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/greeting")
	if err == nil && (code != http.StatusBadRequest || !strings.Contains(body, "HTTPS server") || strings.Contains(body, "hello")) {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400 'sent an HTTP request to an HTTPS server'", code, body)
	}
	// A client that does not trust the CA is refused by its own check.
	if _, _, _, err := get(tlstest.Client(tlstest.NewCA(t, t.TempDir(), "other").Pool(), nil), "https://"+addr+"/healthz"); err == nil {
		t.Error("a client without the servers' CA verified the certificate")
	}

	renewed := servers.Issue(t, tlstest.Spec{CN: "service-renewed"})
	tlstest.Write(t, srv.KeyFile, renewed.KeyPEM)
	tlstest.Write(t, srv.CertFile, renewed.CertPEM)
	_, _, cs, err := get(c, "https://"+addr+"/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cs.PeerCertificates[0].SerialNumber, renewed.Pair.Leaf.SerialNumber; got.Cmp(want) != 0 {
		t.Fatalf("after renewal the listener served serial %s, want the renewed %s", got, want)
	}
}

// With client_auth: require, a client needs a certificate the client CA
// verifies; the probes are no exception, as the whole port is mutual TLS.
func TestRunRequiresClientCertificates(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	strangers := tlstest.NewCA(t, t.TempDir(), "strangers")
	srv := servers.Issue(t, tlstest.Spec{CN: "service"})
	good := clients.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	bad := strangers.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	withCert := tlstest.Client(servers.Pool(), &good.Pair)
	addr := runTLS(t, fmt.Sprintf("  cert_file: %s\n  key_file: %s\n  client_ca_file: %s\n  client_auth: require\n",
		srv.CertFile, srv.KeyFile, clients.File), withCert)

	if code, body, _, err := get(withCert, "https://"+addr+"/greeting"); err != nil || code != http.StatusOK || body != "hello" {
		t.Fatalf("a client with a certificate of the client CA: %d %q %v", code, body, err)
	}
	for name, c := range map[string]*http.Client{
		"no certificate":              tlstest.Client(servers.Pool(), nil),
		"a certificate of another CA": tlstest.Client(servers.Pool(), &bad.Pair),
	} {
		code, body, _, err := get(c, "https://"+addr+"/greeting")
		if err == nil {
			t.Errorf("%s: answered %d %q, want the handshake refused", name, code, body)
			continue
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v, want a refusal that names the certificate", name, err)
		}
	}
}

// A tls section that names files which are not there stops the service at
// start, naming the field, before it listens.
func TestRunFailsOnMissingCertificateFile(t *testing.T) {
	svc := &fakeService{}
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\ntls: {cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem}\n", freeAddr(t)))
	err := fakeCommand(svc).Run(context.Background(), []string{"-config", file}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "tls.cert_file") || svc.started.Load() {
		t.Fatalf("got %v, started %v; want an error naming tls.cert_file and no start", err, svc.started.Load())
	}
}

// The tls section is checked with the rest of the file.
func TestCheckReportsTLSSectionMistakes(t *testing.T) {
	file := writeConfig(t, "site: east\nkafka: {brokers: [127.0.0.1:9092]}\ntls:\n  cert_file: c.pem\n  client_auth: sometimes\n")
	code, _, errOut := run(t, context.Background(), fakeCommand(&fakeService{}), "-config", file, "-check")
	for _, want := range []string{"cert_file and key_file go together", "field tls.client_auth"} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("-check: %d %q, want %q", code, errOut, want)
		}
	}
}
