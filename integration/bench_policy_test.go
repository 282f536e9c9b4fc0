package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRESTProducePolicy measures what the security policy adds to
// REST produce (v2, one record a request, acks=all on real Kafka), in one
// run, three adapters side by side: no authentication (anonymous); HTTP
// basic users whose own produce lists decide (the adapter's authorizer
// before the policy); the same users with the policy deciding.
func BenchmarkRESTProducePolicy(b *testing.B) {
	kafka := env(b, "MESH_E2E_KAFKA_EAST")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "bench.policy." + suffix
	createTopics(b, kafka, 3, topic)
	policyFile := filepath.Join(b.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`rules:
  - {name: admins, principals: [admin], actions: ["*"], resources: ["*"]}
  - {name: viewers, principals: [viewer], actions: [read, consume, describe], resources: ["*"]}
  - {name: shop, principals: [shop, "team-shop-*"], actions: [produce], resources: ["topic:bench.*", "topic:orders.*"]}
deny:
  - {principals: ["*"], actions: [produce], resources: ["topic:pii.*"]}
`), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := buildBinary(b, "github.com/meshwork/meshwork/cmd/mesh-rest")
	users := "auth: {users: [{name: shop, password: bench-secret, produce: [\"bench.*\"]}]}\n"
	for _, c := range []struct{ name, extra string }{
		{"no-auth", ""},
		{"users", users},
		{"users+policy", users + "policy: {file: " + policyFile + "}\n"},
	} {
		port := freePorts(b, 1)[0]
		cfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ninstance_id: bench-%s-%d\nmax_in_flight: 100000\nkafka:\n  brokers: [%s]\n  producer: {linger: 1ms}\nwebhooks: {allow_targets: [127.0.0.0/8], subscriptions_topic: _mesh.rest.subscriptions.bench-%s}\nidempotency: {topic: _mesh.rest.idempotency.bench-%s}\nlog: {level: warn}\n%s",
			port, suffix, port, kafka, suffix, suffix, c.extra)
		p := launchBench(b, bin, cfg, port)
		b.Run(c.name, func(b *testing.B) {
			if c.extra == "" {
				benchREST(b, p, topic, 1)
			} else {
				benchREST(b, p, topic, 1, "shop", "bench-secret")
			}
		})
	}
}
