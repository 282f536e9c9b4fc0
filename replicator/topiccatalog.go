package replicator

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/catalog"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// catalogState is what the replicator knows of the mesh's topics (the
// entries of every site in its site's _mesh.catalog, which the replicators
// carry everywhere), what it publishes there for its own site, and the
// empty copies it creates of the topics other sites hold as their origin.
//
// Why copies at all: consumer groups of most clients (franz-go, sarama,
// librdkafka) join only once their topic exists at their site, and every
// client sees new partitions only at its next metadata refresh (minutes).
// With an empty copy of the right partition count in place, a consumer
// anywhere joins at once and becomes interest (a discovered lease); the
// flow then copies the records. A copy costs no bandwidth until then.
//
// Roles: a topic this replicator created is a COPY; one that existed here
// without it is this site's ORIGIN, unless it is empty and another site
// holds it as its origin (a consumer that asked its broker to create it
// must not decide its partitions): then it is adopted as a COPY. Only
// origins are copied, so a topic deleted at its origin is not brought back
// from a copy, and the copies already made stay with what they hold.
// Origins of one name that disagree on the partition count are resolved the
// same way at every site: the copies take the largest count; a site's own
// origin is grown only when records from a larger origin are copied into
// it (see ensureTopic). It is logged and counted
// (meshwork_replicator_catalog_conflicts).
type catalogState struct {
	r     *Replicator
	log   *slog.Logger
	table *catalog.Table
	codec *catalog.Codec
	cl    *kgo.Client // follows _mesh.catalog
	m     catalogMetrics

	include, exclude []*regexp.Regexp

	ready   atomic.Bool
	changes chan struct{} // capacity 1: the catalog changed

	mu        sync.Mutex
	own       map[string]catalog.Entry // this site's entries, as published
	made      map[string]bool          // topics this replicator created here: copies
	conflicts map[string]string        // topic -> the conflict last logged
	stale     map[string]bool          // site NUL topic: stale origin entries logged
	lastScan  time.Time
}

type catalogMetrics struct {
	entries   prometheus.Gauge
	copies    prometheus.Counter
	conflicts prometheus.Gauge
	invalid   prometheus.Gauge
}

func newCatalogState(r *Replicator, reg prometheus.Registerer) (*catalogState, error) {
	codec, err := catalog.NewCodec()
	if err != nil {
		return nil, err
	}
	opts, err := r.clients.options(r.local.Kafka)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, kafkaclient.FollowOptions(catalog.Topic)...)...)
	if err != nil {
		return nil, fmt.Errorf("catalog: client to read %s: %w", catalog.Topic, err)
	}
	log := r.log.With("component", "catalog")
	s := &catalogState{
		r: r, log: log, table: catalog.NewTable(codec, log), codec: codec, cl: cl,
		changes: make(chan struct{}, 1),
		own:     map[string]catalog.Entry{}, made: map[string]bool{}, conflicts: map[string]string{}, stale: map[string]bool{},
	}
	for _, p := range r.cfg.Catalog.Include {
		s.include = append(s.include, regexp.MustCompile(`^(?:`+p+`)$`)) // checked by Validate
	}
	for _, p := range r.cfg.Catalog.Exclude {
		s.exclude = append(s.exclude, regexp.MustCompile(`^(?:`+p+`)$`))
	}
	labels := prometheus.Labels{"site": r.cfg.Site}
	opt := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "meshwork", Subsystem: "replicator", Name: name, Help: help, ConstLabels: labels}
	}
	s.m = catalogMetrics{
		entries:   prometheus.NewGauge(prometheus.GaugeOpts(opt("catalog_entries", "Entries in the mesh's topic catalog as this site holds it: every site's topics."))),
		copies:    prometheus.NewCounter(prometheus.CounterOpts(opt("catalog_copies_created_total", "Empty copies of other sites' topics created here."))),
		conflicts: prometheus.NewGauge(prometheus.GaugeOpts(opt("catalog_conflicts", "Topics whose origins disagree on the partition count (copies take the largest)."))),
		invalid:   prometheus.NewGauge(prometheus.GaugeOpts(opt("catalog_records_invalid", "Records of _mesh.catalog that are not valid entries and were ignored."))),
	}
	reg.MustRegister(s.m.entries, s.m.copies, s.m.conflicts, s.m.invalid)
	return s, nil
}

