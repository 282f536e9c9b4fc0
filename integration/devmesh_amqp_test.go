package integration

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestIntegrationDevMeshAMQP runs `meshd dev -amqp east=<RabbitMQ>` as a
// user would: endpoints.json names east's broker without its credentials
// (and west none), a message qpid-proton sends to the queue mesh.ingress
// reaches east's Kafka topic amqp.ingress keyed by its subject, and a
// record written to amqp.egress reaches the queue its key names.
func TestIntegrationDevMeshAMQP(t *testing.T) {
	py, rabbit := env(t, "MESH_E2E_PYTHON"), env(t, "MESH_E2E_RABBITMQ_AMQP")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/meshd")
	m := startDevMesh(t, bin, filepath.Join(t.TempDir(), "mesh"), freePorts(t, 5), "-amqp", "east="+rabbit)
	if got := m.endpoints.Sites["east"].AMQP; got != "amqp://127.0.0.1:5672" {
		t.Fatalf("east amqp endpoint %q", got)
	}
	if got := m.endpoints.Sites["west"].AMQP; got != "" {
		t.Fatalf("west amqp endpoint %q", got)
	}
	kafka := m.endpoints.Sites["east"].Kafka
	subject := uniq("greeting")
	js, _ := json.Marshal([]map[string]any{{"kind": "value", "body": "hello", "subject": subject}})
	if l := startWitness(ctx, t, nil, py, witnessPath("amqp_send.py"), rabbit, "/queue/mesh.ingress", string(js)).next(t, 30*time.Second); l != "sent 1" {
		t.Fatalf("sender said %q", l)
	}
	saramaConsume(t, kafka, "amqp.ingress", 60*time.Second, func(r *sarama.ConsumerMessage) bool {
		return string(r.Key) == subject && string(r.Value) == "hello"
	})
	queue := uniq("replies.devmesh")
	w := startWitness(ctx, t, nil, py, witnessPath("amqp_recv.py"), rabbit, "/queue/"+queue, "1")
	if l := w.next(t, 30*time.Second); l != "ready" {
		t.Fatalf("receiver said %q", l)
	}
	saramaProduce(t, kafka, &sarama.ProducerMessage{Topic: "amqp.egress", Key: sarama.StringEncoder(queue), Value: sarama.StringEncoder("world")})
	if got := nextAMQP(t, w); got.Body != "world" {
		t.Fatalf("received %+v", got)
	}
	m.stop(t)
}
