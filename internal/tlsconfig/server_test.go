package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

func TestServerFilesValidate(t *testing.T) {
	for _, tc := range []struct {
		f    ServerFiles
		want string
	}{
		{ServerFiles{CertFile: "c.pem"}, "cert_file and key_file go together"},
		{ServerFiles{ClientCAFile: "ca.pem"}, "mutual TLS is TLS first"},
		{ServerFiles{CertFile: "c", KeyFile: "k", ClientAuth: ClientAuthRequire}, "client_ca_file: client_auth require needs the CAs"},
		{ServerFiles{CertFile: "c", KeyFile: "k", ClientAuth: "optional", ClientCAFile: "ca"}, `client_auth: want none, verify_if_given or require, got "optional"`},
		{ServerFiles{CertFile: "c", KeyFile: "k", ClientIdentity: "ou"}, `client_identity: want cn, dns, uri or email, got "ou"`},
		{ServerFiles{CertFile: "c", KeyFile: "k", MinVersion: "1.0"}, `min_version: want 1.2 or 1.3, got "1.0"`},
	} {
		if err := tc.f.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.f, err, tc.want)
		}
	}
	if err := (ServerFiles{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}).Validate(); err != nil {
		t.Fatal(err)
	}
	if !(ServerFiles{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}).Mutual() || (ServerFiles{CertFile: "c", KeyFile: "k"}).Mutual() {
		t.Fatal("client_ca_file alone should turn on mutual TLS (require), and nothing else should")
	}
	dir := t.TempDir()
	if _, err := NewServer(ServerFiles{CertFile: dir + "/missing.pem", KeyFile: dir + "/k.pem"}, "tls"); err == nil || !strings.Contains(err.Error(), "tls.cert_file: open") {
		t.Fatalf("got %v, want the missing file named by its field", err)
	}
}

// serve serves an HTTP handler that answers the client certificate's
// identity on a TLS listener configured by s, until the test ends.
func serve(t *testing.T, s *Server, f ServerFiles) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, f.ClientIdentityOf(r.TLS))
	})}
	go func() { _ = srv.Serve(tls.NewListener(ln, s.Config())) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// get makes a request on a new connection and returns the server's leaf
// certificate and the body.
func get(addr string, roots *x509.CertPool, client *tls.Certificate) (*x509.Certificate, string, error) {
	resp, err := tlstest.Client(roots, client).Get("https://" + addr + "/")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.TLS.PeerCertificates[0], string(body), err
}

func TestServerReloadsChangedCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	first := ca.Issue(t, tlstest.Spec{CN: "server"})
	f := ServerFiles{CertFile: first.CertFile, KeyFile: first.KeyFile}
	s, err := NewServer(f, "tls", WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, f)
	leaf, _, err := get(addr, ca.Pool(), nil)
	if err != nil || leaf.SerialNumber.Cmp(first.Pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("first handshake: %v, %v", leaf, err)
	}

	// A renewal: new files in place of the old ones. The next handshake
	// serves the new certificate, with no restart.
	renewed := ca.Issue(t, tlstest.Spec{CN: "renewed"})
	tlstest.Write(t, f.KeyFile, renewed.KeyPEM)
	tlstest.Write(t, f.CertFile, renewed.CertPEM)
	leaf, _, err = get(addr, ca.Pool(), nil)
	if err != nil || leaf.SerialNumber.Cmp(renewed.Pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("after the renewal: got serial %v (%v), want the renewed certificate's %v", leaf.SerialNumber, err, renewed.Pair.Leaf.SerialNumber)
	}
	if s.Reloads() != 1 {
		t.Fatalf("reloads = %d, want 1", s.Reloads())
	}

	// Caught half-way (the certificate replaced, the key not yet): the
	// renewed pair stays served, and the check says why.
	third := ca.Issue(t, tlstest.Spec{CN: "third"})
	tlstest.Write(t, f.CertFile, third.CertPEM)
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "tls.cert_file/key_file") {
		t.Fatalf("check with a certificate that does not match its key: %v", err)
	}
	leaf, _, err = get(addr, ca.Pool(), nil)
	if err != nil || leaf.SerialNumber.Cmp(renewed.Pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("mismatched files: got serial %v (%v), want the renewed one kept", leaf.SerialNumber, err)
	}
	tlstest.Write(t, f.KeyFile, third.KeyPEM)
	leaf, _, err = get(addr, ca.Pool(), nil)
	if err != nil || leaf.SerialNumber.Cmp(third.Pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("completed renewal: got serial %v (%v), want the third", leaf.SerialNumber, err)
	}
}

