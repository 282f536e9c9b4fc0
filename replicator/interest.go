package replicator

import (
	"context"
	"time"
)

// interestState is what the replicator knows of the mesh's interest.
// TEMPORARY: declared interest only, until the lease topic is wired in.
type interestState struct {
	r  *Replicator
	ch chan struct{}
}

func newInterestState(r *Replicator) (*interestState, error) {
	return &interestState{r: r, ch: make(chan struct{})}, nil
}

func (s *interestState) run(ctx context.Context)               { <-ctx.Done() }
func (s *interestState) ready() bool                           { return true }
func (s *interestState) changed() <-chan struct{}              { return s.ch }
func (s *interestState) topic() string                         { return "_mesh.interest" }
func (s *interestState) ensureTopic(ctx context.Context) error { return nil }
func (s *interestState) resolve(known []string) (map[string][]string, map[string]start) {
	wants := map[string][]string{}
	starts := map[string]start{}
	for _, d := range s.r.cfg.Interest.Declared {
		wants[d.Topic] = append(wants[d.Topic], s.r.cfg.Site)
		p, at, _ := parseResume(d.Resume)
		starts[d.Topic] = start{Policy: p, At: at, Since: time.Time{}}
	}
	return wants, starts
}
