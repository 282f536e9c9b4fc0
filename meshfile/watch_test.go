package meshfile

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestWatcherReloadsAndKeepsTheLastValidVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mesh.yaml")
	write := func(doc string) {
		// As editors do: a new file renamed over the old one.
		tmp := filepath.Join(dir, ".mesh.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n")
	reg := prometheus.NewRegistry()
	w, err := NewWatcher(path, WithMetrics(reg), WithLogger(kafkatest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// The watch is set up asynchronously: write until a change shows.
	two := "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n  - name: west\n    kafka: {brokers: [b:1]}\n"
	kafkatest.Wait(t, 10*time.Second, func() error {
		if len(w.Mesh().Sites) == 2 {
			return nil
		}
		write(two + "# " + time.Now().String() + "\n")
		return errFmt("still %v", w.Mesh().SiteNames())
	})
	select {
	case <-w.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("no change signalled")
	}

	write("sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n  - name: West\n")
	kafkatest.Wait(t, 10*time.Second, func() error {
		if w.Err() == nil {
			return errFmt("the invalid version is not noticed yet")
		}
		return nil
	})
	if err := w.Err(); !strings.Contains(err.Error(), "mesh.yaml:4:") || !strings.Contains(err.Error(), "sites[1].name") {
		t.Fatalf("error does not name line and field: %v", err)
	}
	if got := w.Mesh().SiteNames(); len(got) != 2 || got[1] != "west" {
		t.Fatalf("the last valid version is not in force: %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "meshwork_meshfile_reloads_total"); err != nil || n != 2 {
		t.Fatalf("reload series (ok and invalid): %d %v", n, err)
	}

	write("sites:\n  - name: north\n    kafka: {brokers: [c:1]}\n")
	kafkatest.Wait(t, 10*time.Second, func() error {
		if got := w.Mesh().SiteNames(); len(got) != 1 || got[0] != "north" {
			return errFmt("sites %v", got)
		}
		return nil
	})
	if w.Err() != nil {
		t.Fatalf("the fixed file is not in force: %v", w.Err())
	}
}

func TestNewWatcherRefusesAnInvalidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte("sites: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWatcher(path); err == nil || !strings.Contains(err.Error(), path+":") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestNewWatcherWarnsOfInlineSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := "sites:\n  - name: east\n    kafka: {brokers: [a:1], sasl: {mechanism: PLAIN, username: cp, password: Inl1ne-S3cret}}\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	if _, err := NewWatcher(path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "field=sites[0].kafka.sasl.password") || strings.Contains(logs.String(), "Inl1ne-S3cret") {
		t.Fatalf("want a warning naming the field, not the secret:\n%s", logs.String())
	}
}
