package replicator

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// clients builds every Kafka client of the replicator, so that what they
// share is set in one place: the component and site they name themselves
// by, and the extra options New was given (tests shorten timeouts), which
// come last and so win.
type clients struct {
	site  string
	extra []kgo.Opt
}

// new returns a client of cluster k with opts.
func (c clients) new(k kafkaclient.Config, opts ...kgo.Opt) (*kgo.Client, error) {
	return kafkaclient.New(k, "replicator", c.site, slices.Concat(opts, c.extra)...)
}

// options are those of a client of cluster k, for a client that another
// package builds (the interest watcher).
func (c clients) options(k kafkaclient.Config) ([]kgo.Opt, error) {
	opts, err := k.Options("replicator", c.site)
	if err != nil {
		return nil, err
	}
	return slices.Concat(opts, c.extra), nil
}

// flowClients builds the clients of the flows from one source site: their
// producers to this site and their consumers of the source.
type flowClients struct {
	clients
	local, source kafkaclient.Config
	flow          Flow
}

// producer returns a producer to this site: transactional with id, or,
// with no id (at least once), not. It cuts the batches of each topic at
// limit(topic), the topic's max.message.bytes here (see recordLimits).
func (c flowClients) producer(id string, limit func(topic string) int32) (*kgo.Client, error) {
	// The buffer holds a batch's copies, and a record as large as any
	// topic may take: a larger record would be refused by the client.
	opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytesFn(limit), kgo.MaxBufferedBytes(2*c.flow.MaxBatchBytes + maxProduceBytes)}
	if id != "" {
		opts = append(opts, kgo.TransactionalID(id), kgo.TransactionTimeout(2*commitTimeout))
	}
	return c.new(c.local, opts...)
}

// consumer returns a reader of the source's partitions from offsets, which
// sees only committed records; h hears each answer of the source.
func (c flowClients) consumer(offsets map[string]map[int32]kgo.Offset, h *heard) (*kgo.Client, error) {
	return c.new(c.source,
		kgo.WithHooks(h),
		kgo.ConsumePartitions(offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(c.flow.FetchMaxWait),
		kgo.FetchMaxBytes(int32(c.flow.MaxBatchBytes)),
		kgo.FetchMaxPartitionBytes(int32(c.flow.MaxBatchBytes)),
	)
}