// run follows the catalog and scans the site's topics until ctx ends.
func (s *catalogState) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		kafkaclient.Follow(ctx, s.cl, catalog.Topic, s.log, s.apply, func() {
			s.log.Info("catalog: loaded", "entries", len(s.table.Entries()))
			s.mu.Lock()
			for t, e := range s.table.Of(s.r.cfg.Site) {
				s.own[t] = e
			}
			s.mu.Unlock()
			s.ready.Store(true)
			s.signal()
		})
	})
	tick := time.NewTicker(s.r.cfg.Catalog.ScanInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.ready.Load() {
			continue
		}
		if err := s.scan(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("catalog: scanning the site's topics failed; trying again", "error", err)
		}
	}
}

func (s *catalogState) close() { s.cl.Close() }

func (s *catalogState) apply(recs []*kgo.Record) {
	changed := false
	for _, r := range recs {
		if s.table.Apply(r) {
			changed = true
		}
	}
	s.m.entries.Set(float64(len(s.table.Entries())))
	s.m.invalid.Set(float64(s.table.Invalid()))
	if changed {
		s.signal()
	}
}

func (s *catalogState) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// changed receives a value after the catalog changed.
func (s *catalogState) changed() <-chan struct{} { return s.changes }

// copyTopic reports whether the site makes copies of topic.
func (s *catalogState) copyTopic(topic string) bool {
	if !s.r.cfg.Catalog.Materialize || !catalog.Catalogued(topic) {
		return false
	}
	for _, re := range s.exclude {
		if re.MatchString(topic) {
			return false
		}
	}
	if len(s.include) == 0 {
		return true
	}
	for _, re := range s.include {
		if re.MatchString(topic) {
			return true
		}
	}
	return false
}

// creating notes that this replicator is about to create topic here (a
// copy), before it does, so a scan never takes it for an origin; done says
// whether it was created.
func (s *catalogState) creating(topic string) (done func(created bool)) {
	s.mu.Lock()
	_, had := s.made[topic]
	s.made[topic] = true
	s.mu.Unlock()
	return func(created bool) {
		if !created && !had {
			s.mu.Lock()
			delete(s.made, topic)
			s.mu.Unlock()
		}
	}
}

// materialize creates here, empty, the topics other sites hold as their
// origin and this site does not hold, and grows the copies that have fewer
// partitions than the origins. They are created many to a request: a new
// site, or a site that joins a mesh of thousands of topics, makes them all
// in a few round trips.
func (s *catalogState) materialize(ctx context.Context) {
	if !s.ready.Load() {
		return
	}
	conflicts := 0
	wants := map[string]catalog.Entry{}
	var specs []kafkaclient.Topic
	all := s.origins()
	gone := s.goneAtOrigin(ctx, all)
	for topic, origins := range all {
		origins = slices.DeleteFunc(origins, func(e catalog.Entry) bool { return gone[e.Site][topic] })
		if len(origins) == 0 {
			continue
		}
		want := origins[0]
		for _, o := range origins[1:] {
			if o.Partitions > want.Partitions {
				want = o // the largest; on a tie, the first site by name
			}
		}
		if disagree(origins) {
			conflicts++
			s.logConflict(topic, origins, want)
		}
		if !s.copyTopic(topic) || want.Site == s.r.cfg.Site && len(origins) == 1 {
			continue
		}
		s.mu.Lock()
		mine, held := s.own[topic]
		s.mu.Unlock()
		if held && (mine.Role == catalog.RoleOrigin || mine.Partitions >= want.Partitions) {
			continue // this site's own topic is grown only when records need it
		}
		wants[topic] = want
		specs = append(specs, kafkaclient.Topic{
			Name: topic, Partitions: want.Partitions, ReplicationFactor: s.r.cfg.ReplicationFactor,
			Configs: want.Configs, Partitioning: kafkaclient.AtLeastPartitions, AwaitServed: true,
		})
	}
	s.m.conflicts.Set(float64(conflicts))
	slices.SortFunc(specs, func(a, b kafkaclient.Topic) int { return strings.Compare(a.Name, b.Name) })
	for batch := range slices.Chunk(specs, topicsPerRequest) {
		dones := make([]func(bool), len(batch))
		for i, t := range batch {
			dones[i] = s.creating(t.Name)
		}
		got, errs := kafkaclient.EnsureTopics(ctx, s.r.localCl, batch...)
		for i, t := range batch {
			g, err, want := got[t.Name], errs[t.Name], wants[t.Name]
			dones[i](err == nil && g.Created)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					s.log.Warn("catalog: cannot create a copy here", "topic", t.Name, "origin", want.Site, "error", err)
				}
				continue
			case g.Created:
				s.m.copies.Inc()
				s.log.Info("catalog: created an empty copy of another site's topic", "topic", t.Name, "origin", want.Site,
					"partitions", want.Partitions, "configs", len(want.Configs))
			case g.Grown > 0:
				s.log.Info("catalog: grew a copy to its origin's partitions", "topic", t.Name, "origin", want.Site,
					"from", g.Grown, "to", want.Partitions)
			}
			s.r.noteTopic(t.Name, max(g.Partitions, want.Partitions))
		}
	}
}

