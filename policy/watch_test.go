package policy

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

	"github.com/meshwork/meshwork/internal/filewatch"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

const viewerOnly = `rules:
  - name: viewers
    principals: [viewer]
    actions: [read]
    resources: ["*"]
`

const viewerWrites = `rules:
  - name: viewers-write
    principals: [viewer]
    actions: [read, write]
    resources: ["*"]
`

// replace writes text to path as editors and ConfigMaps do: a new file
// renamed over the old one.
func replace(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// await waits for a reading of the changed file, within a deadline.
func await(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case <-w.Reloaded():
	case <-time.After(10 * time.Second):
		t.Fatal("the changed policy file was not read within 10s")
	}
}

func TestWatcherReloadsAndKeepsTheLastValidVersion(t *testing.T) {
	for _, events := range []bool{true, false} {
		t.Run(map[bool]string{true: "fsnotify", false: "poll"}[events], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "policy.yaml")
			replace(t, path, viewerOnly)
			var logs kafkatest.LogBuffer
			reg := prometheus.NewRegistry()
			pollOnly := func(o *filewatch.Options) { o.PollOnly = !events }
			w, err := NewWatcher(path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithMetrics(reg), WithPollInterval(50*time.Millisecond), pollOnly)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() { cancel(); <-done }()

			if w.Policy().Decide("viewer", "write", "subject:x").Allowed {
				t.Fatal("viewer may write before the change")
			}
			old := w.Policy()
			replace(t, path, viewerWrites)
			await(t, w)
			if !w.Policy().Decide("viewer", "write", "subject:x").Allowed || w.Err() != nil {
				t.Fatalf("the new version is not in force: %v", w.Err())
			}
			if !old.Decide("viewer", "read", "mesh").Allowed || old.Decide("viewer", "write", "subject:x").Allowed {
				t.Fatal("the old policy changed its answers")
			}

			replace(t, path, "rules:\n  - principals: [viewer]\n    actions: [wrte]\n    resources: [\"*\"]\n")
			await(t, w)
			if !w.Policy().Decide("viewer", "write", "subject:x").Allowed {
				t.Fatal("an invalid version took the valid one's place")
			}
			if err := w.Err(); err == nil || !strings.Contains(err.Error(), `policy.yaml:3:15: field rules[0].actions[0]: unknown action "wrte"`) {
				t.Fatalf("Err = %v", err)
			}
			if n := metric(t, reg, "meshwork_policy_reload_errors_total"); n != 1 {
				t.Fatalf("meshwork_policy_reload_errors_total = %v, want 1", n)
			}
			if !strings.Contains(logs.String(), "the last valid one stays in force") {
				t.Fatalf("the invalid version was not logged: %s", logs.String())
			}
			if metric(t, reg, "meshwork_policy_valid") != 0 {
				t.Fatal("meshwork_policy_valid is not 0 while the file is invalid")
			}

			replace(t, path, viewerOnly)
			await(t, w)
			if w.Policy().Decide("viewer", "write", "subject:x").Allowed || w.Err() != nil || metric(t, reg, "meshwork_policy_valid") != 1 {
				t.Fatalf("the fixed version is not in force: %v", w.Err())
			}
			if got, err := testutil.GatherAndCount(reg, "meshwork_policy_reloads_total"); err != nil || got != 2 {
				t.Fatalf("reload series: %d %v", got, err)
			}
		})
	}
}

// metric is the value of the one series of name in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

func TestNewWatcherRefusesAMissingOrInvalidFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewWatcher(filepath.Join(dir, "none.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	replace(t, bad, "rules:\n  - principals: [a]\n")
	if _, err := NewWatcher(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml:2:5: field rules[0].actions: must not be empty") {
		t.Fatalf("invalid file: %v", err)
	}
}
