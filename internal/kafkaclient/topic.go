package kafkaclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Partitioning says what EnsureTopic requires of an existing topic's
// partition count.
type Partitioning int8

const (
	// AnyPartitions accepts an existing topic as it is.
	AnyPartitions Partitioning = iota
	// AtLeastPartitions grows an existing topic that has fewer than
	// Topic.Partitions (a copy that must keep every record's partition).
	AtLeastPartitions
	// ExactPartitions refuses an existing topic with another count (a
	// layout that readers and writers must agree on).
	ExactPartitions
)

// Topic is a topic a service needs, and how an existing one must look.
type Topic struct {
	Name string
	// Partitions of a new topic; 0 or -1 takes the brokers' default.
	Partitions int32
	// ReplicationFactor of a new topic; 0 or -1 takes the brokers' default.
	ReplicationFactor int16
	// Configs of a new topic (cleanup.policy, retention.ms, ...).
	Configs map[string]string
	// AddMissingConfigs sets, on an existing topic, those of Configs that
	// are not set on the topic itself; a config an operator set on the
	// topic stays as it is.
	AddMissingConfigs bool
	// Compacted refuses an existing topic whose cleanup.policy does not
	// compact: retention would delete what the service keeps there.
	Compacted bool
	// Partitioning of an existing topic; see Partitioning.
	Partitioning Partitioning
	// AwaitServed waits, after creating or growing the topic, until the
	// brokers serve each partition with a leader. A producer that meets a
	// topic before then hears "unknown topic" and looks again only after
	// its metadata minimum age (5 s by default).
	AwaitServed bool
}

// Ensured is what EnsureTopic found or did.
type Ensured struct {
	// Created is set when the topic did not exist.
	Created bool
	// Grown is the partition count before growing; 0 when not grown.
	Grown int32
	// Partitions is the topic's partition count now (-1 when created with
	// the brokers' default and not awaited).
	Partitions int32
	// ConfigsSet lists the configs set on an existing topic.
	ConfigsSet []string
}

// ErrTopicMismatch is wrapped by EnsureTopic's errors about an existing
// topic that is not as it must be and that it cannot mend (a policy that
// does not compact, another partition count): trying again cannot help.
var ErrTopicMismatch = errors.New("topic does not match what the service needs")

// mismatch is an ErrTopicMismatch with its own message.
type mismatch struct{ msg string }

func (m mismatch) Error() string        { return m.msg }
func (m mismatch) Is(target error) bool { return target == ErrTopicMismatch }

func mismatchf(format string, args ...any) error { return mismatch{fmt.Sprintf(format, args...)} }

// awaitTimeout bounds AwaitServed.
const awaitTimeout = 30 * time.Second

// EnsureTopic makes sure t exists on cl's cluster as described: it creates
// a missing topic, and checks (and where t allows, mends) an existing one.
// Every error names the topic and says what to do.
func EnsureTopic(ctx context.Context, cl *kgo.Client, t Topic) (Ensured, error) {
	adm := kadm.NewClient(cl)
	partitions, rf := t.Partitions, t.ReplicationFactor
	if partitions == 0 {
		partitions = -1
	}
	if rf == 0 {
		rf = -1
	}
	configs := make(map[string]*string, len(t.Configs))
	for k, v := range t.Configs {
		configs[k] = kadm.StringPtr(v)
	}
	res, err := adm.CreateTopic(ctx, partitions, rf, configs, t.Name)
	if err == nil {
		err = res.Err
	}
	switch {
	case err == nil:
		out := Ensured{Created: true, Partitions: partitions}
		if t.AwaitServed {
			if out.Partitions, err = awaitServed(ctx, cl, t.Name, partitions); err != nil {
				return out, err
			}
		}
		return out, nil
	case !errors.Is(err, kerr.TopicAlreadyExists):
		return Ensured{}, fmt.Errorf("creating topic %s: %w; check that this client may create topics (or create it yourself)", t.Name, err)
	}
	return ensureExisting(ctx, cl, adm, t)
}

func ensureExisting(ctx context.Context, cl *kgo.Client, adm *kadm.Client, t Topic) (Ensured, error) {
	var out Ensured
	if t.Compacted || t.AddMissingConfigs {
		set, err := TopicConfigs(ctx, adm, t.Name)
		if err != nil {
			return out, fmt.Errorf("reading the configs of topic %s: %w", t.Name, err)
		}
		if p, ok := set["cleanup.policy"]; t.Compacted && ok && !strings.Contains(p, "compact") {
			return out, mismatchf("topic %s has cleanup.policy=%s but must be compacted, or retention would delete what it keeps; fix it with: kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact",
				t.Name, p, t.Name)
		}
		if t.AddMissingConfigs {
			if out.ConfigsSet, err = addMissing(ctx, adm, t, set); err != nil {
				return out, err
			}
		}
	}
	if t.Partitioning == AnyPartitions {
		return out, nil
	}
	td, err := adm.ListTopics(ctx, t.Name)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return out, fmt.Errorf("looking up topic %s: %w", t.Name, err)
	}
	have := int32(len(td[t.Name].Partitions))
	out.Partitions = have
	switch {
	case have == t.Partitions:
	case t.Partitioning == ExactPartitions:
		return out, mismatchf("topic %s has %d partitions, but %d are needed; delete it to have it created again, or configure %d", t.Name, have, t.Partitions, have)
	case have < t.Partitions:
		if _, err := adm.UpdatePartitions(ctx, int(t.Partitions), t.Name); err != nil {
			return out, fmt.Errorf("adding partitions to topic %s (%d -> %d): %w", t.Name, have, t.Partitions, err)
		}
		out.Grown, out.Partitions = have, t.Partitions
		if t.AwaitServed {
			if _, err := awaitServed(ctx, cl, t.Name, t.Partitions); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// addMissing sets those of t.Configs that set (the topic's own configs)
// lacks, and returns their names.
func addMissing(ctx context.Context, adm *kadm.Client, t Topic, set map[string]string) ([]string, error) {
	var alter []kadm.AlterConfig
	var names []string
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		if _, ok := set[k]; !ok {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(t.Configs[k])})
			names = append(names, k)
		}
	}
	if len(alter) == 0 {
		return nil, nil
	}
	ars, err := adm.AlterTopicConfigs(ctx, alter, t.Name)
	if err == nil {
		var ar kadm.AlterConfigsResponse
		if ar, err = ars.On(t.Name, nil); err == nil {
			err = ar.Err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("setting %s on topic %s: %w", strings.Join(names, ", "), t.Name, err)
	}
	return names, nil
}

// TopicConfigs returns the configs set on a topic itself, not those it
// takes from its brokers' settings or defaults.
func TopicConfigs(ctx context.Context, adm *kadm.Client, topic string) (map[string]string, error) {
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

// awaitServed waits until the brokers serve at least n partitions of topic
// (every one, when n is -1), each with a leader, and returns the count.
func awaitServed(ctx context.Context, cl *kgo.Client, topic string, n int32) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, awaitTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// A metadata request of our own: kadm's lookups answer from a
		// cache that keeps "unknown topic" for the metadata minimum age.
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			ps := resp.Topics[0].Partitions
			led := 0
			for _, p := range ps {
				if p.ErrorCode == 0 && p.Leader >= 0 {
					led++
				}
			}
			if len(ps) > 0 && led == len(ps) && (n < 0 || int32(led) >= n) {
				return int32(led), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the partitions of topic %s to be served: %w", topic, ctx.Err())
		case <-tick.C:
		}
	}
}
