package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/kafkatest"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/twmb/franz-go/pkg/kfake"
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

// The service starts from a YAML file, becomes ready, and stops cleanly
// when its context ends (as on SIGTERM).
func TestRunServesAndStops(t *testing.T) {
	mqttAddr := freeAddr(t)
	broker := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := broker.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := broker.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: mqttAddr})); err != nil {
		t.Fatal(err)
	}
	if err := broker.Serve(); err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "mqtt.ingress", "mqtt.egress"))

	listen := freeAddr(t)
	file := filepath.Join(t.TempDir(), "mqtt.yaml")
	doc := fmt.Sprintf(`site: east
listen: %s
broker:
  url: tcp://%s
  client_id: mesh-mqtt-east
ingress:
  - filter: "#"
    topic: mqtt.ingress
egress:
  - topics: [mqtt.egress]
kafka:
  brokers: [%q]
`, listen, mqttAddr, kafka.ListenAddrs()[0])
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- command.Run(ctx, []string{"-config", file}, io.Discard, &stderr) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, &stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful stop")
	}
}

func TestRunReportsConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mqtt.yaml")
	if err := os.WriteFile(file, []byte("site: east\nbroker:\n  url: tcp://127.0.0.1:1883\n  client_id: a\ningress:\n  - filter: a/#/b\n    topic: t\nkafka:\n  brokers: [\"127.0.0.1:9092\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := command.Run(context.Background(), []string{"-config", file}, io.Discard, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "mqtt.yaml:6:5: field ingress[0].filter") {
		t.Fatalf("got %v", err)
	}
}
