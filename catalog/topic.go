package catalog

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// EnsureTopic creates Topic with cl's cluster if it is missing: one
// partition, compacted, with hourly segments so that updates are
// compacted away within hours. An existing topic must be compacted, or
// entries would vanish with retention; the error says how to fix it.
func EnsureTopic(ctx context.Context, cl *kgo.Client) error {
	_, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: Topic, Partitions: 1, Compacted: true,
		Configs: map[string]string{"cleanup.policy": "compact", "segment.ms": "3600000"}})
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}

// Read reads Topic of the cluster that clientOpts (seed brokers, TLS,
// SASL: see internal/kafkaclient) reach, from its start to its committed
// end, into a table: for one-off reads (meshctl, the control plane).
func Read(ctx context.Context, clientOpts []kgo.Opt) (*Table, error) {
	codec, err := NewCodec()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(append(slices.Clone(clientOpts), kafkaclient.FollowOptions(Topic)...),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("catalog: client to read %s: %w", Topic, err)
	}
	defer cl.Close()
	t := NewTable(codec, nil)
	err = kafkaclient.ReadToEnd(ctx, cl, Topic, func(recs []*kgo.Record) {
		for _, r := range recs {
			t.Apply(r)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: reading %s: %w; is Kafka reachable?", Topic, err)
	}
	return t, nil
}
