package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Follow calls at the start, then after a rename over the file (events)
// and after a change it only polls for (no events).
func TestFollowSeesReplacedFiles(t *testing.T) {
	for _, events := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "f.yaml")
		write := func(s string) {
			if err := os.WriteFile(path+".tmp", []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				t.Fatal(err)
			}
		}
		write("a")
		calls := make(chan struct{}, 16)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Follow(ctx, path, func() { calls <- struct{}{} }, WithEvents(events), WithPoll(20*time.Millisecond), WithSettle(10*time.Millisecond))
		}()
		await := func(what string) {
			t.Helper()
			select {
			case <-calls:
			case <-time.After(10 * time.Second):
				t.Fatalf("events %v: no call %s within 10s", events, what)
			}
		}
		await("at the start")
		write("bb")
		await("after the change")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
