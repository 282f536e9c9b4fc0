package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/devmesh"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestBadConfigFileNamesFileLineAndField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := "sites:\n  - name: east\n    ports:\n      kafka: seventy\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"dev", "-config", path}, &out, &errb)
	want := path + `:4:7: field sites[0].ports.kafka: cannot use text "seventy" as an integer`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestDevHelpDocumentsFlagsAndPorts(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"dev", "-h"}, &out, &errb)
	if !errors.Is(err, flag.ErrHelp) || errb.Len() != 0 {
		t.Fatalf("-h: %v, stderr %q", err, errb.String())
	}
	for _, want := range []string{"east   http 18082, kafka 19092, mqtt 11883, registry 18081", "admin  18000", "services: kafka, mqtt, registry",
		"-config-reference", "-log-level level", "(default 18000)", "-secure", "credentials.json"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "(default -2)") {
		t.Error("help shows a sentinel default")
	}
	out.Reset()
	if err := run(context.Background(), []string{"dev", "-config-reference"}, &out, &errb); err != nil || !strings.Contains(out.String(), "sites[].ports.<service>") {
		t.Fatalf("-config-reference: %v %q", err, out.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"serve"}, &out, &errb); err == nil || !strings.Contains(errb.String(), "Commands:") {
		t.Fatalf("want usage and an error, got %v", err)
	}
}

// TestDevRunsUntilCancelled runs `meshd dev` from a config file on free
// ports, checks that it writes its endpoints, and stops it as Ctrl-C would.
func TestDevRunsUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mesh.yaml")
	doc := "dir: " + filepath.Join(dir, "state") + "\nadmin_port: 0\nsites:\n  - name: north\n    ports: {kafka: 0, mqtt: 0}\n  - name: south\n    ports: {kafka: 0, mqtt: 0}\nlog: {level: info}\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb kafkatest.LogBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev", "-config", path}, &out, &errb) }()
	endpoints := filepath.Join(dir, "state", "endpoints.json")
	deadline := time.Now().Add(30 * time.Second)
	var ep devmesh.Endpoints
	for {
		var err error
		if ep, err = devmesh.ReadEndpoints(endpoints); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no endpoints after 30s: %v\n%s", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(ep.Sites) != 2 || ep.Sites["north"].Kafka == "" {
		t.Fatalf("unexpected endpoints %+v", ep)
	}
	// The log goes to the mesh's directory, so the endpoint table is the
	// last thing a terminal shows.
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "admin") {
		if time.Now().After(deadline) {
			t.Fatalf("no endpoint table: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), "(/metrics /healthz /readyz)") || strings.Contains(errb.String(), "level=INFO") {
		t.Fatalf("stdout %q\nstderr %q", out.String(), errb.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state", "meshd.log")); err != nil || !strings.Contains(string(b), "site started") {
		t.Fatalf("meshd.log: %v %q", err, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("meshd dev did not stop")
	}
}
