package controlplane

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/catalog"
	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/meshfile"
	"github.com/meshwork/meshwork/replicator"
)

// configsShown are the topic configs the catalog shows: those that decide
// how long data stays, how it is cleaned and how safely it is written.
var configsShown = []string{"cleanup.policy", "retention.ms", "retention.bytes", "min.insync.replicas",
	"max.message.bytes", "message.timestamp.type", "compression.type"}

// snapshot is one gathering of the whole mesh; requests read the last one.
type snapshot struct {
	at     time.Time
	mesh   *meshfile.Mesh
	sites  []Site
	links  []Link
	topics map[string]*Topic
	leases []Lease // every site's own leases
}

// siteData is what one site's look found.
type siteData struct {
	site     Site
	statuses map[string]replicator.Status // by replicator name
	topics   map[string]*TopicAtSite
	leases   []Lease
	cps      map[string]map[string]map[int32]cpValue // source -> topic -> partition
	entries  []catalog.Entry
	rules    []adapters.RulesInfo // what the adapters answer at /v1/rules
}

// cpValue is a replicator checkpoint (replicator's checkpoint record).
type cpValue struct {
	NextOffset int64     `json:"next_offset"`
	Copied     int64     `json:"copied"`
	Time       time.Time `json:"time"`
}

// gather looks at every site of m at once, each bounded by the timeout,
// and assembles the snapshot; prev gives the rates.
func (s *Server) gather(ctx context.Context, m *meshfile.Mesh, prev *snapshot) *snapshot {
	now := time.Now().UTC()
	s.sites.keep(m)
	data := make([]*siteData, len(m.Sites))
	var wg sync.WaitGroup
	for i, site := range m.Sites {
		wg.Go(func() { data[i] = s.lookAt(ctx, site, now) })
	}
	wg.Wait()
	s.admins.keep(m)
	snap := &snapshot{at: now, mesh: m, topics: map[string]*Topic{}}
	bySite := map[string]*siteData{}
	for _, d := range data {
		bySite[d.site.Name] = d
		snap.sites = append(snap.sites, d.site)
		snap.leases = append(snap.leases, d.leases...)
	}
	snap.links = links(m, bySite)
	s.assembleTopics(ctx, snap, m, bySite, prev)
	return snap
}

