package demand

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshwork/meshwork/interest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/retry"
)

// Discoverer finds the interest of the local cluster's consumer groups and
// publishes it as CONSUMER_GROUP leases (source id: the group id) through its
// own Publisher. A group is interested in a topic when it has committed
// offsets on it, or has members subscribed to it or assigned to it:
//
//   - classic groups (protocol type "consumer"): the subscription in each
//     member's metadata (kmsg.ConsumerMemberMetadata), which names topics
//     that need not exist yet at the site, and its assignment;
//   - KIP-848 "consumer" groups, where the brokers support them: each
//     member's subscribed topics, its subscribed regular expression (a
//     pattern lease), and its assignment.
//
// Internal topics (starting with _) and groups with an excluded prefix are
// ignored. A group that is gone, or no longer has offsets or members on a
// topic, is no longer renewed and its lease expires. When a scan fails, or
// one group cannot be read, the leases found before are kept.
type Discoverer struct {
	adm  *kadm.Client
	pub  *interest.Publisher
	site string
	cfg  cfg

	mu     sync.Mutex // one scan at a time
	kip848 bool       // the cluster answers ConsumerGroupDescribe
}

// NewDiscoverer returns a discoverer of site's groups that reads and
// publishes with cl (which it does not close). Publisher options (TTL,
// Continue) configure its publisher, which always lets removed leases
// expire (ExpireRemoved).
func NewDiscoverer(cl *kgo.Client, site string, opts ...DiscovererOpt) (*Discoverer, error) {
	c := defaultCfg()
	for _, o := range opts {
		o.apply(&c)
	}
	if err := envelope.ValidSite(site); err != nil {
		return nil, fmt.Errorf("interest: discoverer site %q: %w", site, err)
	}
	if c.interval <= 0 {
		return nil, fmt.Errorf("interest: discovery interval %s must be positive", c.interval)
	}
	if c.ttl == 0 {
		return nil, errors.New("interest: discovered leases must expire; set a TTL above 0")
	}
	if c.ttl <= c.interval {
		c.log.Warn("interest: the lease TTL is not longer than the discovery interval; leases may lapse between scans",
			"ttl", c.ttl, "interval", c.interval)
	}
	popts := []interest.Option{interest.TTL(c.ttl), interest.Logger(c.log), interest.ExpireRemoved(), c.metrics.PublishOption()}
	if c.continueFrom != nil {
		popts = append(popts, interest.Continue(c.continueFrom))
	}
	pub, err := interest.NewPublisher(cl, site, popts...)
	if err != nil {
		return nil, err
	}
	return &Discoverer{adm: kadm.NewClient(cl), pub: pub, site: site, cfg: c}, nil
}

// Run scans now and every interval until ctx ends, then stops renewing
// (without tombstoning: a restart within the TTL keeps the interest). A
// discoverer runs once: after Run, Scan fails with ErrClosed.
func (d *Discoverer) Run(ctx context.Context) {
	defer func() { _ = d.pub.Close(context.Background()) }()
	for {
		if _, err := d.Scan(ctx); err != nil && ctx.Err() == nil {
			d.cfg.log.Warn("interest: discovery failed; keeping the leases found before", "site", d.site, "error", err)
		}
		if !retry.Sleep(ctx, d.cfg.interval) {
			return
		}
	}
}

// Scan looks at the groups once, publishes what it found and returns the
// leases published, sorted by key.
func (d *Discoverer) Scan(ctx context.Context) ([]interest.Lease, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	found, err := d.scan(ctx)
	if err == nil {
		err = d.pub.Set(ctx, found)
	}
	d.cfg.metrics.scanned(err, len(found))
	if err != nil {
		return nil, fmt.Errorf("interest: discovering the consumer groups of site %s: %w", d.site, err)
	}
	return d.pub.Leases(), nil
}

