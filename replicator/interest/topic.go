package interest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicConfigs are the configs of Topic: compacted, so the last record of
// each key is kept, and with hourly segments, so renewals (a record per
// lease every TTL/3) are compacted away within hours, not the default week.
func topicConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"),
		"segment.ms":     kadm.StringPtr("3600000"),
	}
}

// EnsureTopic creates Topic with adm's cluster if it is missing: one
// partition, compacted, the cluster's default replication factor. An
// existing topic must be compacted, or declared leases would vanish with
// retention; the error says how to fix it.
func EnsureTopic(ctx context.Context, adm *kadm.Client) error {
	res, err := adm.CreateTopic(ctx, 1, -1, topicConfigs(), Topic)
	if err == nil {
		err = res.Err
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("interest: creating %s: %w; check that this client may create topics, or create it compacted", Topic, err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, Topic)
	if err != nil {
		return fmt.Errorf("interest: reading the configs of %s: %w", Topic, err)
	}
	rc, err := rcs.On(Topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("interest: reading the configs of %s: %w", Topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && !strings.Contains(c.MaybeValue(), "compact") {
			return fmt.Errorf("interest: %s has cleanup.policy=%s; it must be compacted (kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)",
				Topic, c.MaybeValue(), Topic)
		}
	}
	return nil
}
