package interest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// topicConfigs are the configs of Topic: compacted, so the last record of
// each key is kept, and with hourly segments, so renewals (a record per
// lease every TTL/3) are compacted away within hours, not the default week.
func topicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy": "compact",
		"segment.ms":     "3600000",
	}
}

// EnsureTopic creates Topic with cl's cluster if it is missing: one
// partition, compacted, the cluster's default replication factor. An
// existing topic must be compacted, or declared leases would vanish with
// retention; the error says how to fix it.
func EnsureTopic(ctx context.Context, cl *kgo.Client) error {
	_, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: Topic, Partitions: 1, Configs: topicConfigs(), Compacted: true})
	if err != nil {
		return fmt.Errorf("interest: %w", err)
	}
	return nil
}