// lookAt gathers one site's health and catalog.
func (s *Server) lookAt(ctx context.Context, ms meshfile.Site, now time.Time) *siteData {
	d := &siteData{site: Site{Name: ms.Name, Kafka: KafkaHealth{Brokers: ms.Kafka.Brokers}, Adapters: []ServiceHealth{}, Replicators: []ServiceHealth{}},
		statuses: map[string]replicator.Status{}, topics: map[string]*TopicAtSite{}}
	var wg sync.WaitGroup
	if ms.Registry != "" {
		d.site.Registry = &ServiceHealth{URL: ms.Registry}
		wg.Go(func() {
			d.site.Registry.Health = healthOf(s.getJSON(ctx, ms.Registry+"/subjects", nil), now)
		})
	}
	d.site.Adapters = make([]ServiceHealth, len(ms.Adapters))
	rules := make([]*adapters.RulesInfo, len(ms.Adapters))
	for i, a := range ms.Adapters {
		wg.Go(func() {
			d.site.Adapters[i] = ServiceHealth{Name: a.Name, URL: a.Admin, Health: healthOf(s.getJSON(ctx, a.Admin+"/readyz", nil), now)}
			rules[i], d.site.Adapters[i].Note = s.adapterRules(ctx, a.Admin)
		})
	}
	d.site.Replicators = make([]ServiceHealth, len(ms.Replicators))
	var mu sync.Mutex
	for i, r := range ms.Replicators {
		wg.Go(func() {
			var st replicator.Status
			err := s.getJSON(ctx, r.Admin+"/v1/status", &st)
			if err == nil && st.Ready != "ok" {
				err = fmt.Errorf("not ready: %s", st.Ready)
			}
			d.site.Replicators[i] = ServiceHealth{Name: r.Name, URL: r.Admin, Health: healthOf(err, now)}
			if st.RestartNeeded != "" {
				d.site.Replicators[i].Note = "restart to apply the mesh file: " + st.RestartNeeded
			}
			if st.Site != "" {
				mu.Lock()
				d.statuses[r.Name] = st
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		err := s.lookAtKafka(ctx, ms, d)
		d.site.Kafka.Health = healthOf(err, now)
	})
	wg.Wait()
	for _, r := range rules {
		if r != nil {
			d.rules = append(d.rules, *r)
		}
	}
	d.site.Healthy = d.site.Kafka.Status == StatusOK && (d.site.Registry == nil || d.site.Registry.Status == StatusOK)
	for _, l := range [][]ServiceHealth{d.site.Adapters, d.site.Replicators} {
		for _, h := range l {
			d.site.Healthy = d.site.Healthy && h.Status == StatusOK
		}
	}
	return d
}

// getJSON GETs url and decodes its JSON body into v (when not nil); a
// status other than 200 is an error with the body's first line.
func (s *Server) getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

// lookAtKafka gathers what the site's cluster says: its brokers, topics,
// configs, end offsets, groups and their lag, interest leases, the
// replicator's checkpoints, the topic catalog, and the latest records'
// producers.
func (s *Server) lookAtKafka(parent context.Context, ms meshfile.Site, d *siteData) error {
	// Each step has the whole timeout: a slow one does not starve the next.
	ctx, cancel := context.WithTimeout(parent, s.cfg.Timeout)
	defer func() { cancel() }()
	step := func() {
		cancel()
		ctx, cancel = context.WithTimeout(parent, s.cfg.Timeout)
	}
	opts, err := ms.Kafka.Options("controlplane", ms.Name)
	if err != nil {
		return err
	}
	opts = append(opts, kgo.RetryTimeout(s.cfg.Timeout))
	adm, err := s.admins.get(ms, opts)
	if err != nil {
		return err
	}
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("the cluster at %s does not answer: %w", strings.Join(ms.Kafka.Brokers, ","), err)
	}
	d.site.Kafka.BrokersUp = len(brokers)
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	var names []string
	for _, t := range td.Sorted() {
		if t.Err != nil || !catalog.Catalogued(t.Topic) {
			continue
		}
		names = append(names, t.Topic)
		d.topics[t.Topic] = &TopicAtSite{Site: ms.Name, Partitions: int32(len(t.Partitions)), EndOffsets: map[int32]int64{},
			Groups: []Group{}, Interest: []Lease{}, Flows: []Flow{}, Producers: []Producer{}, Adapters: []AdapterUse{}}
	}
	detailed := names[:min(len(names), s.cfg.MaxTopics)]
	step()
	if len(detailed) > 0 {
		if rc, err := adm.DescribeTopicConfigs(ctx, detailed...); err == nil {
			for _, c := range rc {
				t := d.topics[c.Name]
				if t == nil || c.Err != nil {
					continue
				}
				t.Configs = map[string]string{}
				for _, kv := range c.Configs {
					if slices.Contains(configsShown, kv.Key) && kv.Value != nil {
						t.Configs[kv.Key] = *kv.Value
					}
				}
			}
		}
		if ends, err := adm.ListEndOffsets(ctx, detailed...); err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if t := d.topics[o.Topic]; t != nil && o.Err == nil {
					t.EndOffsets[o.Partition] = o.Offset
					t.Records += o.Offset
				}
			})
		}
	}
	step()
	if groups, err := adm.ListGroups(ctx); err == nil && len(groups.Groups()) > 0 {
		if lags, err := adm.Lag(ctx, groups.Groups()...); err == nil {
			for _, g := range lags.Sorted() {
				for topic, ps := range g.Lag {
					t := d.topics[topic]
					if t == nil {
						continue
					}
					var sum int64
					for _, l := range ps {
						if l.Err == nil && l.Lag > 0 {
							sum += l.Lag
						}
					}
					t.Groups = append(t.Groups, Group{Group: g.Group, State: g.State, Lag: sum})
				}
			}
		}
	}
	step()
	if tb, err := interest.Read(ctx, opts); err == nil {
		now := time.Now()
		for _, l := range tb.Sorted() {
			if l.Site == ms.Name {
				d.leases = append(d.leases, leaseView(l, now))
			}
		}
	}
	step()
	if tb, err := catalog.Read(ctx, opts); err == nil {
		d.entries = tb.Entries()
	}
	step()
	d.cps = readCheckpoints(ctx, opts)
	step()
	if s.cfg.ProducerSample > 0 {
		s.sampleProducers(ctx, opts, d, s.toSample(ms.Name, d, detailed))
	}
	return nil
}

