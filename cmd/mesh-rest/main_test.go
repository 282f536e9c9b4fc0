package main

import (
	"bytes"
	"context"
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
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "orders"))
	listen := freeAddr(t)
	file := filepath.Join(t.TempDir(), "rest.yaml")
	doc := fmt.Sprintf("site: east\nlisten: %s\nkafka:\n  brokers: [%q]\n", listen, kafka.ListenAddrs()[0])
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
	resp, err := http.Post("http://"+listen+"/topics/orders", "application/vnd.kafka.binary.v2+json", strings.NewReader(`{"records":[{"value":"YQ=="}]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("produce: %v %v", resp, err)
	}
	resp.Body.Close()
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
