package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// First is the wait before the second attempt.
const First = 100 * time.Millisecond

// jitter spreads each wait by ±20%.
const jitter = 0.2

// Backoff returns a fresh schedule: 100 ms, then doubling, capped at max,
// each wait ±20%. It is not safe for concurrent use: give each retrying
// thing (a message, a flow, a loop) its own, and Reset it after a success.
func Backoff(max time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     min(First, max),
		RandomizationFactor: jitter,
		Multiplier:          2,
		MaxInterval:         max,
	}
}

// Permanent marks an error that trying again cannot mend; Until returns it
// (unwrapped) at once.
func Permanent(err error) error { return backoff.Permanent(err) }

// Notify learns of a failed attempt (counted from 1) and how long Until
// waits before the next one; it is where callers log and count retries.
type Notify func(err error, attempt int, wait time.Duration)

// Until calls op until it returns nil, returns a Permanent error, or ctx
// ends (then ctx's cause is returned), waiting on a Backoff capped at max
// between attempts. notify may be nil.
func Until(ctx context.Context, max time.Duration, op func() error, notify Notify) error {
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		return struct{}{}, op()
	},
		backoff.WithBackOff(Backoff(max)),
		backoff.WithMaxElapsedTime(0), // never give up on time alone
		backoff.WithNotify(func(err error, wait time.Duration) {
			if notify != nil {
				notify(err, attempt, wait)
			}
		}),
	)
	return err
}

// Sleep waits d or until ctx ends, and reports whether the whole wait
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