func (d *Discoverer) scan(ctx context.Context) ([]interest.Lease, error) {
	classic, err := d.adm.DescribeGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("describing classic groups: %w", err)
	}
	var consumer kadm.DescribedConsumerGroups
	if d.consumerGroupsSupported(ctx) {
		if consumer, err = d.adm.DescribeConsumerGroups(ctx); err != nil {
			return nil, fmt.Errorf("describing consumer-protocol groups: %w", err)
		}
	}
	var groups []string
	for _, names := range [][]string{classic.Names(), consumer.Names()} {
		for _, g := range names {
			if !d.excluded(g) && !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	var offsets kadm.FetchOffsetsResponses
	if len(groups) > 0 {
		offsets = d.adm.FetchManyOffsets(ctx, groups...)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	found, unsure := interestOf(groups, classic, consumer, offsets)

	now := time.Now()
	var leases []interest.Lease
	add := func(l interest.Lease) {
		probe := l
		probe.Site, probe.Since = d.site, now
		if err := probe.Validate(); err != nil {
			d.cfg.log.Debug("interest: not publishing a group's interest", "error", err)
			return
		}
		leases = append(leases, l)
	}
	for _, g := range groups {
		if slices.Contains(unsure, g) {
			for _, l := range d.pub.Leases() {
				if l.SourceID == g {
					add(interest.Lease{Topic: l.Topic, Pattern: l.Pattern, Kind: interest.KindConsumerGroup, SourceID: g})
				}
			}
			continue
		}
		for _, w := range found[g] {
			add(interest.Lease{Topic: w.topic, Pattern: w.pattern, Kind: interest.KindConsumerGroup, SourceID: g, Resume: interest.ResumeCheckpoint})
		}
	}
	return leases, nil
}

// consumerGroupsSupported reports whether some broker answers
// ConsumerGroupDescribe (KIP-848, Kafka 4.0+); once it did, it is assumed.
func (d *Discoverer) consumerGroupsSupported(ctx context.Context) bool {
	if d.kip848 {
		return true
	}
	vs, err := d.adm.ApiVersions(ctx)
	if err != nil {
		return false
	}
	for _, v := range vs {
		if _, ok := v.KeyMaxVersion(kmsg.ConsumerGroupDescribe.Int16()); ok {
			d.kip848 = true
		}
	}
	return d.kip848
}

func (d *Discoverer) excluded(group string) bool {
	for _, p := range d.cfg.excludeGroups {
		if strings.HasPrefix(group, p) {
			return true
		}
	}
	return false
}

// want is one topic, or pattern, a group is interested in.
type want struct {
	topic   string
	pattern bool
}

// interestOf works out what each of groups is interested in from their
// descriptions and committed offsets. Groups that could not be read this
// time are returned as unsure: their earlier interest should be kept.
func interestOf(groups []string, classic kadm.DescribedGroups, consumer kadm.DescribedConsumerGroups,
	offsets kadm.FetchOffsetsResponses) (map[string][]want, []string) {
	found := map[string][]want{}
	var unsure []string
	add := func(g, topic string, pattern bool) {
		if topic == "" || !pattern && strings.HasPrefix(topic, "_") {
			return
		}
		w := want{topic, pattern}
		if !slices.Contains(found[g], w) {
			found[g] = append(found[g], w)
		}
	}
	readable := func(err error) bool { return err == nil || errors.Is(err, kerr.GroupIDNotFound) }
	for _, g := range groups {
		ok := true
		if dg, in := classic[g]; in {
			ok = ok && readable(dg.Err)
			if dg.Err == nil && dg.State != "Dead" {
				for _, m := range dg.Members {
					if md, isConsumer := m.Join.AsConsumer(); isConsumer {
						for _, t := range md.Topics {
							add(g, t, false)
						}
					}
					if a, isConsumer := m.Assigned.AsConsumer(); isConsumer {
						for _, t := range a.Topics {
							add(g, t.Topic, false)
						}
					}
				}
			}
		}
		if cg, in := consumer[g]; in {
			ok = ok && readable(cg.Err)
			if cg.Err == nil {
				for _, m := range cg.Members {
					for _, t := range m.SubscribedTopics {
						add(g, t, false)
					}
					if m.SubscribedTopicRegex != nil {
						add(g, *m.SubscribedTopicRegex, true)
					}
					for t := range m.Assignment {
						add(g, t, false)
					}
				}
			}
		}
		if fo, in := offsets[g]; in {
			ok = ok && readable(fo.Err)
			for t, ps := range fo.Fetched {
				for _, o := range ps {
					if o.Err == nil && o.At >= 0 {
						add(g, t, false)
						break
					}
				}
			}
		}
		if !ok {
			unsure = append(unsure, g)
			delete(found, g)
			continue
		}
		slices.SortFunc(found[g], func(a, b want) int {
			if c := strings.Compare(a.topic, b.topic); c != 0 {
				return c
			}
			if a.pattern == b.pattern {
				return 0
			}
			if a.pattern {
				return 1
			}
			return -1
		})
	}
	return found, unsure
}
