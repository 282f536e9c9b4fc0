package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshwork/meshwork/internal/retry"
)

// A follower site (primary.url set) reads the schema log from its own
// cluster, where the replicator copies it from the primary site, and
// forwards writes to the primary. The copy has other offsets than the
// primary's log, so how far a follower has come is told by positions (see
// writeMark): the primary answers every write with its position, and the
// follower answers its client once it has applied that position too
// (awaitApplied); and loading ends once the follower has reached the
// position the primary had when its copy was read to its end
// (primaryPosition), so that a copy still being filled is not served as
// complete.

// primaryPosition asks the primary site's registry for the position of its
// state (positionHeader on GET /). It tries for up to write_timeout while
// the primary does not answer or is still loading; then, or when the
// primary names no position (a version before positions), it returns 0:
// the follower serves what its copy holds once read to its end.
func (r *Registry) primaryPosition(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	url := strings.TrimSuffix(r.cfg.Primary.URL, "/") + "/"
	client := r.primary
	var position int64
	var last error
	err := retry.Until(ctx, time.Second, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return retry.Permanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
			return last
		}
		h := resp.Header.Get(positionHeader)
		if position, err = strconv.ParseInt(h, 10, 64); err != nil {
			return retry.Permanent(fmt.Errorf("GET %s names no position (%s: %q): the primary's registry is older than this one", url, positionHeader, h))
		}
		return nil
	}, nil)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && last != nil {
			err = fmt.Errorf("%w (last: %w)", err, last)
		}
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.logger.Warn("could not learn how far the primary's schema log is; serving what this site's copy holds", "primary", url, "err", err)
		}
		return 0
	}
	r.logger.Info("catching up with the primary's schema log", "primary", url, "position", position)
	return position
}

// awaitingLog says what a follower whose log does not exist yet waits for.
func (r *Registry) awaitingLog() string {
	if r.cfg.Primary != nil && r.cfg.Primary.Kafka != nil {
		return fmt.Sprintf("the schema log %s does not exist on the primary's cluster (primary.kafka) yet: the primary site's registry creates it when it starts", r.cfg.Topic)
	}
	return fmt.Sprintf("the schema log %s does not exist on this site's cluster yet: the replicator of site %s creates it when it first copies it from the primary site (is it running, with schemas_primary set?)",
		r.cfg.Topic, r.cfg.Site)
}

// logSource names the cluster the log is read from, for messages.
func (r *Registry) logSource() string {
	if r.cfg.Primary != nil && r.cfg.Primary.Kafka != nil {
		return "the primary's cluster (primary.kafka)"
	}
	return "this site's cluster (kafka)"
}

// logHint says where this instance's schema log comes from, for a message
// that says it lags.
func (r *Registry) logHint() string {
	switch {
	case r.cfg.Primary == nil:
		return "Is this instance's connection to its site's Kafka cluster working?"
	case r.cfg.Primary.Kafka != nil:
		return "This instance reads the log from the primary's cluster (primary.kafka): is that connection working?"
	}
	return fmt.Sprintf("The log reaches this site through its replicator, which copies it from the primary site: is the replicator of site %s running and keeping up (meshwork_replicator_lag_records{topic=%q})?",
		r.cfg.Site, r.cfg.Topic)
}
