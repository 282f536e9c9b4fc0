package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mesh-rest with the common auth section, against real Kafka: curl with a
// bearer token produces (kcat reads it), curl without credentials or with
// another token gets 401 with 40101 and writes nothing; /metrics needs the
// token, /healthz does not.
func TestIntegrationRESTAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka, kcat := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT")
	suffix := uniq("auth")
	topic := "it.rest.auth." + suffix
	createTopics(t, kafka, 1, topic)
	tokenFile := filepath.Join(t.TempDir(), "shop-token")
	if err := os.WriteFile(tokenFile, []byte("shop-"+suffix+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)[0]
	cfg := fmt.Sprintf(`site: east
listen: 127.0.0.1:%[1]d
instance_id: it-auth-%[2]s
kafka:
  brokers: [%[3]s]
idempotency:
  topic: _mesh.rest.idempotency.it-auth-%[2]s
webhooks:
  subscriptions_topic: _mesh.rest.subscriptions.it-auth-%[2]s
auth:
  tokens:
    - {name: shop, token_file: %[4]q}
grants:
  - principal: shop
    produce: [%[5]q]
`, port, suffix, kafka, tokenFile, topic)
	p := startService(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-rest"), "mesh-rest", cfg, port) // /readyz is open

	curl := func(args ...string) string {
		t.Helper()
		return string(run(ctx, t, nil, "curl", append([]string{"-sS", "--max-time", "10", "-w", " %{http_code}"}, args...)...))
	}
	produce := []string{"-H", "Content-Type: application/vnd.kafka.json.v2+json", "--data", `{"records":[{"key":"k","value":{"via":"curl"}}]}`, p.url + "/topics/" + topic}
	for _, c := range []struct{ name, header string }{{"no credentials", ""}, {"another token", "Authorization: Bearer nope"}} {
		args := produce
		if c.header != "" {
			args = append([]string{"-H", c.header}, produce...)
		}
		if out := curl(args...); !strings.HasPrefix(out, `{"error_code":40101,"message":"Unauthorized: `) || !strings.HasSuffix(out, " 401") {
			t.Fatalf("curl with %s: %s", c.name, out)
		}
	}
	if out := curl(append([]string{"-H", "Authorization: Bearer shop-" + suffix}, produce...)...); !strings.Contains(out, `"offsets":[{"partition":0,"offset":0,"error_code":null`) {
		t.Fatalf("curl with the token: %s", out)
	}
	recs := kcatRecords(ctx, t, kcat, kafka, topic, 1)
	if len(recs) != 1 || recs[0]["payload"] != `{"via":"curl"}` {
		t.Fatalf("kcat read %v: the refused requests must have written nothing", recs)
	}
	if out := curl(p.url + "/metrics"); !strings.HasSuffix(out, " 401") {
		t.Fatalf("/metrics without credentials: %.200s", out)
	}
	if out := curl("-H", "Authorization: Bearer shop-"+suffix, p.url+"/metrics"); !strings.Contains(out, `meshwork_auth_failures_total{reason="unknown_token"} 1`) {
		t.Fatalf("/metrics with the token lacks the refusals: %.300s", out)
	}
	if out := curl(p.url + "/healthz"); !strings.HasSuffix(out, " 200") {
		t.Fatalf("/healthz without credentials: %s", out)
	}
}
