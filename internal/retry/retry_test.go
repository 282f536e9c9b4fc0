package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffGrowsToItsCap(t *testing.T) {
	b := Backoff(time.Second)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		got := b.NextBackOff()
		if lo, hi := w*8/10, w*12/10+1; got < lo || got > hi {
			t.Fatalf("wait %d: %s, want %s ±20%%", i+1, got, w)
		}
	}
	b.Reset()
	if got := b.NextBackOff(); got > 121*time.Millisecond {
		t.Fatalf("after Reset: %s, want about 100ms", got)
	}
}

func TestUntilRetriesUntilSuccess(t *testing.T) {
	var seen []int
	calls := 0
	err := Until(context.Background(), 10*time.Millisecond, func() error {
		calls++
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	}, func(err error, attempt int, wait time.Duration) { seen = append(seen, attempt) })
	if err != nil || calls != 4 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if len(seen) != 3 || seen[0] != 1 || seen[2] != 3 {
		t.Fatalf("notified of attempts %v, want [1 2 3]", seen)
	}
}

func TestUntilStopsOnPermanentAndContext(t *testing.T) {
	bad := errors.New("never")
	calls := 0
	err := Until(context.Background(), time.Millisecond, func() error { calls++; return Permanent(bad) }, nil)
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("permanent: err %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = Until(ctx, 5*time.Millisecond, func() error { return errors.New("down") }, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context: got %v", err)
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a whole wait reports true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("a cancelled wait reports false")
	}
}
