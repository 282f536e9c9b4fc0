package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// runDoc runs cmd with the YAML doc (after the site, listen and kafka
// lines) and returns its listen address once /readyz answers 200 on it
// through c with scheme.
func runDoc(t *testing.T, cmd Command[fakeConfig], doc, scheme string, c *http.Client) string {
	t.Helper()
	addr := freeAddr(t)
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\n%s", addr, doc))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx, []string{"-config", file}, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(scheme + "://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends method url through c with the Authorization header auth.
func call(t *testing.T, c *http.Client, method, url, auth string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func basicHeader(user, pw string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

// With the common auth section, Run authenticates the service's API and
// /metrics, and leaves /healthz and /readyz open; a refusal is 401 in
// Confluent's shape with a Basic challenge, counted in /metrics.
func TestRunAuthenticatesEverythingButProbes(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("ci-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := http.DefaultClient
	addr := runDoc(t, fakeCommand(&fakeService{}), fmt.Sprintf("auth:\n  users:\n    - {name: ops, password_hash: %q}\n  tokens:\n    - {name: ci, token_file: %s}\n", hash, tokenFile), "http", c)
	base := "http://" + addr
	for _, path := range []string{"/greeting", "/metrics", "/anything/else"} {
		status, hdr, body := call(t, c, "GET", base+path, "")
		if status != 401 || hdr.Values("WWW-Authenticate")[0] != `Basic realm="meshwork", charset="UTF-8"` ||
			body != `{"error_code":40101,"message":"Unauthorized: no credentials; send HTTP basic credentials or a bearer token."}`+"\n" {
			t.Errorf("%s without credentials: %d %q %s", path, status, hdr.Values("WWW-Authenticate"), body)
		}
		if status, _, body := call(t, c, "GET", base+path, basicHeader("ops", "wrong")); status != 401 {
			t.Errorf("%s with a wrong password: %d %s", path, status, body)
		}
	}
	if status, _, body := call(t, c, "GET", base+"/greeting", basicHeader("ops", "s3cret")); status != 200 || body != "hello" {
		t.Fatalf("with the password: %d %s", status, body)
	}
	if status, _, body := call(t, c, "GET", base+"/greeting", "Bearer ci-token"); status != 200 || body != "hello" {
		t.Fatalf("with the token: %d %s", status, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := call(t, c, "GET", base+path, ""); status != 200 {
			t.Errorf("%s without credentials: %d %s", path, status, body)
		}
	}
	status, _, body := call(t, c, "GET", base+"/metrics", "Bearer ci-token")
	if status != 200 || !strings.Contains(body, `meshwork_auth_failures_total{reason="missing"} 3`) ||
		!strings.Contains(body, `meshwork_auth_failures_total{reason="wrong_password"} 3`) {
		t.Fatalf("metrics with the token: %d\n%s", status, grepLines(body, "meshwork_auth"))
	}
}

// metrics_listen serves /metrics alone on a plain listener of its own,
// without credentials, and /metrics leaves the (authenticated) listen
// address.
func TestRunMetricsListen(t *testing.T) {
	metricsAddr := freeAddr(t)
	c := http.DefaultClient
	addr := runDoc(t, fakeCommand(&fakeService{}), fmt.Sprintf("metrics_listen: %s\nauth:\n  users: [{name: ops, password: pw}]\n", metricsAddr), "http", c)
	if status, _, body := call(t, c, "GET", "http://"+metricsAddr+"/metrics", ""); status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics_listen /metrics: %d %.100s", status, body)
	}
	if status, _, body := call(t, c, "GET", "http://"+metricsAddr+"/greeting", ""); status != 404 {
		t.Fatalf("metrics_listen serves the API: %d %s", status, body)
	}
	if status, _, body := call(t, c, "GET", "http://"+addr+"/metrics", basicHeader("ops", "pw")); status == 200 && strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics still on listen: %d", status)
	}
	if status, _, _ := call(t, c, "GET", "http://"+addr+"/greeting", ""); status != 401 {
		t.Fatalf("API without credentials: %d", status)
	}
}

// A service with an error shape of its own answers refusals in it.
type refusingService struct{ fakeService }

func (*refusingService) AuthRefusal(msg string) any { return map[string]string{"error": msg} }

func TestRunAuthRefusalInTheServiceShape(t *testing.T) {
	svc := &refusingService{}
	cmd := fakeCommand(nil)
	cmd.New = func(fakeConfig, Deps) (Service, error) { return svc, nil }
	addr := runDoc(t, cmd, "auth:\n  tokens: [{name: ci, token_sha256: "+strings.Repeat("00", 32)+"}]\n", "http", http.DefaultClient)
	status, hdr, body := call(t, http.DefaultClient, "GET", "http://"+addr+"/greeting", "Bearer nope")
	if status != 401 || body != `{"error":"Unauthorized: the bearer token is not one this service knows; send a bearer token."}`+"\n" ||
		!strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("%d %q %s", status, hdr.Values("WWW-Authenticate"), body)
	}
}

// Mutual TLS with client_certificates: a certificate of the client CA is
// the principal, one of another CA gets no handshake, plain HTTP to the
// TLS port is refused before the service sees it.
func TestRunClientCertificatesAndPlainHTTP(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	other := tlstest.NewCA(t, dir, "other")
	srv := servers.Issue(t, tlstest.Spec{CN: "service"})
	billing := clients.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	forged := other.Issue(t, tlstest.Spec{CN: "billing", Client: true})
	good := tlstest.Client(servers.Pool(), &billing.Pair)
	doc := fmt.Sprintf("tls: {cert_file: %s, key_file: %s, client_ca_file: %s, client_auth: verify_if_given}\nauth:\n  client_certificates: true\n",
		srv.CertFile, srv.KeyFile, clients.File)
	addr := runDoc(t, fakeCommand(&fakeService{}), doc, "https", good)
	if status, _, body := call(t, good, "GET", "https://"+addr+"/greeting", ""); status != 200 || body != "hello" {
		t.Fatalf("client certificate: %d %s", status, body)
	}
	none := tlstest.Client(servers.Pool(), nil)
	if status, _, body := call(t, none, "GET", "https://"+addr+"/greeting", ""); status != 401 || !strings.Contains(body, "a client certificate the service's client CAs verify") {
		t.Fatalf("no certificate: %d %s", status, body)
	}
	if _, err := tlstest.Client(servers.Pool(), &forged.Pair).Get("https://" + addr + "/greeting"); err == nil {
		t.Fatal("a certificate of another CA got an answer")
	}
	status, _, body := call(t, http.DefaultClient, "GET", "http://"+addr+"/greeting", "")
	if status != 400 || !strings.Contains(body, "Client sent an HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP to the TLS port: %d %s", status, body)
	}
}

// The auth section is checked with the file's line numbers; a secret file
// that cannot be read stops the service at start, naming the field.
func TestAuthConfigErrors(t *testing.T) {
	cmd := fakeCommand(&fakeService{})
	bad := writeConfig(t, "site: east\nkafka: {brokers: [127.0.0.1:9092]}\nmetrics_listen: nowhere\nauth:\n  client_certificates: true\n  users:\n    - name: ops\n      password_hash: md5\n")
	code, _, errOut := run(t, context.Background(), cmd, "-config", bad, "-check")
	for _, want := range []string{"fake.yaml:3:1: field metrics_listen: want host:port", "fake.yaml:5:3: field auth.client_certificates: needs tls.client_ca_file",
		"fake.yaml:8:7: field auth.users[0].password_hash: want a bcrypt hash"} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("-check: %d, want %q in\n%s", code, want, errOut)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing")
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\nauth:\n  users: [{name: ops, password_file: %s}]\n", freeAddr(t), missing))
	svc := &fakeService{}
	cmd.New = func(fakeConfig, Deps) (Service, error) { return svc, nil }
	code, _, errOut = run(t, context.Background(), cmd, "-config", file)
	if code != 2 || !strings.Contains(errOut, "auth.users[0].password_file: open "+missing) || !svc.closed.Load() {
		t.Fatalf("missing password file: %d %s (closed %v)", code, errOut, svc.closed.Load())
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
