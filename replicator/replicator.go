package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/meshwork/meshwork/catalog"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/retry"
	"github.com/meshwork/meshwork/replicator/topology"
	"github.com/meshwork/meshwork/trace"
)

// System topics the replicator carries besides the topics of interest.
const (
	// SchemasTopic is the schema registry's log: copied from the primary
	// site to every site, so schema ids are the same everywhere.
	SchemasTopic = "_schemas"
	// TraceTopic holds trace hops; every site receives every site's, so
	// one event's path can be followed from any of them.
	TraceTopic = "_mesh.trace"
)

// Replicator copies into one site the records of the topics that site (or a
// site that reads through it) is interested in, from the other sites. It is
// a service.Service: New, Start, Ready, Close.
type Replicator struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	topo    *topology.Topology
	local   Site
	clients clients

	localCl  *kgo.Client
	localAdm *kadm.Client
	admins   map[string]*kadm.Client // the other sites'
	remotes  map[string]*kgo.Client  // the other sites', under admins
	cps      *checkpoints
	cpsCl    *kgo.Client
	dlq      *dlq.Writer // creates the dead-letter topics the flows write
	refusals *refusalLog
	deps     map[string]*flowDeps // per source site: what its flows use
	interest *interestState
	catalog  *catalogState
	trace    *trace.Recorder // writes REPLICATED hops; nil when tracing is off
	slots    *slotGroup
	links    linkStates // the last look at each source site
	mesh     *meshWatch // nil without a mesh file

	mu      sync.Mutex
	flows   map[flowKey]*running
	created map[string]int32            // topics known to exist here, with their partition count
	sources map[string]map[string]int32 // per other site: its topics and partition counts, as last seen

	planned atomic.Bool // the first plan ran
	kick    chan struct{}

	stop context.CancelFunc // ends the work Start began
	done chan struct{}      // closed when that work has ended
}

// running is a started flow. Its plan (the units it copies) changes while
// it runs: apply hands it a new one with replan, and the flow takes it in
// between two batches, adding and removing partitions of its consumer
// without stopping. The flow's other units, its producers and its open
// fetches go on, so a change of interest in one topic never pauses the
// copying of another.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	units   map[unit]route
	copying map[unit]route     // the units the flow took in last
	version int                // of units: each replan adds one
	pollCtx context.Context    // the flow's current poll; nil before the first
	wake    context.CancelFunc // ends pollCtx

	// failingSince is when the flow last failed with no commit since
	// (Unix nanoseconds; 0: it commits), and lastErr why: a flow failing
	// longer than flow.failing_after makes the replicator not ready.
	failingSince atomic.Int64
	lastErr      atomic.Pointer[error]
	// heard is when the source last answered the flow (across restarts).
	heard *heard
}

// failed notes that the flow failed with err, and reports whether it was
// committing until then.
func (f *running) failed(err error) bool {
	f.lastErr.Store(&err)
	return f.failingSince.CompareAndSwap(0, time.Now().UnixNano())
}

// committed notes that the flow committed a batch: if it was failing, it
// is not any more, and failing (the flows failing) counts one fewer.
func (f *running) committed(failing prometheus.Gauge) {
	if f.failingSince.Load() != 0 && f.failingSince.Swap(0) != 0 {
		failing.Dec()
	}
}

// failing returns how long the flow has been failing, and the last error.
func (f *running) failing() (time.Duration, error) {
	since := f.failingSince.Load()
	if since == 0 {
		return 0, nil
	}
	var err error
	if e := f.lastErr.Load(); e != nil {
		err = *e
	}
	return time.Since(time.Unix(0, since)), err
}