// goneAtOrigin returns, by site, the topics the catalog says that site
// holds as its origin, that would be new copies here, and that the site's
// cluster, asked just now, no longer holds. Such an entry is stale: the
// topic was deleted while the origin's replicator was away, and its
// tombstone comes with that replicator's next scan. A deleted topic is
// never brought back. Only the sites this one reads from are asked (the
// others' entries are trusted); a site that does not answer is trusted
// too, so a slow neighbour never holds new copies back.
func (s *catalogState) goneAtOrigin(ctx context.Context, all map[string][]catalog.Entry) map[string]map[string]bool {
	s.mu.Lock()
	ask := map[string][]string{}
	for topic, origins := range all {
		if _, held := s.own[topic]; held || !s.copyTopic(topic) {
			continue
		}
		for _, o := range origins {
			if o.Site != s.r.cfg.Site && s.r.remotes[o.Site] != nil {
				ask[o.Site] = append(ask[o.Site], topic)
			}
		}
	}
	s.mu.Unlock()
	gone := map[string]map[string]bool{}
	for site, topics := range ask {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		missing, err := kafkaclient.Missing(actx, s.r.remotes[site], topics...)
		cancel()
		if err != nil {
			continue
		}
		gone[site] = missing
		for topic := range missing {
			s.noteStale(site, topic)
		}
	}
	return gone
}

// noteStale logs, once per topic and site, that an origin entry is stale.
func (s *catalogState) noteStale(site, topic string) {
	s.mu.Lock()
	key := site + "\x00" + topic
	seen := s.stale[key]
	s.stale[key] = true
	s.mu.Unlock()
	if !seen {
		s.log.Info("catalog: not copying a topic its origin no longer holds (deleted while its replicator was away)",
			"topic", topic, "origin", site)
	}
}

// origins returns the catalog's origins by topic, of the sites of this
// mesh only: a topic of a site this replicator does not know (another
// mesh's replicator on a shared cluster, a site since removed) could never
// be copied here, and does not make a topic here a copy.
func (s *catalogState) origins() map[string][]catalog.Entry {
	mesh := s.r.topo.Sites()
	out := s.table.Origins()
	for topic, origins := range out {
		origins = slices.DeleteFunc(origins, func(e catalog.Entry) bool { return !slices.Contains(mesh, e.Site) })
		if len(origins) == 0 {
			delete(out, topic)
		} else {
			out[topic] = origins
		}
	}
	return out
}

// topicsPerRequest bounds the topics of one request to create topics or to
// read their configs.
const topicsPerRequest = 500

func disagree(origins []catalog.Entry) bool {
	for _, o := range origins[1:] {
		if o.Partitions != origins[0].Partitions {
			return true
		}
	}
	return false
}

// logConflict says, once per change, that origins of one name disagree.
func (s *catalogState) logConflict(topic string, origins []catalog.Entry, want catalog.Entry) {
	desc := ""
	for _, o := range origins {
		desc += fmt.Sprintf("%s:%d ", o.Site, o.Partitions)
	}
	s.mu.Lock()
	seen := s.conflicts[topic] == desc
	s.conflicts[topic] = desc
	s.mu.Unlock()
	if !seen {
		s.log.Warn("catalog: sites created the same topic with different partition counts; copies take the largest",
			"topic", topic, "origins", desc, "copies_have", want.Partitions)
	}
}

