package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The service starts from a YAML file, serves its API beside /readyz,
// and stops cleanly when its context ends (as on SIGTERM).
func TestRunServesAndStops(t *testing.T) {
	runAndProduce(t, "", http.DefaultClient, "http")
}

// With a tls section the whole listen address speaks TLS: the API and
// /readyz over https, mutual TLS required here; a client without a
// certificate is refused at the handshake and plain HTTP gets a 400.
func TestRunServesTLS(t *testing.T) {
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	srv := servers.Issue(t, tlstest.Spec{CN: "rest"})
	client := clients.Issue(t, tlstest.Spec{CN: "shop", Client: true})
	tlsYAML := fmt.Sprintf("tls:\n  cert_file: %q\n  key_file: %q\n  client_ca_file: %q\n", srv.CertFile, srv.KeyFile, clients.File)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: servers.Pool(), Certificates: []tls.Certificate{client.Pair}, MinVersion: tls.VersionTLS12}}}
	runAndProduce(t, tlsYAML, c, "https", func(listen string) {
		anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: servers.Pool(), MinVersion: tls.VersionTLS12}}}
		if resp, err := anon.Get("https://" + listen + "/readyz"); err == nil {
			resp.Body.Close()
			t.Fatalf("a client without a certificate was answered %d", resp.StatusCode)
		}
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the TLS port: %d, want 400", resp.StatusCode)
		}
	})
}

// runAndProduce runs mesh-rest with extra YAML, waits until /readyz
// answers 200 through c, produces a record, runs checks, and stops it.
func runAndProduce(t *testing.T, extra string, c *http.Client, scheme string, checks ...func(listen string)) {
	t.Helper()
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "orders"))
	listen := freeAddr(t)
	file := filepath.Join(t.TempDir(), "rest.yaml")
	doc := fmt.Sprintf("site: east\nlisten: %s\nkafka:\n  brokers: [%q]\n%s", listen, kafka.ListenAddrs()[0], extra)
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- command.Run(ctx, []string{"-config", file}, io.Discard, &stderr) }()
	base := scheme + "://" + listen
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := c.Post(base+"/topics/orders", "application/vnd.kafka.binary.v2+json", strings.NewReader(`{"records":[{"value":"YQ=="}]}`))
	if err != nil || resp.StatusCode != 200 {
		cancel()
		t.Fatalf("produce: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, check := range checks {
		check(listen)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, &stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no graceful stop")
	}
}

func TestRunReportsConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rest.yaml")
	if err := os.WriteFile(file, []byte("site: east\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\nevents:\n  - type: shop.*\n    topic: _mesh.x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := command.Run(context.Background(), []string{"-config", file}, io.Discard, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "rest.yaml:6:5: field events[0].topic") {
		t.Fatalf("got %v", err)
	}
}