// sample is the last reading of a topic's latest records at a site.
type sample struct {
	records   int64 // the topic's end offsets' sum when read
	producers []Producer
}

// toSample returns the topics written to since their last sample, then
// those never sampled (at most sampled_topics in all; empty ones need no
// reading), and gives the others their last sample. Only the gathering goroutine calls it, once per site.
func (s *Server) toSample(site string, d *siteData, topics []string) []string {
	s.samplesMu.Lock()
	last := s.samples[site]
	if last == nil {
		last = map[string]sample{}
		s.samples[site] = last
	}
	s.samplesMu.Unlock()
	var fresh, changed []string
	for _, t := range topics {
		prev, ok := last[t]
		switch {
		case d.topics[t].Records == 0: // nothing to read
		case !ok:
			fresh = append(fresh, t)
		case prev.records != d.topics[t].Records:
			changed = append(changed, t)
		default:
			d.topics[t].Producers = prev.producers
		}
	}
	// Topics written to right now first: they are what operators look at.
	out := append(changed, fresh...)
	if len(out) > s.cfg.SampledTopics {
		for _, t := range out[s.cfg.SampledTopics:] {
			if prev, ok := last[t]; ok {
				d.topics[t].Producers = prev.producers
			}
		}
		out = out[:s.cfg.SampledTopics]
	}
	return out
}

// keepSamples notes the samples just read at site.
func (s *Server) keepSamples(site string, d *siteData, topics []string) {
	s.samplesMu.Lock()
	defer s.samplesMu.Unlock()
	last := s.samples[site]
	for _, t := range topics {
		last[t] = sample{records: d.topics[t].Records, producers: d.topics[t].Producers}
	}
	for t := range last {
		if d.topics[t] == nil {
			delete(last, t) // the topic is gone
		}
	}
}

func leaseView(l interest.Lease, now time.Time) Lease {
	return Lease{Site: l.Site, Topic: l.Topic, Pattern: l.Pattern, Kind: l.Kind.String(), Source: l.SourceID,
		Since: l.Since.UTC(), Expires: l.Expires.UTC(), Resume: interest.FormatResume(l.Resume, l.ResumeAt), Expired: l.Expired(now)}
}

// readCheckpoints reads the site's replicator checkpoints (read_committed,
// as the replicator does), keyed <source>/<topic>/<partition>.
func readCheckpoints(ctx context.Context, opts []kgo.Opt) map[string]map[string]map[int32]cpValue {
	out := map[string]map[string]map[int32]cpValue{}
	cl, err := kgo.NewClient(append(slices.Clone(opts), append(kafkaclient.FollowOptions(replicator.CheckpointTopic), kgo.FetchMaxWait(100*time.Millisecond))...)...)
	if err != nil {
		return out
	}
	defer cl.Close()
	_ = kafkaclient.ReadToEnd(ctx, cl, replicator.CheckpointTopic, func(recs []*kgo.Record) {
		for _, r := range recs {
			key := string(r.Key)
			source, rest, ok := strings.Cut(key, "/")
			i := strings.LastIndexByte(rest, '/')
			if !ok || i < 0 {
				continue
			}
			p, err := strconv.ParseInt(rest[i+1:], 10, 32)
			var v cpValue
			if err != nil || json.Unmarshal(r.Value, &v) != nil {
				continue
			}
			topic := rest[:i]
			if out[source] == nil {
				out[source] = map[string]map[int32]cpValue{}
			}
			if out[source][topic] == nil {
				out[source][topic] = map[int32]cpValue{}
			}
			out[source][topic][int32(p)] = v
		}
	})
	return out
}

