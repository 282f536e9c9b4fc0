package replicator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var errTopicExists = kerr.TopicAlreadyExists

// mirroredConfigs are the topic configs a created copy takes from its
// source when they were set there: they change what the topic keeps and
// accepts, so the copy must agree.
var mirroredConfigs = []string{
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
	td, err := r.localAdm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", topic, err)
	}
	changed := false
	if d, ok := td[topic]; ok && d.Err == nil {
		have = int32(len(d.Partitions))
		if have < n {
			changed = true
			r.log.Warn("replicator: topic has fewer partitions here than at its source; adding partitions so records keep theirs",
				"topic", topic, "here", have, "source", source, "at_source", n)
			if _, err := r.localAdm.UpdatePartitions(ctx, int(n), topic); err != nil {
				return fmt.Errorf("adding partitions to %s: %w", topic, err)
			}
			have = n
		}
	} else {
		configs, err := r.sourceConfigs(ctx, source, topic)
		if err != nil {
			return err
		}
		res, err := r.localAdm.CreateTopic(ctx, n, r.cfg.ReplicationFactor, configs, topic)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, errTopicExists) {
			return fmt.Errorf("creating %s with %d partitions: %w", topic, n, err)
		}
		changed = true
		r.log.Info("replicator: created topic like its source", "topic", topic, "partitions", n, "source", source, "configs", len(configs))
		have = n
	}
	if changed {
		if err := r.awaitPartitions(ctx, topic, n); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.created[topic] = have
	r.mu.Unlock()
	return nil
}

// awaitPartitions waits until the local brokers serve n partitions of a
// topic just created or grown, each with a leader. A producer that meets
// the topic before then hears "unknown topic" and looks again only after
// its metadata minimum age (5 s): the first copies would wait that long.
func (r *Replicator) awaitPartitions(ctx context.Context, topic string, n int32) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// A metadata request of our own: kadm's lookups answer from a
		// cache that keeps "unknown topic" for the same 5 s.
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, r.localCl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			led := 0
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 0 {
					led++
				}
			}
			if led >= int(n) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d partitions of %s at %s: %w", n, topic, r.cfg.Site, ctx.Err())
		case <-tick.C:
		}
	}
}

// sourceConfigs returns the mirrored configs set on topic at source.
func (r *Replicator) sourceConfigs(ctx context.Context, source, topic string) (map[string]*string, error) {
	set, err := topicOverrides(ctx, r.admin(source), topic)
	if err != nil {
		return nil, fmt.Errorf("reading the configs of %s at %s: %w", topic, source, err)
	}
	out := map[string]*string{}
	for _, name := range mirroredConfigs {
		if v, ok := set[name]; ok {
			out[name] = kadm.StringPtr(v)
		}
	}
	return out, nil
}

// topicOverrides returns the configs set on topic itself, not those it
// takes from its brokers' settings or defaults.
func topicOverrides(ctx context.Context, adm *kadm.Client, topic string) (map[string]string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, err
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
			out[c.Key] = *c.Value
		}
	}
	return out, nil
}