// replan gives the flow new units and wakes it from a poll that waits for
// records, so that it takes them at once.
func (f *running) replan(units map[unit]route) {
	f.mu.Lock()
	f.units, f.version = units, f.version+1
	wake := f.wake
	f.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// plan returns the flow's units, their version and the context of its next
// poll, which ends when the units change after this call.
func (f *running) plan(ctx context.Context) (map[unit]route, int, context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pollCtx == nil || f.pollCtx.Err() != nil {
		f.pollCtx, f.wake = context.WithCancel(ctx)
	}
	return f.units, f.version, f.pollCtx
}

// took notes that the flow copies units now.
func (f *running) took(units map[unit]route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copying = units
}

// copied returns the units the flow copies now.
func (f *running) copied() map[unit]route {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copying
}

// planned returns the units the flow is to copy.
func (f *running) planned() map[unit]route {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.units
}

// New builds the replicator of cfg.Site, which it validates. extra options
// go to every Kafka client.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer, extra ...kgo.Opt) (*Replicator, error) {
	cfg, err := cfg.withMesh()
	if err != nil {
		return nil, fmt.Errorf("replicator config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("replicator config: %w", err)
	}
	topo, err := cfg.topology()
	if err != nil {
		return nil, err
	}
	local, _ := cfg.site(cfg.Site)
	r := &Replicator{
		cfg: cfg, log: logger, m: newMetrics(reg, cfg.Site), topo: topo, local: local,
		clients: clients{site: cfg.Site, extra: extra},
		admins:  map[string]*kadm.Client{}, remotes: map[string]*kgo.Client{}, deps: map[string]*flowDeps{},
		flows: map[flowKey]*running{}, created: map[string]int32{}, sources: map[string]map[string]int32{},
		kick: make(chan struct{}, 1),
	}
	if r.localCl, err = r.clients.new(local.Kafka); err != nil {
		return nil, err
	}
	r.localAdm = kadm.NewClient(r.localCl)
	if r.trace, err = trace.NewRecorder(r.localCl, cfg.Site, "replicator/"+cfg.Site, cfg.Trace, logger, reg); err != nil {
		r.close()
		return nil, err
	}
	for _, n := range topo.Neighbors(cfg.Site) {
		s, _ := cfg.site(n)
		cl, err := r.clients.new(s.Kafka)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("site %s: %w", n, err)
		}
		r.remotes[n] = cl
		r.admins[n] = kadm.NewClient(cl)
	}
	if r.cpsCl, err = r.clients.new(local.Kafka,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{CheckpointTopic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	); err != nil {
		r.close()
		return nil, err
	}
	r.cps = newCheckpoints(r.cpsCl, r.localAdm, logger)
	r.dlq = dlq.NewWriter(r.localCl)
	r.refusals = newRefusalLog(logger)
	for _, n := range topo.Neighbors(cfg.Site) {
		r.deps[n] = r.newFlowDeps(n)
	}
	if r.interest, err = newInterestState(r, reg); err != nil {
		r.close()
		return nil, err
	}
	if r.catalog, err = newCatalogState(r, reg); err != nil {
		r.close()
		return nil, err
	}
	if r.slots, err = newSlotGroup(r); err != nil {
		r.close()
		return nil, err
	}
	if cfg.MeshFile != "" {
		if r.mesh, err = newMeshWatch(r, reg); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

// close stops and closes what New built, whether the replicator ran or not.
func (r *Replicator) close() {
	if r.interest != nil {
		r.interest.close() // before localCl, which its publisher writes with
	}
	if r.catalog != nil {
		r.catalog.close()
	}
	if r.slots != nil {
		r.slots.cl.Close()
	}
	if r.cpsCl != nil {
		r.cpsCl.Close()
	}
	for _, a := range r.admins {
		a.Close()
	}
	if r.trace != nil { // before localCl, which it writes with
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.trace.Close(ctx); err != nil {
			r.log.Warn("replicator: trace hops not written at shutdown", "error", err)
		}
		cancel()
	}
	if r.localCl != nil {
		r.localCl.Close()
	}
}

// admin returns the admin client of another site.
func (r *Replicator) admin(site string) *kadm.Client { return r.admins[site] }

// newFlowDeps gathers what the flows from source use.
func (r *Replicator) newFlowDeps(source string) *flowDeps {
	s, _ := r.cfg.site(source)
	d := &flowDeps{
		site: r.cfg.Site, mode: r.cfg.Mode, cfg: r.cfg.Flow,
		accept: r.topo.Accept, known: r.topo.Has, cps: r.cps, m: &r.m.flowMetrics,
		clients:  flowClients{clients: r.clients, local: r.local.Kafka, source: s.Kafka, flow: r.cfg.Flow},
		admin:    r.admin(source),
		localAdm: r.localAdm,
		dlq:      r.dlq,
		refusals: r.refusals,
		trace:    r.trace,
		log:      r.log.With("from", source),
	}
	if l := r.cfg.Flow.BandwidthLimit; l > 0 {
		d.limiter = rate.NewLimiter(rate.Limit(l), int(max(l, int64(r.cfg.Flow.MaxBatchBytes))))
	}
	return d
}

// Start creates the topics the replicator writes at its site, waiting out
// a cluster that does not answer yet (a topic it cannot use fails the
// start), then follows the mesh's interest and copies until Close.
func (r *Replicator) Start(ctx context.Context) error {
	err := retry.Until(ctx, 10*time.Second, func() error {
		err := r.ensureSystemTopics(ctx)
		if permanent(err) {
			return retry.Permanent(err)
		}
		return err
	}, func(err error, attempt int, wait time.Duration) {
		r.log.Warn("replicator: cannot set up the site's topics yet; trying again", "attempt", attempt, "in", wait, "error", err)
	})
	if err != nil {
		return err
	}
	if err := r.interest.start(); err != nil {
		return err
	}
	life, stop := context.WithCancel(context.Background())
	r.stop, r.done = stop, make(chan struct{})
	r.trace.Start(life)
	go func() {
		defer close(r.done)
		r.run(life)
	}()
	return nil
}

// permanent reports whether trying again cannot mend err: a topic that is
// not as the replicator needs it, or a refusal Kafka says is final (an
// authorization failure, say).
func permanent(err error) bool {
	var ke *kerr.Error
	return errors.Is(err, kafkaclient.ErrTopicMismatch) || errors.As(err, &ke) && !ke.Retriable
}

// Close stops every flow (each finishes or aborts its transaction) and
// closes the clients, waiting at most until ctx ends.
func (r *Replicator) Close(ctx context.Context) error {
	if r.done == nil { // never started
		r.close()
		return nil
	}
	r.stop()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("replicator: flows still stopping: %w", ctx.Err())
	}
}

// run copies until ctx ends, then stops every flow and closes the clients.
func (r *Replicator) run(ctx context.Context) {
	defer r.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.interest.run(ctx) })
	wg.Go(func() { r.catalog.run(ctx) })
	wg.Go(func() { r.slots.run(ctx) })
	if r.mesh != nil {
		wg.Go(func() { r.mesh.run(ctx) })
	}
	defer r.stopFlows()

	tick := time.NewTicker(r.cfg.Flow.PlanInterval)
	defer tick.Stop()
	for {
		if r.interest.ready() && r.slots.ready() {
			if err := r.plan(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("replicator: planning failed; trying again", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.kick:
		case <-r.interest.changed():
		case <-r.catalog.changed():
		}
	}
}

// Ready reports whether the replicator has read its site's interest and
// started the flows it asks for, and none of them has been failing (each
// attempt ending in an error, no commit in between) for longer than
// flow.failing_after.
func (r *Replicator) Ready(context.Context) error {
	if !r.planned.Load() {
		return errors.New("replicator: interest not read yet")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, f := range r.flows {
		if d, err := f.failing(); d > r.cfg.Flow.FailingAfter {
			return fmt.Errorf("replicator: the flow from %s (slot %d) has been failing for %s, restarting with backoff: %w",
				k.Source, k.Slot, d.Round(time.Second), err)
		}
		if d := f.heard.silence(); d > r.cfg.Flow.SilentAfter && len(f.planned()) > 0 {
			return fmt.Errorf("replicator: site %s has not answered the flow of slot %d for %s (partitioned or down?); "+
				"it resumes by itself once the site answers", k.Source, k.Slot, d.Round(100*time.Millisecond))
		}
	}
	return nil
}

// ensureSystemTopics creates the topics the replicator itself writes at
// its site.
func (r *Replicator) ensureSystemTopics(ctx context.Context) error {
	if err := r.ensureCheckpointTopic(ctx); err != nil {
		return err
	}
	if err := r.ensureSlotsTopic(ctx); err != nil {
		return err
	}
	if err := r.catalog.ensureTopic(ctx); err != nil {
		return err
	}
	return r.interest.ensureTopic(ctx)
}

// plan works out the flows this site needs and starts and stops flows to
// match.
func (r *Replicator) plan(ctx context.Context) error {
	r.catalog.materialize(ctx)
	r.refreshSources(ctx)
	var known []string
	r.mu.Lock()
	for _, ts := range r.sources {
		for t := range ts {
			known = append(known, t)
		}
	}
	r.mu.Unlock()
	wants, starts := r.interest.resolve(known)
	for site, n := range countBySite(wants) {
		r.m.interest.WithLabelValues(site).Set(float64(n))
	}
	// The mesh's own topics go everywhere.
	all := r.topo.Sites()
	wants[r.interest.topic()] = all
	wants[catalog.Topic] = all
	wants[TraceTopic] = all
	if r.cfg.SchemasPrimary != "" {
		wants[SchemasTopic] = all
	}

	desired := map[flowKey]map[unit]route{}
	for _, p := range r.topo.Plan(r.cfg.Site, wants) {
		r.mu.Lock()
		n, ok := r.sources[p.From][p.Topic]
		r.mu.Unlock()
		if !ok {
			continue // not (yet) at that site
		}
		origins := p.Origins
		if p.Topic == SchemasTopic {
			// Only the primary's registry writes schemas: a stray local
			// _schemas elsewhere must never spread.
			if !slices.Contains(origins, r.cfg.SchemasPrimary) {
				continue
			}
			origins = []string{r.cfg.SchemasPrimary}
		}
		if err := r.ensureTopic(ctx, p.From, p.Topic, n); err != nil {
			r.log.Warn("replicator: cannot create topic here; not copying it", "topic", p.Topic, "from", p.From, "error", err)
			continue
		}
		for part := range n {
			k := flowKey{Source: p.From, Slot: slotOf(p.Topic, part, r.cfg.Flow.Slots)}
			if !r.slots.owns(k.Slot) {
				continue // another replica's
			}
			if desired[k] == nil {
				desired[k] = map[unit]route{}
			}
			desired[k][unit{Source: p.From, Topic: p.Topic, Partition: part}] = route{Origins: origins, Start: starts[p.Topic]}
		}
	}
	r.apply(ctx, desired)
	r.planned.Store(true)
	return nil
}

func countBySite(wants map[string][]string) map[string]int {
	n := map[string]int{}
	for _, sites := range wants {
		for _, s := range sites {
			n[s]++
		}
	}
	return n
}

// refreshSources looks at the topics of every site this one reads from. A
// site that does not answer keeps its last known topics, so its flows go
// on (and catch up when it returns) and the others are not held up.
func (r *Replicator) refreshSources(ctx context.Context) {
	var wg sync.WaitGroup
	for site, adm := range r.admins {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			td, err := adm.ListTopics(lctx)
			r.links.set(site, err)
			if err != nil {
				r.m.siteUp.WithLabelValues(site).Set(0)
				r.log.Warn("replicator: site does not answer; keeping its flows as they are", "of_site", site, "error", err)
				return
			}
			r.m.siteUp.WithLabelValues(site).Set(1)
			r.mu.Lock()
			defer r.mu.Unlock()
			before := r.sources[site]
			ts := map[string]int32{}
			for _, t := range td {
				switch {
				case t.Err != nil:
					// One topic the site could not describe (being created
					// or deleted, its leader moving) keeps what was known
					// of it; the others are not held up.
					if n, ok := before[t.Topic]; ok {
						ts[t.Topic] = n
					}
				case !t.IsInternal && len(t.Partitions) > 0:
					ts[t.Topic] = int32(len(t.Partitions))
				}
			}
			r.sources[site] = ts
		})
	}
	wg.Wait()
}

// apply starts and stops flows, and changes the units of running ones, so
// that the flows are as desired.
func (r *Replicator) apply(ctx context.Context, desired map[flowKey]map[unit]route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, f := range r.flows {
		d, ok := desired[k]
		before := f.planned()
		switch {
		case !ok:
			f.cancel()
			<-f.done
			delete(r.flows, k)
			r.logUnits("replicator: flow stops", k, before, nil)
		case !sameUnits(d, before):
			r.logUnits("replicator: flow changes", k, before, d)
			f.replan(d)
		}
	}
	for k, units := range desired {
		if _, ok := r.flows[k]; ok {
			continue
		}
		fctx, cancel := context.WithCancel(ctx)
		f := &running{units: units, cancel: cancel, done: make(chan struct{}), heard: newHeard()}
		r.flows[k] = f
		go r.supervise(fctx, k, f)
	}
	perSource := map[string][2]int{}
	for k, f := range r.flows {
		c := perSource[k.Source]
		perSource[k.Source] = [2]int{c[0] + 1, c[1] + len(f.planned())}
	}
	for _, s := range r.topo.Neighbors(r.cfg.Site) {
		r.m.flows.WithLabelValues(s).Set(float64(perSource[s][0]))
		r.m.units.WithLabelValues(s).Set(float64(perSource[s][1]))
	}
}

// logUnits says which topics a flow change starts or stops copying, and why.
func (r *Replicator) logUnits(msg string, k flowKey, before, after map[unit]route) {
	var stopped []string
	for u := range before {
		if _, ok := after[u]; !ok {
			stopped = append(stopped, u.String())
		}
	}
	if len(stopped) > 0 {
		r.log.Info(msg, "from", k.Source, "slot", k.Slot, "stopped_units", stopped, "reason", "no interest left at this site or the sites it serves")
	}
}

// Waits before a failed flow starts again: they grow from
// restartFirst to restartMax (see retry.Backoff).
const (
	restartFirst = 200 * time.Millisecond
	restartMax   = 5 * time.Second
)

// supervise runs a flow until its context ends, restarting it after
// errors with backoff.
func (r *Replicator) supervise(ctx context.Context, k flowKey, f *running) {
	defer close(f.done)
	d := r.deps[k.Source]
	failing := r.m.failing.WithLabelValues(k.Source)
	defer f.committed(failing) // a stopped flow fails no more
	log := d.log.With("slot", k.Slot)
	backoff := retry.Backoff(restartMax)
	backoff.InitialInterval = restartFirst
	for {
		fl := &flow{d: d, key: k, plan: f, log: log}
		err := fl.run(ctx)
		if ctx.Err() != nil {
			return
		}
		r.m.restarts.WithLabelValues(k.Source).Inc()
		if f.failed(err) {
			failing.Inc()
		}
		wait := backoff.NextBackOff()
		log.Warn("replicator: flow failed; restarting from its checkpoints", "error", err, "in", wait)
		if !retry.Sleep(ctx, wait) {
			return
		}
	}
}

// Copying is one topic this replicator copies from one site.
type Copying struct {
	From       string  `json:"from"`
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// Copying lists what the running flows copy, by source site and topic.
func (r *Replicator) Copying() []Copying {
	r.mu.Lock()
	byKey := map[[2]string][]int32{}
	for _, f := range r.flows {
		for u := range f.copied() {
			k := [2]string{u.Source, u.Topic}
			byKey[k] = append(byKey[k], u.Partition)
		}
	}
	r.mu.Unlock()
	out := make([]Copying, 0, len(byKey))
	for k, ps := range byKey {
		slices.Sort(ps)
		out = append(out, Copying{From: k[0], Topic: k[1], Partitions: ps})
	}
	slices.SortFunc(out, func(a, b Copying) int {
		if a.From != b.From {
			return strings.Compare(a.From, b.From)
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	return out
}

// copying reports whether a running flow copies topic.
func (r *Replicator) copying(topic string) bool {
	for _, c := range r.Copying() {
		if c.Topic == topic {
			return true
		}
	}
	return false
}

// stopSlots stops the flows of slots this replica no longer owns.
func (r *Replicator) stopSlots(slots []int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, f := range r.flows {
		if slices.Contains(slots, int32(k.Slot)) {
			f.cancel()
			<-f.done
			delete(r.flows, k)
		}
	}
}

func (r *Replicator) stopFlows() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, f := range r.flows {
		f.cancel()
		<-f.done
		delete(r.flows, k)
	}
}
