package authn

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// With client_certificates, a certificate the listener verified names the
// principal; the Authorization header comes first; a certificate of
// another CA never gets past the handshake; without client_certificates a
// certificate proves nothing.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	other := tlstest.NewCA(t, dir, "other")
	leaf := servers.Issue(t, tlstest.Spec{CN: "server"})
	billing := clients.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	forged := other.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	files := tlsconfig.ServerFiles{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile, ClientCAFile: clients.File, ClientAuth: tlsconfig.ClientAuthVerifyIfGiven}

	for _, certs := range []bool{true, false} {
		a, err := New(Config{ClientCertificates: certs, Users: []User{{Name: "ops", Password: "pw"}}},
			WithClientIdentity(files.ClientIdentityOf), WithMetrics(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		srv := httptest.NewUnstartedServer(a.Middleware(echo))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.Pair}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: clients.Pool()}
		srv.StartTLS()
		defer srv.Close()
		do := func(cert *tls.Certificate, auth string) (int, string, error) {
			c := tlstest.Client(servers.Pool(), cert)
			defer c.CloseIdleConnections()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := c.Do(req)
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), nil
		}
		status, body, err := do(&billing.Pair, "")
		switch {
		case err != nil:
			t.Fatal(err)
		case certs && (status != 200 || body != "billing/cert"):
			t.Fatalf("certificate: %d %s", status, body)
		case !certs && status != 401:
			t.Fatalf("certificate without client_certificates: %d %s", status, body)
		}
		if status, body, _ := do(&billing.Pair, basicAuth("ops", "pw")); status != 200 || body != "ops/basic" {
			t.Fatalf("header before certificate: %d %s", status, body)
		}
		if status, body, _ := do(&billing.Pair, basicAuth("ops", "wrong")); status != 401 {
			t.Fatalf("a wrong password with a good certificate: %d %s", status, body)
		}
		if _, _, err := do(&forged.Pair, ""); err == nil {
			t.Fatal("a certificate of another CA got an answer")
		}
	}
}