// scan publishes this site's entries: one per topic of the site, as its
// origin or as a copy, and a tombstone for each topic gone since.
func (s *catalogState) scan(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	td, err := s.r.localAdm.ListTopics(lctx)
	if err != nil {
		return fmt.Errorf("listing the site's topics: %w", err)
	}
	site, now := s.r.cfg.Site, time.Now()
	s.mu.Lock()
	own := make(map[string]catalog.Entry, len(s.own))
	for t, e := range s.own {
		own[t] = e
	}
	s.mu.Unlock()
	origins := s.origins()
	refreshConfigs := now.Sub(s.lastScan) > configRefresh
	var recs []*kgo.Record
	var readConfigs []string
	next := map[string]catalog.Entry{}
	for _, d := range td {
		n := int32(len(d.Partitions))
		if d.Err != nil {
			// A topic the site could not describe now (being created or
			// deleted, its leader moving) stays as published, neither
			// changed nor taken for gone.
			if old, known := own[d.Topic]; known {
				next[d.Topic] = old
			}
			continue
		}
		if d.IsInternal || n == 0 || !catalog.Catalogued(d.Topic) {
			continue
		}
		old, known := own[d.Topic]
		e := catalog.Entry{Site: site, Topic: d.Topic, Role: old.Role, Partitions: n, Configs: old.Configs, Updated: now}
		switch {
		case !known:
			e.Role = s.roleOf(lctx, d.Topic, origins)
		case old.Role == catalog.RoleOrigin && larger(origins[d.Topic], site, n) && s.empty(lctx, d.Topic):
			// Published as an origin before the larger origin elsewhere was
			// known here, and still empty: what a consumer's auto-creation
			// left. It becomes a copy, and is grown.
			e.Role = catalog.RoleCopy
			s.log.Info("catalog: an empty topic of this site is a copy of a larger origin elsewhere", "topic", d.Topic, "partitions", n)
		}
		if !known || refreshConfigs && e.Role == catalog.RoleOrigin {
			readConfigs = append(readConfigs, d.Topic)
		}
		next[d.Topic] = e
	}
	for batch := range slices.Chunk(readConfigs, topicsPerRequest) {
		cfgs, err := mirroredConfigs(lctx, s.r.localAdm, batch...)
		if err != nil {
			s.log.Warn("catalog: cannot read the configs of some topics; publishing them without for now", "error", err)
		}
		for _, t := range batch {
			if c, ok := cfgs[t]; ok { // else: as published before, if at all
				e := next[t]
				e.Configs = c
				next[t] = e
			}
		}
	}
	for t, e := range next {
		if old, known := own[t]; known && old.Same(e) {
			next[t] = old
			continue
		}
		r, err := s.codec.Record(e)
		if err != nil {
			s.log.Warn("catalog: cannot publish a topic", "topic", t, "error", err)
			continue
		}
		recs = append(recs, r)
	}
	for t := range own {
		if _, ok := next[t]; !ok {
			recs = append(recs, catalog.Tombstone(site, t))
			s.log.Info("catalog: a topic of this site is gone", "topic", t, "role", own[t].Role)
		}
	}
	if refreshConfigs {
		s.lastScan = now
	}
	if len(recs) > 0 {
		if err := s.r.localCl.ProduceSync(lctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("publishing %d catalog records: %w", len(recs), err)
		}
	}
	s.mu.Lock()
	s.own = next
	s.mu.Unlock()
	return nil
}

// larger reports whether a site other than site holds topic as its origin
// with more than n partitions.
func larger(origins []catalog.Entry, site string, n int32) bool {
	for _, o := range origins {
		if o.Site != site && o.Partitions > n {
			return true
		}
	}
	return false
}

// configRefresh is how often a scan reads the configs of the site's own
// topics again, for copies elsewhere to be created with the latest.
const configRefresh = 5 * time.Minute

// roleOf decides the role of a topic this site holds and has not
// published yet.
func (s *catalogState) roleOf(ctx context.Context, topic string, origins map[string][]catalog.Entry) catalog.Role {
	s.mu.Lock()
	made := s.made[topic]
	s.mu.Unlock()
	if made {
		return catalog.RoleCopy
	}
	others := false
	for _, o := range origins[topic] {
		if o.Site != s.r.cfg.Site {
			others = true
		}
	}
	if !others {
		return catalog.RoleOrigin
	}
	// Another site's topic that exists here without this replicator: a
	// consumer's metadata request may have had the broker create it. Empty,
	// it is adopted as a copy (and grown to the origin's partitions).
	if s.empty(ctx, topic) {
		s.log.Info("catalog: an empty topic another site holds as its origin is taken as a copy here", "topic", topic)
		return catalog.RoleCopy
	}
	return catalog.RoleOrigin
}

// empty reports whether topic holds no record here (false when it cannot
// tell).
func (s *catalogState) empty(ctx context.Context, topic string) bool {
	ends, err := s.r.localAdm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false
	}
	empty := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset > 0 {
			empty = false
		}
	})
	return empty
}

// ensureTopic creates the catalog topic at the site.
func (s *catalogState) ensureTopic(ctx context.Context) error {
	return catalog.EnsureTopic(ctx, s.r.localCl)
}
