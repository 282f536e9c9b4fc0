package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// TestIntegrationRESTTLS runs mesh-rest with mutual TLS required on real
// Kafka and checks it with clients Meshwork did not write: curl produces
// with a client certificate (whose CN is the principal the rules name) and
// is refused without one; Python's ssl module sees a renewed server
// certificate after its files were replaced, with no restart; kcat reads
// what was produced.
func TestIntegrationRESTTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka, kcat, python := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT"), env(t, "MESH_E2E_PYTHON")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "it.rest.tls." + suffix
	createTopics(t, kafka, 1, topic)
	dir := t.TempDir()
	servers := tlstest.NewCA(t, dir, "servers")
	clients := tlstest.NewCA(t, dir, "clients")
	srv := servers.Issue(t, tlstest.Spec{CN: "rest"})
	shop := clients.Issue(t, tlstest.Spec{CN: "shop", Client: true})
	port := freePorts(t, 1)[0]
	cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%[1]d
instance_id: it-tls-%[2]s
kafka:
  brokers: [%[3]s]
idempotency:
  topic: _mesh.rest.idempotency.it-tls-%[2]s
webhooks:
  subscriptions_topic: _mesh.rest.subscriptions.it-tls-%[2]s
tls:
  cert_file: %[4]q
  key_file: %[5]q
  client_ca_file: %[6]q
auth:
  client_certificates: true
grants:
  - principal: shop
    produce: [%[7]q]
`, port, suffix, kafka, srv.CertFile, srv.KeyFile, clients.File, topic)
	p := launchService(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-rest"), "mesh-rest", cfg, port)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: servers.Pool(), Certificates: []tls.Certificate{shop.Pair}, MinVersion: tls.VersionTLS12}}}
	waitFor(t, 60*time.Second, "mesh-rest /readyz over mutual TLS", func() error {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("mesh-rest exited: %v\n%s", p.err, b)
		default:
		}
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %s", resp.Status)
		}
		return nil
	})

	curl := func(args ...string) (string, error) {
		out, err := tryRun(ctx, nil, "curl", append([]string{"-sS", "--max-time", "10", "--cacert", servers.File}, args...)...)
		return string(out), err
	}
	produce := []string{"-H", "Content-Type: application/vnd.kafka.json.v2+json", "--data", `{"records":[{"key":"k","value":{"via":"curl"}}]}`, base + "/topics/" + topic}
	out, err := curl(append([]string{"--cert", shop.CertFile, "--key", shop.KeyFile}, produce...)...)
	if err != nil || !strings.Contains(out, `"offsets":[{"partition":0,"offset":0,"error_code":null`) {
		t.Fatalf("curl with shop's certificate: %v\n%s", err, out)
	}
	if out, err := curl(produce...); err == nil {
		t.Fatalf("curl without a client certificate was answered: %s", out)
	}
	recs := kcatRecords(ctx, t, kcat, kafka, topic, 1)
	if len(recs) != 1 || recs[0]["payload"] != `{"via":"curl"}` {
		t.Fatalf("kcat read %v", recs)
	}

	// A renewal: the files replaced, the process left alone. Python's ssl
	// module sees the new certificate once the listener looked at the
	// files again (at most every 5 s).
	renewed := servers.Issue(t, tlstest.Spec{CN: "rest-renewed"})
	tlstest.Write(t, srv.KeyFile, renewed.KeyPEM)
	tlstest.Write(t, srv.CertFile, renewed.CertPEM)
	script := `import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
with socket.create_connection(("127.0.0.1", int(sys.argv[4])), timeout=5) as s:
    with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
        print(dict(x[0] for x in tls.getpeercert()["subject"])["commonName"])
`
	waitFor(t, 20*time.Second, "the renewed certificate served", func() error {
		out, err := tryRun(ctx, nil, python, "-c", script, servers.File, shop.CertFile, shop.KeyFile, fmt.Sprint(port))
		if err != nil {
			return err
		}
		if cn := strings.TrimSpace(string(out)); cn != "rest-renewed" {
			return fmt.Errorf("served CN %q", cn)
		}
		return nil
	})
}
