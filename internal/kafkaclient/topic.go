package kafkaclient

import (
	"cmp"
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

	"github.com/meshwork/meshwork/internal/retry"
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
	got, errs := EnsureTopics(ctx, cl, t)
	return got[t.Name], errs[t.Name]
}

// EnsureTopics is EnsureTopic for many topics at once: the missing ones are
// created in one request, and awaited together, so that a service that
// makes thousands of topics (the replicator's copies) does not pay a round
// trip or two for each. It returns what it found or did, and the errors, by
// topic name.
func EnsureTopics(ctx context.Context, cl *kgo.Client, ts ...Topic) (map[string]Ensured, map[string]error) {
	adm := kadm.NewClient(cl)
	got, errs := map[string]Ensured{}, map[string]error{}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(awaitTimeout.Milliseconds())
	byName := map[string]Topic{}
	for _, t := range ts {
		byName[t.Name] = t
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = t.Name, t.Partitions, t.ReplicationFactor
		if rt.NumPartitions == 0 {
			rt.NumPartitions = -1
		}
		if rt.ReplicationFactor == 0 {
			rt.ReplicationFactor = -1
		}
		for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, kmsg.StringPtr(t.Configs[k])
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(req.Topics) == 0 {
		return got, errs
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		for _, t := range ts {
			errs[t.Name] = fmt.Errorf("creating topic %s: %w; check that this client may create topics (or create it yourself)", t.Name, err)
		}
		return got, errs
	}
	await := map[string]int32{}
	for _, rt := range resp.Topics {
		t, ok := byName[rt.Topic]
		if !ok {
			continue
		}
		err := kerr.ErrorForCode(rt.ErrorCode)
		switch {
		case err == nil:
			out := Ensured{Created: true, Partitions: t.Partitions}
			if out.Partitions == 0 {
				out.Partitions = -1
			}
			if rt.NumPartitions > 0 {
				out.Partitions = rt.NumPartitions
			}
			got[t.Name] = out
			if t.AwaitServed {
				await[t.Name] = out.Partitions
			}
		case errors.Is(err, kerr.TopicAlreadyExists):
			if got[t.Name], err = ensureExisting(ctx, cl, adm, t); err != nil {
				errs[t.Name] = err
			}
		default:
			msg := err.Error()
			if rt.ErrorMessage != nil && *rt.ErrorMessage != "" {
				msg += " (" + *rt.ErrorMessage + ")"
			}
			errs[t.Name] = fmt.Errorf("creating topic %s: %s; check that this client may create topics (or create it yourself)", t.Name, msg)
		}
	}
	for name := range byName {
		if _, ok := got[name]; !ok && errs[name] == nil {
			errs[name] = fmt.Errorf("creating topic %s: the controller did not answer for it; try again", name)
		}
	}
	if len(await) > 0 {
		served, err := awaitServed(ctx, cl, await)
		for name := range await {
			out := got[name]
			if n, ok := served[name]; ok {
				out.Partitions = n
			} else {
				errs[name] = err
			}
			got[name] = out
		}
	}
	return got, errs
}

// existingConfigs reads the configs of a topic that exists: one another
// client has just created may not be known yet to the broker asked
// (UNKNOWN_TOPIC_OR_PARTITION), which is asked again for a few seconds.
func existingConfigs(ctx context.Context, adm *kadm.Client, topic string) (map[string]string, error) {
	deadline := time.Now().Add(10 * time.Second)
	wait := 50 * time.Millisecond
	for {
		set, err := TopicConfigs(ctx, adm, topic)
		if !errors.Is(err, kerr.UnknownTopicOrPartition) || time.Now().After(deadline) {
			return set, err
		}
		if !retry.Sleep(ctx, wait) {
			return set, err
		}
		wait = min(2*wait, time.Second)
	}
}

func ensureExisting(ctx context.Context, cl *kgo.Client, adm *kadm.Client, t Topic) (Ensured, error) {
	var out Ensured
	if t.Compacted || t.AddMissingConfigs {
		set, err := existingConfigs(ctx, adm, t.Name)
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
			if _, err := awaitServed(ctx, cl, map[string]int32{t.Name: t.Partitions}); err != nil {
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
	out, err := TopicsConfigs(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	return out[topic], nil
}

// TopicsConfigs is TopicConfigs for many topics, in one request. A topic
// that could not be read is left out, and named in the error.
func TopicsConfigs(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	if len(topics) == 0 {
		return out, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return out, err
	}
	var failed []string
	var first error
	for _, rc := range rcs {
		if rc.Err != nil {
			failed = append(failed, rc.Name)
			first = cmp.Or(first, rc.Err)
			continue
		}
		set := map[string]string{}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				set[c.Key] = *c.Value
			}
		}
		out[rc.Name] = set
	}
	for _, t := range topics {
		if _, ok := out[t]; !ok && !slices.Contains(failed, t) {
			failed = append(failed, t)
			first = cmp.Or(first, errors.New("no answer"))
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("reading the configs of %s: %w", names(failed), first)
	}
	return out, nil
}

// names lists topics for a message: the first few, and how many more.
func names(topics []string) string {
	slices.Sort(topics)
	const shown = 5
	if len(topics) <= shown {
		return strings.Join(topics, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(topics[:shown], ", "), len(topics)-shown)
}

// awaitServed waits until the brokers serve at least n partitions of each
// topic of want (every one, when n is -1), each with a leader, and returns
// their counts: all of them, or, with an error, those served by then.
func awaitServed(ctx context.Context, cl *kgo.Client, want map[string]int32) (map[string]int32, error) {
	ctx, cancel := context.WithTimeout(ctx, awaitTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	served := map[string]int32{}
	for {
		// A metadata request of our own: kadm's lookups answer from a
		// cache that keeps "unknown topic" for the metadata minimum age.
		req := kmsg.NewPtrMetadataRequest()
		for topic := range want {
			if _, ok := served[topic]; !ok {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, rt)
			}
		}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			for _, t := range resp.Topics {
				if t.Topic == nil || t.ErrorCode != 0 {
					continue
				}
				led := 0
				for _, p := range t.Partitions {
					if p.ErrorCode == 0 && p.Leader >= 0 {
						led++
					}
				}
				n, ok := want[*t.Topic]
				if ok && len(t.Partitions) > 0 && led == len(t.Partitions) && (n < 0 || int32(led) >= n) {
					served[*t.Topic] = int32(led)
				}
			}
		}
		if len(served) == len(want) {
			return served, nil
		}
		select {
		case <-ctx.Done():
			var missing []string
			for topic := range want {
				if _, ok := served[topic]; !ok {
					missing = append(missing, topic)
				}
			}
			return served, fmt.Errorf("waiting for the partitions of %s to be served: %w", names(missing), ctx.Err())
		case <-tick.C:
		}
	}
}

// Missing returns those of topics the cluster says it does not hold, asked
// with a metadata request of its own: kadm's lookups answer from the
// client's cache, which may be older than a topic created a moment ago.
// Topics are asked in requests of at most 500.
func Missing(ctx context.Context, cl *kgo.Client, topics ...string) (map[string]bool, error) {
	missing := map[string]bool{}
	for batch := range slices.Chunk(topics, 500) {
		req := kmsg.NewPtrMetadataRequest()
		for _, topic := range batch {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("asking whether %s exist: %w", names(slices.Clone(batch)), err)
		}
		for _, t := range resp.Topics {
			if t.Topic != nil && t.ErrorCode == kerr.UnknownTopicOrPartition.Code {
				missing[*t.Topic] = true
			}
		}
	}
	return missing, nil
}