// sampleProducers reads the latest producer_sample records of each
// partition of topics and counts them by mesh_origin and ce_source.
func (s *Server) sampleProducers(ctx context.Context, opts []kgo.Opt, d *siteData, topics []string) {
	offsets := map[string]map[int32]kgo.Offset{}
	want := map[string]map[int32]int64{} // the end to read up to
	for _, t := range topics {
		for p, end := range d.topics[t].EndOffsets {
			if end == 0 {
				continue
			}
			if offsets[t] == nil {
				offsets[t], want[t] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			offsets[t][p] = kgo.NewOffset().At(max(0, end-int64(s.cfg.ProducerSample)))
			want[t][p] = end
		}
	}
	if len(offsets) == 0 {
		s.keepSamples(d.site.Name, d, topics)
		return
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return
	}
	defer cl.Close()
	counts := map[string]map[[3]string]int{}
	left := 0
	for _, ps := range want {
		left += len(ps)
	}
	for left > 0 && ctx.Err() == nil {
		// A partition whose last offsets are transaction markers never
		// yields its end: a poll that finds nothing more ends the read.
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollRecords(pctx, 10000)
		pcancel()
		if fs.IsClientClosed() || fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			var k [3]string // origin, source, adapter
			for _, h := range r.Headers {
				switch h.Key {
				case "mesh_origin":
					k[0] = string(h.Value)
				case "ce_source":
					k[1] = string(h.Value)
				case adapters.HeaderAdapter:
					k[2] = string(h.Value)
				}
			}
			if counts[r.Topic] == nil {
				counts[r.Topic] = map[[3]string]int{}
			}
			counts[r.Topic][k]++
			if end, ok := want[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(want[r.Topic], r.Partition)
				left--
			}
		})
	}
	defer s.keepSamples(d.site.Name, d, topics)
	for topic, byKey := range counts {
		for k, n := range byKey {
			d.topics[topic].Producers = append(d.topics[topic].Producers, Producer{Origin: k[0], Source: k[1], Adapter: k[2], Records: n})
		}
		slices.SortFunc(d.topics[topic].Producers, func(a, b Producer) int {
			return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.Source, b.Source))
		})
	}
}

// links turns the mesh's links into directed links with what each
// target's replicators report of their sources.
func links(m *meshfile.Mesh, bySite map[string]*siteData) []Link {
	topo, err := m.Topology()
	if err != nil {
		return nil
	}
	var out []Link
	for _, target := range topo.Sites() {
		for _, source := range topo.Neighbors(target) {
			l := Link{Source: source, Target: target, Status: LinkUnknown, Reports: []LinkReport{}}
			d := bySite[target]
			for _, name := range slices.Sorted(maps.Keys(d.statuses)) {
				for _, src := range d.statuses[name].Sources {
					if src.Site != source {
						continue
					}
					l.Reports = append(l.Reports, LinkReport{Replicator: name, Reachable: src.Reachable, Checked: src.Checked, Error: src.Error})
					switch {
					case !src.Reachable && !src.Checked.IsZero():
						l.Status = LinkDown
					case src.Reachable && l.Status == LinkUnknown:
						l.Status = LinkUp
					}
				}
			}
			out = append(out, l)
		}
	}
	return out
}

