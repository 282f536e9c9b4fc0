package rest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/authn/authntest"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// serveTLS serves e's adapter on a TLS listener made from its common tls
// section, as mesh-rest (service.Run) does, and returns its https:// URL.
func (e *env) serveTLS() string {
	e.t.Helper()
	url, _ := e.serveTLSServer()
	return url
}

// serveTLSServer is serveTLS that also returns the listener's TLS server.
func (e *env) serveTLSServer() (string, *tlsconfig.Server) {
	e.t.Helper()
	ts, err := e.a.cfg.Common.ListenerTLS(quietLog())
	if err != nil || ts == nil {
		e.t.Fatalf("ListenerTLS with a tls section: %v, %v", ts, err)
	}
	tc := ts.Config()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	h := e.a.Handler()
	auth, err := e.a.cfg.Common.Authenticator(quietLog(), prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != nil { // as service.Run does
		e.t.Cleanup(auth.Close)
		h = auth.Middleware(h, "/healthz", "/readyz")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, tc)) }()
	e.t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String(), ts
}

// tlsDo sends a request over a new TLS connection with the given client
// certificate (nil: none) and returns the status and body.
func tlsDo(t *testing.T, roots *x509.CertPool, cert *tls.Certificate, method, url string, body []byte, hdr ...string) (int, []byte, error) {
	t.Helper()
	c := tlstest.Client(roots, cert)
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaBinaryV2)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// With mutual TLS required, a client certificate's identity is the
// principal the authorizer sees (auth.client_certificates); a client without a certificate never gets past
// the handshake, one with a certificate of another CA neither.
func TestMutualTLSNamesThePrincipal(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	other := tlstest.NewCA(t, dir, "other")
	srv := servers.Issue(t, tlstest.Spec{CN: "rest"})
	billing := clients.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	intruder := other.Issue(t, tlstest.Spec{CN: "billing-forged", Client: true})
	e := newEnv(t, nil, func(c *Config) {
		c.TLS = tlsconfig.ServerFiles{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: clients.File}
		c.Auth.ClientCertificates = true
		c.Grants = []Grant{{Principal: "billing", Produce: []string{"orders"}}}
	})
	url := e.serveTLS()
	body := []byte(`{"records":[{"value":"YQ=="}]}`)

	status, resp, err := tlsDo(t, servers.Pool(), &billing.Pair, "POST", url+"/topics/orders", body)
	if err != nil || status != 200 {
		t.Fatalf("billing's certificate, its topic: %d %s %v", status, resp, err)
	}
	status, resp, err = tlsDo(t, servers.Pool(), &billing.Pair, "POST", url+"/topics/plain", body)
	if err != nil || status != 403 || errorCode(t, resp) != CodeForbidden || !strings.Contains(string(resp), "billing may not produce") {
		t.Fatalf("billing's certificate, another topic: %d %s %v", status, resp, err)
	}
	if _, _, err := tlsDo(t, servers.Pool(), nil, "POST", url+"/topics/orders", body); err == nil {
		t.Fatal("a client without a certificate got an answer with client_auth require")
	}
	if _, _, err := tlsDo(t, servers.Pool(), &intruder.Pair, "POST", url+"/topics/orders", body); err == nil {
		t.Fatal("a certificate of another CA got an answer")
	}
	if n := e.ends("orders"); n != 1 {
		t.Fatalf("orders holds %d records, want the one billing produced", n)
	}
}

// With client_auth verify_if_given, certificates and credentials live side
// by side: a client without a certificate authenticates with a password,
// the Authorization header comes before a certificate, and a request with
// neither is 401 saying both ways in.
func TestVerifyIfGivenAndCredentials(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	srv := servers.Issue(t, tlstest.Spec{CN: "rest"})
	billing := clients.Issue(t, tlstest.Spec{CN: "b", DNS: []string{"billing.example"}, Client: true})
	e := newEnv(t, nil, func(c *Config) {
		c.TLS = tlsconfig.ServerFiles{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: clients.File,
			ClientAuth: tlsconfig.ClientAuthVerifyIfGiven, ClientIdentity: tlsconfig.IdentityDNS}
		c.Auth = authn.Config{ClientCertificates: true, Users: []authn.User{{Name: "ops", Password: "pw"}}}
		c.Grants = []Grant{
			{Principal: "billing.example", Produce: []string{"orders"}},
			{Principal: "ops", Produce: []string{"plain"}},
		}
	})
	url := e.serveTLS()
	body := []byte(`{"records":[{"value":"YQ=="}]}`)
	for _, c := range []struct {
		name   string
		cert   *tls.Certificate
		topic  string
		hdr    []string
		status int
	}{
		{"certificate by its DNS name", &billing.Pair, "orders", nil, 200},
		{"password without a certificate", nil, "plain", []string{"Authorization", authntest.Basic("ops", "pw")}, 200},
		{"header before certificate", &billing.Pair, "orders", []string{"Authorization", authntest.Basic("ops", "pw")}, 403},
		{"wrong password with a certificate", &billing.Pair, "orders", []string{"Authorization", authntest.Basic("ops", "x")}, 401},
		{"nothing", nil, "orders", nil, 401},
	} {
		status, resp, err := tlsDo(t, servers.Pool(), c.cert, "POST", url+"/topics/"+c.topic, body, c.hdr...)
		if err != nil || status != c.status {
			t.Errorf("%s: %d %s %v, want %d", c.name, status, resp, err, c.status)
		}
		if status == 401 && !strings.Contains(string(resp), "or a client certificate") {
			t.Errorf("%s: 401 should say a certificate would do: %s", c.name, resp)
		}
	}
}

// A renewed server certificate is served without a restart.
func TestRESTServerCertificateReload(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	srv := servers.Issue(t, tlstest.Spec{CN: "rest"})
	e := newEnv(t, nil, func(c *Config) { c.TLS = tlsconfig.ServerFiles{CertFile: srv.CertFile, KeyFile: srv.KeyFile} })
	url, ts := e.serveTLSServer()
	serial := func() string {
		resp, err := tlstest.Client(servers.Pool(), nil).Get(url + "/topics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(); got != srv.Pair.Leaf.SerialNumber.String() {
		t.Fatalf("serial %s, want %s", got, srv.Pair.Leaf.SerialNumber)
	}
	renewed := servers.Issue(t, tlstest.Spec{CN: "rest-renewed"})
	tlstest.Write(t, srv.KeyFile, renewed.KeyPEM)
	tlstest.Write(t, srv.CertFile, renewed.CertPEM)
	if err := ts.Check(); err != nil { // the next handshake after the check interval does the same
		t.Fatal(err)
	}
	if got := serial(); got != renewed.Pair.Leaf.SerialNumber.String() {
		t.Fatalf("after renewal: serial %s, want %s", got, renewed.Pair.Leaf.SerialNumber)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Kafka.Brokers = []string{"127.0.0.1:9092"}
	cfg.Auth.ClientCertificates = true
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "auth.client_certificates: needs tls.client_ca_file") {
		t.Fatalf("client certificates without mutual TLS: %v", err)
	}
	cfg.TLS = tlsconfig.ServerFiles{CertFile: "c.pem", ClientAuth: "require"}
	err = cfg.Validate()
	for _, want := range []string{"tls: cert_file and key_file go together", "tls.client_ca_file: client_auth require needs"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
