package replicator

import (
	"fmt"
	"strings"
	"time"
)

// resumePolicy says where copying a unit starts when interest in it
// returns after a pause.
type resumePolicy int

const (
	resumeCheckpoint resumePolicy = iota // where it stopped: nothing missed
	resumeLatest                         // only records written from now on
	resumeEarliest                       // the source's whole retained history
	resumeTime                           // records from a point in time
)

// start is the resume policy of the interest behind a unit and when that
// interest began. A checkpoint written after Since means the interest did
// not pause since (a restart of the replicator): copying then always goes on
// from the checkpoint, exactly once.
type start struct {
	Policy resumePolicy
	At     time.Time // with resumeTime
	Since  time.Time
}

// parseResume reads a resume policy as written in configuration:
// checkpoint (or empty), latest, earliest, or time:<RFC 3339 time>.
func parseResume(s string) (resumePolicy, time.Time, error) {
	switch {
	case s == "" || s == "checkpoint":
		return resumeCheckpoint, time.Time{}, nil
	case s == "latest":
		return resumeLatest, time.Time{}, nil
	case s == "earliest":
		return resumeEarliest, time.Time{}, nil
	case strings.HasPrefix(s, "time:"):
		t, err := time.Parse(time.RFC3339, strings.TrimPrefix(s, "time:"))
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("resume %q: want time:<RFC 3339 time>, like time:2026-01-02T15:04:05Z", s)
		}
		return resumeTime, t, nil
	}
	return 0, time.Time{}, fmt.Errorf("resume %q: want checkpoint, latest, earliest or time:<RFC 3339 time>", s)
}
