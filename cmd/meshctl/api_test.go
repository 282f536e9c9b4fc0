package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/internal/kafkatest"
	schemaregistry "github.com/meshwork/meshwork/registry"
)

// startControlPlane runs a control plane over two kfake sites, east with a
// schema registry; it returns its URL and east's cluster.
func startControlPlane(t *testing.T, topic string) (string, *kfake.Cluster) {
	t.Helper()
	east := kafkatest.Cluster(t, kfake.SeedTopics(2, topic))
	west := kafkatest.Cluster(t)
	rc := schemaregistry.DefaultConfig()
	rc.Site, rc.Listen, rc.Kafka.Brokers, rc.WriteTimeout = "east", "127.0.0.1:0", east.ListenAddrs(), 10*time.Second
	reg, err := schemaregistry.New(rc, kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := kafkatest.Context(t, 30*time.Second)
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	regSrv := httptest.NewServer(reg.Handler())
	t.Cleanup(regSrv.Close)

	path := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := fmt.Sprintf("sites:\n  - name: east\n    kafka: {brokers: [%s]}\n    registry: %s\n  - name: west\n    kafka: {brokers: [%s]}\n",
		east.ListenAddrs()[0], regSrv.URL, west.ListenAddrs()[0])
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := controlplane.DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "east", path, nil
	cfg.RefreshInterval, cfg.Timeout = 200*time.Millisecond, 2*time.Second
	cp, err := controlplane.New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Close(context.Background()) })
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, east
}

// The commands over the control plane's API: sites, topics, describe,
// interest and schemas, in every output format; unknown sites and topics
// exit 1 with what exists.
func TestCommandsOverTheAPI(t *testing.T) {
	isolate(t)
	const topic = "shop.order.created"
	url, east := startControlPlane(t, topic)
	kafkatest.Produce(t, kafkatest.Client(t, east), &kgo.Record{Topic: topic, Value: []byte("x"),
		Headers: []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}}})
	t.Setenv(serverEnv, url)

	if code, out, errOut := meshctl(t, "sites"); code != 0 || !strings.Contains(out, "east") || !strings.Contains(out, "west") {
		t.Fatalf("sites: %d %q %q", code, out, errOut)
	}
	kafkatest.Wait(t, 20*time.Second, func() error {
		if _, out, _ := meshctl(t, "describe", "topic", topic); !strings.Contains(out, "Site east") || !strings.Contains(out, "RECORDS (of the latest)") {
			return fmt.Errorf("describe topic:\n%s", out)
		}
		return nil
	})
	if code, out, _ := meshctl(t, "topics", "-o", "json"); code != 0 || !strings.Contains(out, `"name": "`+topic+`"`) {
		t.Fatalf("topics -o json: %d %q", code, out)
	}
	code, _, errOut := meshctl(t, "describe", "topic", "no.such.topic")
	if code != 1 || !strings.Contains(errOut, `no topic "no.such.topic" at any site`) || !strings.Contains(errOut, topic) {
		t.Fatalf("unknown topic: %d %q", code, errOut)
	}

	// Interest through the API.
	if code, out, errOut := meshctl(t, "interest", "add", topic, "--site", "west", "--ttl", "1h"); code != 0 || !strings.HasPrefix(out, "Added west/declared/meshctl/topic:"+topic) {
		t.Fatalf("interest add: %d %q %q", code, out, errOut)
	}
	code, _, errOut = meshctl(t, "interest", "add", topic, "--site", "south")
	if code != 1 || !strings.Contains(errOut, `no site "south" in the mesh; its sites are east, west`) {
		t.Fatalf("unknown site: %d %q", code, errOut)
	}
	kafkatest.Wait(t, 20*time.Second, func() error {
		if _, out, _ := meshctl(t, "interest", "list", "--site", "west", "-o", "yaml"); !strings.Contains(out, "topic: "+topic) {
			return fmt.Errorf("interest list:\n%s", out)
		}
		return nil
	})
	if code, out, errOut := meshctl(t, "interest", "remove", topic, "--site", "west"); code != 0 || !strings.HasPrefix(out, "Removed west/") {
		t.Fatalf("interest remove: %d %q %q", code, out, errOut)
	}

	// Schemas: the registry is found through the control plane's sites.
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.avsc")
	v2 := filepath.Join(dir, "v2.avsc")
	os.WriteFile(v1, []byte(`{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`), 0o644)
	os.WriteFile(v2, []byte(`{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`), 0o644)
	if code, out, errOut := meshctl(t, "schemas", "register", topic+"-value", v1); code != 0 || !strings.Contains(out, "version 1") {
		t.Fatalf("register: %d %q %q", code, out, errOut)
	}
	if code, out, _ := meshctl(t, "schemas", "list"); code != 0 || !strings.Contains(out, topic+"-value") {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, out, _ := meshctl(t, "schemas", "get", topic+"-value", "-o", "json"); code != 0 || !strings.Contains(out, `"version": 1`) {
		t.Fatalf("get: %d %q", code, out)
	}
	code, out, errOut := meshctl(t, "schemas", "check", topic+"-value", v2)
	if code != 1 || !strings.Contains(out, "NOT compatible") || !strings.Contains(out, "qty") {
		t.Fatalf("check of an incompatible schema: %d %q %q", code, out, errOut)
	}
	code, _, errOut = meshctl(t, "schemas", "get", "nope-value")
	if code != 1 || !strings.Contains(errOut, "meshctl schemas list") {
		t.Fatalf("unknown subject: %d %q", code, errOut)
	}
	kafkatest.Wait(t, 20*time.Second, func() error {
		if _, out, _ := meshctl(t, "topics"); !strings.Contains(out, topic+"-value") {
			return fmt.Errorf("the subject is not in topics yet:\n%s", out)
		}
		return nil
	})
}