func TestServerChecksFilesAtMostOncePerInterval(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	first := ca.Issue(t, tlstest.Spec{CN: "server"})
	f := ServerFiles{CertFile: first.CertFile, KeyFile: first.KeyFile}
	s, err := NewServer(f, "tls", WithCheckInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, f)
	renewed := ca.Issue(t, tlstest.Spec{CN: "renewed"})
	tlstest.Write(t, f.KeyFile, renewed.KeyPEM)
	tlstest.Write(t, f.CertFile, renewed.CertPEM)
	leaf, _, err := get(addr, ca.Pool(), nil)
	if err != nil || leaf.SerialNumber.Cmp(first.Pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("within the interval the files are not read again: got %v (%v)", leaf.SerialNumber, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if leaf, _, err = get(addr, ca.Pool(), nil); err != nil || leaf.SerialNumber.Cmp(renewed.Pair.Leaf.SerialNumber) != 0 {
		t.Fatalf("after Check: got %v (%v), want the renewed certificate", leaf, err)
	}
}

func TestServerMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	other := tlstest.NewCA(t, dir, "other")
	srvLeaf := ca.Issue(t, tlstest.Spec{CN: "server"})
	billing := clients.Issue(t, tlstest.Spec{CN: "billing", URIs: []string{"spiffe://example.org/billing"}, Client: true})
	stranger := other.Issue(t, tlstest.Spec{CN: "stranger", Client: true})

	f := ServerFiles{CertFile: srvLeaf.CertFile, KeyFile: srvLeaf.KeyFile, ClientCAFile: clients.File}
	s, err := NewServer(f, "tls", WithCheckInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, f)
	if _, who, err := get(addr, ca.Pool(), &billing.Pair); err != nil || who != "billing" {
		t.Fatalf("client certificate: identity %q, %v; want billing", who, err)
	}
	if _, _, err := get(addr, ca.Pool(), nil); err == nil || !isCertRequired(err) {
		t.Fatalf("no client certificate with client_auth require: got %v, want the handshake refused", err)
	}
	if _, _, err := get(addr, ca.Pool(), &stranger.Pair); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}

	// verify_if_given: a client may come without a certificate (it
	// authenticates otherwise), a certificate it sends must verify; the
	// identity field is configurable.
	g := f
	g.ClientAuth, g.ClientIdentity = ClientAuthVerifyIfGiven, IdentityURI
	s2, err := NewServer(g, "tls")
	if err != nil {
		t.Fatal(err)
	}
	addr = serve(t, s2, g)
	if _, who, err := get(addr, ca.Pool(), nil); err != nil || who != "" {
		t.Fatalf("verify_if_given without a certificate: %q, %v", who, err)
	}
	if _, who, err := get(addr, ca.Pool(), &billing.Pair); err != nil || who != "spiffe://example.org/billing" {
		t.Fatalf("verify_if_given with a certificate: identity %q, %v; want its URI SAN", who, err)
	}
	if _, _, err := get(addr, ca.Pool(), &stranger.Pair); err == nil {
		t.Fatal("verify_if_given accepted a certificate of another CA")
	}
}

// isCertRequired reports whether err is the server's refusal of a client
// without a certificate (TLS 1.3: the certificate_required alert).
func isCertRequired(err error) bool {
	var alert tls.AlertError
	return errors.As(err, &alert) && alert == 116 || strings.Contains(err.Error(), "certificate required")
}

func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "clients")
	l := ca.Issue(t, tlstest.Spec{CN: "svc", DNS: []string{"svc.example"}, URIs: []string{"spiffe://x/svc"}, Emails: []string{"svc@example.org"}, Client: true})
	for field, want := range map[string]string{"": "svc", IdentityCN: "svc", IdentityDNS: "svc.example", IdentityURI: "spiffe://x/svc", IdentityEmail: "svc@example.org"} {
		if got := Identity(l.Pair.Leaf, field); got != want {
			t.Errorf("%q: got %q, want %q", field, got, want)
		}
	}
	bare := ca.Issue(t, tlstest.Spec{CN: "bare", Client: true})
	if got := Identity(bare.Pair.Leaf, IdentityEmail); got != "" {
		t.Errorf("no e-mail SAN: got %q", got)
	}
}
