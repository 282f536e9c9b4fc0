package filewatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// number is a file holding one integer: a Kind for the tests.
func number() Kind[int] {
	return Kind[int]{Name: "number file", Subsystem: "number", Parse: func(path string, data []byte) (*int, error) {
		var n int
		if _, err := fmt.Sscan(string(data), &n); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &n, nil
	}}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A valid version comes into force (Changes and Reads say so); an invalid
// one and a file gone keep the last valid one, set valid to 0 and count;
// the same bytes again are no new reading; both events and the poll alone
// see changes.
func TestVersionedKeepsTheLastValidVersion(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "events", true: "poll"}[pollOnly], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "n")
			write(t, path, "1")
			reg := prometheus.NewRegistry()
			v, err := NewVersioned(path, number(), Options{Metrics: reg, Poll: 50 * time.Millisecond, PollOnly: pollOnly})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- v.Run(ctx) }()
			defer func() { cancel(); <-done }()
			await := func(ch <-chan struct{}, what string) {
				t.Helper()
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s within 10s", what)
				}
			}

			write(t, path, "2")
			await(v.Changes(), "no new version in force")
			if *v.Current() != 2 || v.Err() != nil || testutil.ToFloat64(v.valid) != 1 {
				t.Fatalf("in force %d, err %v", *v.Current(), v.Err())
			}
			<-v.Reads()

			write(t, path, "two")
			await(v.Reads(), "the invalid version not read")
			if *v.Current() != 2 || v.Err() == nil || !strings.Contains(v.Err().Error(), path) {
				t.Fatalf("in force %d, err %v", *v.Current(), v.Err())
			}
			if testutil.ToFloat64(v.valid) != 0 || testutil.ToFloat64(v.errs) != 1 || testutil.ToFloat64(v.reloads.WithLabelValues("invalid")) != 1 {
				t.Fatal("the invalid version is not counted")
			}

			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			await(v.Reads(), "the removal not seen")
			if *v.Current() != 2 || !errors.Is(v.Err(), os.ErrNotExist) || !strings.Contains(v.Err().Error(), "number file "+path+" is gone") {
				t.Fatalf("in force %d, err %v", *v.Current(), v.Err())
			}

			write(t, path, "3")
			await(v.Changes(), "the fixed file not in force")
			if *v.Current() != 3 || v.Err() != nil || testutil.ToFloat64(v.valid) != 1 || testutil.ToFloat64(v.reloads.WithLabelValues("ok")) != 2 {
				t.Fatalf("in force %d, err %v", *v.Current(), v.Err())
			}
			<-v.Reads()
			v.Reload() // the same bytes: nothing new
			select {
			case <-v.Reads():
				t.Fatal("the same bytes were taken as a new version")
			default:
			}
			if n, err := testutil.GatherAndCount(reg, "meshwork_number_reloads_total", "meshwork_number_reload_errors_total", "meshwork_number_valid"); err != nil || n != 4 {
				t.Fatalf("series: %d %v", n, err)
			}
		})
	}
}

func TestNewVersionedRefusesAMissingOrInvalidFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewVersioned(filepath.Join(dir, "none"), number(), Options{}); err == nil || !strings.Contains(err.Error(), "number file: open") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	write(t, bad, "x")
	reg := prometheus.NewRegistry()
	if _, err := NewVersioned(bad, number(), Options{Metrics: reg}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("invalid file: %v", err)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Fatal("a watcher that did not start registered metrics")
	}
}