// assembleTopics builds every topic's catalog from the sites' data.
func (s *Server) assembleTopics(ctx context.Context, snap *snapshot, m *meshfile.Mesh, bySite map[string]*siteData, prev *snapshot) {
	roles := map[[2]string]catalog.Role{}
	for _, d := range bySite {
		for _, e := range d.entries {
			roles[[2]string{e.Site, e.Topic}] = e.Role
		}
	}
	for _, site := range m.SiteNames() {
		d := bySite[site]
		for name, t := range d.topics {
			top := snap.topics[name]
			if top == nil {
				top = &Topic{Name: name, Origins: []string{}, Gathered: snap.at}
				snap.topics[name] = top
			}
			t.Role = "unknown"
			if r, ok := roles[[2]string{site, name}]; ok {
				t.Role = roleName(r)
				if r == catalog.RoleOrigin {
					top.Origins = append(top.Origins, site)
				}
			}
			if prev != nil {
				if pt := prev.topics[name]; pt != nil {
					for _, ps := range pt.Sites {
						if ps.Site == site && t.Records >= ps.Records {
							t.Rate = float64(t.Records-ps.Records) / snap.at.Sub(prev.at).Seconds()
						}
					}
				}
			}
			for _, l := range snap.leases {
				if l.Site == site && (l.Topic == name || l.Pattern && matches(l.Topic, name)) {
					t.Interest = append(t.Interest, l)
				}
			}
			t.Adapters = adapterUses(name, t, d.rules)
			for source, topics := range d.cps {
				ps := topics[name]
				if len(ps) == 0 {
					continue
				}
				f := Flow{Source: source}
				src := bySite[source]
				var srcEnds map[int32]int64
				if src != nil && src.topics[name] != nil && src.site.Kafka.Status == StatusOK {
					srcEnds = src.topics[name].EndOffsets
				}
				for p, cp := range ps {
					f.Copied += cp.Copied
					if cp.Time.After(f.Checkpoint) {
						f.Checkpoint = cp.Time
					}
					if srcEnds != nil {
						f.Lag += max(0, srcEnds[p]-cp.NextOffset)
					}
				}
				if srcEnds == nil {
					f.Lag = -1
				}
				for _, st := range d.statuses {
					for _, c := range st.Copying {
						if c.From == source && c.Topic == name {
							f.Running = true
						}
					}
				}
				t.Flows = append(t.Flows, f)
			}
			slices.SortFunc(t.Flows, func(a, b Flow) int { return cmp.Compare(a.Source, b.Source) })
			top.Sites = append(top.Sites, *t)
		}
	}
	s.addSchemas(ctx, snap, m, bySite)
}

// matches reports whether the lease pattern p matches topic.
func matches(p, topic string) bool {
	re, err := interest.CompilePattern(p)
	return err == nil && re.MatchString(topic)
}

// addSchemas asks the first registry that answers for the subjects of the
// topics (TopicNameStrategy: <topic>-value) and their versions. Schema ids
// are the same at every site, so one registry is enough.
func (s *Server) addSchemas(ctx context.Context, snap *snapshot, m *meshfile.Mesh, bySite map[string]*siteData) {
	for _, site := range m.Sites {
		if site.Registry == "" || bySite[site.Name].site.Registry.Status != StatusOK {
			continue
		}
		var subjects []string
		if err := s.getJSON(ctx, site.Registry+"/subjects", &subjects); err != nil {
			continue
		}
		for _, subj := range subjects {
			topic, ok := strings.CutSuffix(subj, "-value")
			t := snap.topics[topic]
			if !ok || t == nil {
				continue
			}
			var versions []int
			if err := s.getJSON(ctx, site.Registry+"/subjects/"+subj+"/versions", &versions); err != nil {
				continue
			}
			t.Schema = &Schema{Subject: subj, Versions: versions, Registry: site.Registry}
		}
		return
	}
}
