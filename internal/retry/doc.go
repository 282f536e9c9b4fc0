// Package retry is the one way the mesh's services wait before trying again:
// after a Kafka produce that may succeed later, a registry or broker that
// does not answer, a flow that failed. Every such wait grows exponentially
// from 100 ms with a little jitter (so that many clients that failed
// together do not return together) up to a cap the caller chooses, and
// never gives up on its own: only a permanent error or the caller's context
// ends it. Giving up is a decision about the message (dead-letter it,
// redeliver it), which belongs to the caller, not to a timer.
//
// It builds on github.com/cenkalti/backoff/v5, with the mesh's defaults:
// that library's own default gives up after 15 minutes, which for a
// pipeline that must not drop what it acknowledged would be a silent loss.
package retry
