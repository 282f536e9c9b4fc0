package replicator

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// mirroredConfigNames are the topic configs a created copy takes from its
// source when they were set there: they change what the topic keeps and
// accepts, so the copy must agree.
var mirroredConfigNames = []string{
	"cleanup.policy", "retention.ms", "retention.bytes", "max.message.bytes",
	"min.compaction.lag.ms", "max.compaction.lag.ms", "delete.retention.ms",
	"message.timestamp.type", "compression.type", "min.cleanable.dirty.ratio",
}

// ensureTopic makes sure topic exists here with at least the source's n
// partitions, so that every record keeps its partition: a missing topic is
// created with the source's count and configs; one with fewer partitions is
// grown (with a warning: keys of local producers may map elsewhere).
func (r *Replicator) ensureTopic(ctx context.Context, source, topic string, n int32) error {
	r.mu.Lock()
	have, ok := r.created[topic]
	r.mu.Unlock()
	if ok && have >= n {
		return nil
	}
	spec := kafkaclient.Topic{Name: topic, Partitions: n, ReplicationFactor: r.cfg.ReplicationFactor,
		Partitioning: kafkaclient.AtLeastPartitions, AwaitServed: true}
	if !ok {
		// The source's configs matter only for a topic created here.
		configs, err := r.sourceConfigs(ctx, source, topic)
		if err != nil {
			return err
		}
		spec.Configs = configs
	}
	done := r.catalog.creating(topic)
	got, err := kafkaclient.EnsureTopic(ctx, r.localCl, spec)
	done(err == nil && got.Created)
	if err != nil {
		return err
	}
	switch {
	case got.Created:
		r.log.Info("replicator: created topic like its source", "topic", topic, "partitions", n, "source", source, "configs", len(spec.Configs))
	case got.Grown > 0:
		r.log.Warn("replicator: topic had fewer partitions here than at its source; added partitions so records keep theirs",
			"topic", topic, "here", got.Grown, "source", source, "at_source", n)
	}
	r.noteTopic(topic, max(n, got.Partitions))
	return nil
}

// sourceConfigs returns the mirrored configs set on topic at source.
func (r *Replicator) sourceConfigs(ctx context.Context, source, topic string) (map[string]string, error) {
	out, err := mirroredConfigs(ctx, r.admin(source), topic)
	if err != nil {
		return nil, fmt.Errorf("reading the configs of %s at %s: %w", topic, source, err)
	}
	return out[topic], nil
}

// mirroredConfigs returns, by topic, those of the configs set on topics
// (through adm's cluster) that a copy takes over; a topic it could not read
// is left out, and named in the error.
func mirroredConfigs(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[string]string, error) {
	set, err := kafkaclient.TopicsConfigs(ctx, adm, topics...)
	out := make(map[string]map[string]string, len(set))
	for t, cfgs := range set {
		m := map[string]string{}
		for _, name := range mirroredConfigNames {
			if v, ok := cfgs[name]; ok {
				m[name] = v
			}
		}
		out[t] = m
	}
	return out, err
}

// noteTopic records that topic exists here with at least n partitions.
func (r *Replicator) noteTopic(topic string, n int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created[topic] = max(r.created[topic], n)
}
