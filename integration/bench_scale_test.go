package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkReplicatorScale measures how mesh-replicator's cost grows with the
// number of topics in the mesh while interest changes all the time, on three
// real Kafka clusters (east, west, north), and MirrorMaker 2 on the same
// work where it applies.
//
// For each size T (MESH_BENCH_SCALE_TOPICS, default 500,1000,2000) a run
// creates T topics at east (one or two partitions, alternately), each with
// one record, and four steady topics that a producer feeds at 100 records/s
// each for the whole run. A replicator runs for each site with its default
// settings (no interest declared, discovery every 5 s, the topic catalog
// on), so west and north make empty copies of all T+4 topics; a franz-go
// group at west reads the steady topics throughout. The steady stream runs
// alone for 30 s first (the quiet-* figures: what the machine and the
// brokers cost it without any change). Then, for
// MESH_BENCH_SCALE_FOR (default 2m), interest changes 100 times a minute:
// every 0.6 s a new franz-go group starts on a topic not read before, at west
// and north in turn, or, once ten are live, the oldest that had its first
// record stops and is deleted. Reported:
//
//   - materialize-s: from the replicators' start until west and north hold
//     every topic (empty copies made from the catalog);
//   - ttfr-p50-ms, ttfr-p99-ms: from a group's start to its first record
//     (the one copied from east), over the groups started; misses counts
//     the groups that had none within a minute (they count as a minute);
//     after-join-p50-ms, after-join-p99-ms: from the group's first
//     assignment to its first record, the part the client's own joining
//     does not account for;
//   - max-gap-ms, gaps-over-100ms: the copy gaps of west's replicator
//     during the changes (meshwork_replicator_copy_gap_seconds: time between
//     consecutive commits of a partition whose records were waiting: the
//     pauses of the steady topics' flows), as the upper bound of the highest
//     bucket that has any, and how many were over 100 ms;
//   - arrival-gap-max-ms: the same seen from outside, the longest time
//     between two consecutive records of a steady partition arriving at the
//     group at west (fed every 10 ms);
//   - rss-MiB, idle-cpu-%: after the changes and the steady feed stopped
//     and the ended interests expired, the largest resident set of the three
//     replicators, and the most CPU any of them used over 30 s, in percent of
//     a core; per-1000-topics: both divided by T/1000.
//
// MirrorMaker 2 (dedicated mode, at west, copying every topic of the run
// from east with a task per core and refresh.topics.interval.seconds=5, as
// it would never see a new topic within the run at its default of ten
// minutes) has no notion of interest: it copies all T topics. Its changes
// are new topics: every 0.6 s a topic is created at east with one record,
// and ttfr is the time until that record is at west. The steady topics'
// arrival gaps show what its task reconfigurations on each change of the
// topic list cost the topics that did not change; rss-MiB and idle-cpu-% are
// the JVM's.
//
// MESH_BENCH_LOGS=DIR keeps the replicators' logs (from info on) there.
// Every run deletes its topics (and copies) at every cluster when it ends.
// Run it with `make bench-scale` (after `make services-up`), or:
//
//	. .e2e/env.sh && cd integration && go test -run '^$' \
//	    -bench ReplicatorScale -benchtime 1x -timeout 2h .
func BenchmarkReplicatorScale(b *testing.B) {
	s := &scaleBench{
		sites: map[string]string{
			"east":  benchEnv(b, "MESH_E2E_KAFKA_EAST"),
			"west":  benchEnv(b, "MESH_E2E_KAFKA_WEST"),
			"north": benchEnv(b, "MESH_E2E_KAFKA_NORTH"),
		},
		kafkaClass: benchEnv(b, "MESH_E2E_KAFKA_CLASS"),
		window:     2 * time.Minute,
	}
	if v := os.Getenv("MESH_BENCH_SCALE_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			b.Fatalf("MESH_BENCH_SCALE_FOR=%q: want a duration of at least 10s", v)
		}
		s.window = d
	}
	sizes := []int{500, 1000, 2000}
	if v := os.Getenv("MESH_BENCH_SCALE_TOPICS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 20 {
				b.Fatalf("MESH_BENCH_SCALE_TOPICS=%q: want topic counts of at least 20, separated by commas", v)
			}
			sizes = append(sizes, n)
		}
	}
	s.bin = buildBinary(b, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	for _, tool := range []string{"meshwork", "mirrormaker2"} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/topics=%d", tool, n), func(b *testing.B) {
				for range b.N {
					s.run(b, tool, n)
				}
			})
		}
	}
}

const (
	scaleSteady      = 4                      // steady topics, one partition each
	scaleSteadyEvery = 10 * time.Millisecond  // a record to each steady topic
	scaleChangeEvery = 600 * time.Millisecond // 100 changes a minute
	scaleLiveGroups  = 10                     // churn groups alive at once
	scaleFirstWait   = time.Minute            // a group without a record by then is a miss
	scaleIdleFor     = 30 * time.Second
	scaleQuietFor    = 30 * time.Second // the steady stream without changes
)

type scaleBench struct {
	sites      map[string]string
	kafkaClass string
	bin        string
	window     time.Duration
}

// scaleRun is one run's state.
type scaleRun struct {
	*scaleBench
	b      *testing.B
	n      int
	prefix string
	adm    map[string]*kadm.Client
}

func (s *scaleBench) run(b *testing.B, tool string, n int) {
	r := &scaleRun{scaleBench: s, b: b, n: n, prefix: fmt.Sprintf("scale%d.", time.Now().UnixNano()%1e9), adm: map[string]*kadm.Client{}}
	for site, broker := range s.sites {
		r.adm[site] = kadm.NewClient(benchClient(b, broker))
	}
	b.Cleanup(r.clean)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	r.createTopics(ctx)
	b.ResetTimer()
	if tool == "meshwork" {
		r.meshwork(ctx)
	} else {
		r.mirrorMaker(ctx)
	}
	b.StopTimer()
}

func (r *scaleRun) topic(i int) string  { return fmt.Sprintf("%st%05d", r.prefix, i) }
func (r *scaleRun) steady(i int) string { return fmt.Sprintf("%ssteady%d", r.prefix, i) }

// createTopics makes the run's topics at east, each with a record.
func (r *scaleRun) createTopics(ctx context.Context) {
	byParts := map[int32][]string{}
	for i := range r.n {
		byParts[int32(1+i%2)] = append(byParts[int32(1+i%2)], r.topic(i))
	}
	for i := range scaleSteady {
		byParts[1] = append(byParts[1], r.steady(i))
	}
	for parts, topics := range byParts {
		for batch := range slices.Chunk(topics, 500) {
			res, err := r.adm["east"].CreateTopics(ctx, parts, 1, nil, batch...)
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				r.b.Fatalf("creating %d topics at east: %v", len(batch), err)
			}
		}
	}
	// Every topic gets its record, or the run stops: a topic created a
	// moment ago may not be served yet (its produce fails with
	// UNKNOWN_TOPIC_OR_PARTITION once the client's retries are spent), and
	// a group on a topic without its record would count as a miss of the
	// replicator's.
	prod := benchClient(r.b, r.sites["east"], kgo.RecordPartitioner(kgo.ManualPartitioner()))
	todo := make([]string, r.n)
	for i := range r.n {
		todo[i] = r.topic(i)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(todo) > 0 {
		var (
			mu     sync.Mutex
			failed []string
			last   error
		)
		for _, t := range todo {
			prod.Produce(ctx, &kgo.Record{Topic: t, Value: []byte("first")}, func(rec *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed, last = append(failed, rec.Topic), err
					mu.Unlock()
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			r.b.Fatal(err)
		}
		if len(failed) > 0 && time.Now().After(deadline) {
			r.b.Fatalf("the first record of %d topics at east could not be written: %v", len(failed), last)
		}
		todo = failed
	}
}

// clean deletes every topic of the run at every site, and its groups.
func (r *scaleRun) clean() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for site, adm := range r.adm {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			r.b.Errorf("list topics at %s: %v", site, err)
			continue
		}
		var mine []string
		for _, t := range td.Names() {
			if strings.HasPrefix(t, r.prefix) || mm2Internal(t) {
				mine = append(mine, t)
			}
		}
		for batch := range slices.Chunk(mine, 500) {
			deleteTopics(ctx, r.b, adm, batch...)
		}
		if gs, err := adm.ListGroups(ctx); err == nil {
			var groups []string
			for _, g := range gs.Groups() {
				if strings.HasPrefix(g, r.prefix) || g == "east-mm2" {
					groups = append(groups, g)
				}
			}
			if len(groups) > 0 {
				_, _ = adm.DeleteGroups(ctx, groups...)
			}
		}
	}
}

// replicatorConfig is the YAML of site's replicator: every default but the
// listen address and a log that keeps warnings only (everything from info
// on with MESH_BENCH_LOGS=DIR, where the logs are kept).
func (r *scaleRun) replicatorConfig(site string, port int) string {
	level := "warn"
	if os.Getenv("MESH_BENCH_LOGS") != "" {
		level = "info"
	}
	var sites strings.Builder
	for _, name := range []string{"east", "west", "north"} {
		fmt.Fprintf(&sites, "  - name: %s\n    kafka: {brokers: [%q]}\n", name, r.sites[name])
	}
	return fmt.Sprintf("site: %s\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\nsites:\n%slog: {level: %s}\n",
		site, port, r.sites[site], sites.String(), level)
}

func (r *scaleRun) meshwork(ctx context.Context) {
	b := r.b
	ports := freePorts(b, 3)
	procs := map[string]*benchProc{}
	metrics := map[string]string{}
	start := time.Now()
	for i, site := range []string{"east", "west", "north"} {
		path := filepath.Join(b.TempDir(), site+".yaml")
		if err := os.WriteFile(path, []byte(r.replicatorConfig(site, ports[i])), 0o644); err != nil {
			b.Fatal(err)
		}
		p := startBenchProc(b, "mesh-replicator", exec.Command(r.bin, "-config", path))
		procs[site] = p
		metrics[site] = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[i])
		defer func() {
			p.stop(b)
			if dir := os.Getenv("MESH_BENCH_LOGS"); dir != "" {
				if data, err := os.ReadFile(p.log); err == nil {
					_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("replicator-%s-%d.log", site, r.n)), data, 0o644)
				}
			}
		}()
	}
	for _, site := range []string{"west", "north"} {
		r.awaitTopics(ctx, site, procs[site])
	}
	b.ReportMetric(time.Since(start).Seconds(), "materialize-s")

	steadyCtx, stopSteady := context.WithCancel(ctx)
	arrivals := r.steadyStream(steadyCtx, "west", true)

	// First the steady stream alone, for what the machine and the brokers
	// cost it without any change of interest.
	before := gapBuckets(b, metrics["west"])
	time.Sleep(scaleQuietFor) // the quiet phase's span
	quiet := subtractBuckets(gapBuckets(b, metrics["west"]), before)
	quietMax, quietOver := gapSummary(quiet)
	b.ReportMetric(quietMax*1000, "quiet-max-gap-ms")
	b.ReportMetric(quietOver, "quiet-gaps-over-100ms")
	b.ReportMetric(ms(arrivals()), "quiet-arrival-gap-max-ms")

	before = gapBuckets(b, metrics["west"])
	ttfr, afterJoin, misses := r.churnGroups(ctx)
	gaps := subtractBuckets(gapBuckets(b, metrics["west"]), before)
	arrivalGap := arrivals()
	stopSteady()
	r.reportTTFR(ttfr, misses)
	slices.Sort(afterJoin)
	if len(afterJoin) > 0 {
		b.ReportMetric(ms(quantile(afterJoin, 0.5)), "after-join-p50-ms")
		b.ReportMetric(ms(quantile(afterJoin, 0.99)), "after-join-p99-ms")
	}
	maxGap, over := gapSummary(gaps)
	b.ReportMetric(maxGap*1000, "max-gap-ms")
	b.ReportMetric(over, "gaps-over-100ms")
	b.ReportMetric(ms(arrivalGap), "arrival-gap-max-ms")

	// Idle: no feed, no changes; the leases of the groups that ended
	// expire (30 s) and their flows shrink first.
	time.Sleep(45 * time.Second) // letting the ended interests expire, a fixed span of the measurement
	var pids []int
	var names []string
	for site, p := range procs {
		if err := p.exited(); err != nil {
			b.Fatal(err)
		}
		pids, names = append(pids, p.cmd.Process.Pid), append(names, site)
	}
	cpus, rsss := idleUse(b, scaleIdleFor, pids...)
	rss, cpu := 0.0, 0.0
	for i, site := range names {
		b.Logf("replicator %s: idle CPU %.2f%% of a core, RSS %.1f MiB", site, cpus[i], rsss[i])
		cpu, rss = math.Max(cpu, cpus[i]), math.Max(rss, rsss[i])
	}
	r.reportUse(rss, cpu)
}

// awaitTopics waits until site holds every topic of the run.
func (r *scaleRun) awaitTopics(ctx context.Context, site string, p *benchProc) {
	want := r.n + scaleSteady
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if err := p.exited(); err != nil {
			r.b.Fatal(err)
		}
		td, err := r.adm[site].ListTopics(ctx)
		have := 0
		if err == nil {
			for _, t := range td.Names() {
				if strings.HasPrefix(t, r.prefix) {
					have++
				}
			}
		}
		if have >= want {
			return
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("%s holds %d of the %d topics after 10 minutes (%v)", site, have, want, err)
		}
		time.Sleep(500 * time.Millisecond) // polling, bounded by the deadline
	}
}

// steadyStream feeds the steady topics at east and reads them at site,
// with a group there when group is set (its interest is what makes them
// flow) or else by partition. The returned function gives the longest gap
// between two consecutive arrivals of a steady topic since the last call
// (or since every topic flowed).
func (r *scaleRun) steadyStream(ctx context.Context, site string, group bool) func() time.Duration {
	var topics []string
	for i := range scaleSteady {
		topics = append(topics, r.steady(i))
	}
	prod := benchClient(r.b, r.sites["east"], kgo.ProducerLinger(0))
	go func() {
		tick := time.NewTicker(scaleSteadyEvery)
		defer tick.Stop()
		for ctx.Err() == nil {
			for _, t := range topics {
				prod.Produce(ctx, &kgo.Record{Topic: t, Value: []byte("steady")}, nil)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}()
	opts := []kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50 * time.Millisecond)}
	if group {
		opts = append(opts, kgo.ConsumerGroup(r.prefix+"steady"), kgo.ConsumeTopics(topics...))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topics...))
	}
	cons := benchClient(r.b, r.sites[site], opts...)
	var (
		mu      sync.Mutex
		last    = map[string]time.Time{}
		longest time.Duration
	)
	go func() {
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			now := time.Now()
			mu.Lock()
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				if len(p.Records) == 0 {
					return
				}
				if prev, ok := last[p.Topic]; ok {
					longest = max(longest, now.Sub(prev))
				}
				last[p.Topic] = now
			})
			mu.Unlock()
		}
	}()
	// The first records of each steady topic must arrive before the
	// changes start.
	waitFor(r.b, 2*time.Minute, "the steady topics at "+site, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(last) < scaleSteady {
			return fmt.Errorf("%d of %d steady topics arriving", len(last), scaleSteady)
		}
		longest = 0 // the gaps before every topic flowed are not the changes'
		return nil
	})
	return func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		l := longest
		longest = 0
		return l
	}
}

// churnGroups starts and stops groups for the run's window, 100 changes a
// minute, and returns each started group's time to its first record, the
// time from its first assignment to that record (what the mesh took once
// the client had joined), and the number of groups that had none within a
// minute. A group stops (the oldest first) once it had its first record or
// its minute; until then it is not a change that can be made.
func (r *scaleRun) churnGroups(ctx context.Context) (ttfr, afterJoin []time.Duration, misses int) {
	type live struct {
		cl      *kgo.Client
		cancel  context.CancelFunc
		done    chan struct{} // the polling goroutine ended
		settled chan struct{} // the first record came, or the minute passed
		site    string
		group   string
	}
	var (
		mu     sync.Mutex
		groups []*live
	)
	stop := func(g *live) {
		g.cancel()
		<-g.done
		g.cl.Close() // leaves the group
		// The group's committed offsets are interest too: it is deleted,
		// as an application that is gone would be.
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := r.adm[g.site].DeleteGroups(dctx, g.group); err != nil {
			r.b.Logf("delete group %s at %s: %v", g.group, g.site, err)
		}
	}
	settled := func(g *live) bool {
		select {
		case <-g.settled:
			return true
		default:
			return false
		}
	}
	next := 0
	tick := time.NewTicker(scaleChangeEvery)
	defer tick.Stop()
	end := time.Now().Add(r.window)
	for change := 0; time.Now().Before(end) && next < r.n; change++ {
		if i := slices.IndexFunc(groups, settled); len(groups) >= scaleLiveGroups && change%2 == 1 && i >= 0 {
			g := groups[i]
			groups = slices.Delete(groups, i, i+1)
			go stop(g)
		} else {
			site := []string{"west", "north"}[next%2]
			topic := r.topic(next)
			group := fmt.Sprintf("%sg%05d", r.prefix, next)
			next++
			gctx, cancel := context.WithCancel(ctx)
			started := time.Now()
			var joined time.Time
			g := &live{cancel: cancel, done: make(chan struct{}), settled: make(chan struct{}), site: site, group: group}
			g.cl = benchClient(r.b, r.sites[site], kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
					mu.Lock()
					if joined.IsZero() {
						joined = time.Now()
					}
					mu.Unlock()
				}))
			groups = append(groups, g)
			go func() {
				defer close(g.done)
				defer func() {
					if !settled(g) { // stopped at the end of the run without a record
						mu.Lock()
						misses++
						mu.Unlock()
						close(g.settled)
					}
				}()
				for gctx.Err() == nil {
					pctx, pcancel := context.WithTimeout(gctx, time.Second)
					fs := g.cl.PollFetches(pctx)
					pcancel()
					switch {
					case settled(g):
					case fs.NumRecords() > 0:
						now := time.Now()
						mu.Lock()
						ttfr = append(ttfr, now.Sub(started))
						if !joined.IsZero() {
							afterJoin = append(afterJoin, now.Sub(joined))
						}
						mu.Unlock()
						close(g.settled)
					case time.Since(started) > scaleFirstWait:
						mu.Lock()
						misses++
						j := joined
						mu.Unlock()
						r.logMiss(gctx, site, topic, group, started, j)
						close(g.settled)
					}
				}
			}()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			r.b.Fatal(ctx.Err())
		}
	}
	// The last groups get their minute too.
	for _, g := range groups {
		select {
		case <-g.settled:
		case <-ctx.Done():
		}
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() { stop(g) })
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return ttfr, afterJoin, misses
}

// logMiss says what a group that had no record within its minute saw:
// when it joined, and the end offsets of its topic at east and at its site,
// to tell a copy that never came from a consumer that never read it.
func (r *scaleRun) logMiss(ctx context.Context, site, topic, group string, started, joined time.Time) {
	ends := map[string]string{}
	for _, at := range []string{"east", site} {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := r.adm[at].ListEndOffsets(lctx, topic)
		cancel()
		if err != nil {
			ends[at] = err.Error()
			continue
		}
		var parts []string
		res.Each(func(o kadm.ListedOffset) { parts = append(parts, fmt.Sprintf("%d:%d", o.Partition, o.Offset)) })
		slices.Sort(parts)
		ends[at] = strings.Join(parts, ",")
	}
	joinedAfter := "never"
	if !joined.IsZero() {
		joinedAfter = joined.Sub(started).Round(time.Millisecond).String()
	}
	r.b.Logf("miss: group %s at %s on %s: joined after %s; end offsets at east [%s], at %s [%s]",
		group, site, topic, joinedAfter, ends["east"], site, ends[site])
}

func (r *scaleRun) reportTTFR(ttfr []time.Duration, misses int) {
	all := slices.Clone(ttfr)
	for range misses {
		all = append(all, scaleFirstWait)
	}
	slices.Sort(all)
	if len(all) == 0 {
		r.b.Fatal("no group started")
	}
	r.b.ReportMetric(ms(quantile(all, 0.5)), "ttfr-p50-ms")
	r.b.ReportMetric(ms(quantile(all, 0.99)), "ttfr-p99-ms")
	r.b.ReportMetric(float64(misses), "misses")
	r.b.ReportMetric(float64(len(all)), "groups")
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[max(0, min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1))]
}

func (r *scaleRun) reportUse(rss, cpu float64) {
	per := float64(r.n) / 1000
	r.b.ReportMetric(rss, "rss-MiB")
	r.b.ReportMetric(cpu, "idle-cpu-%")
	r.b.ReportMetric(rss/per, "rss-MiB/1000-topics")
	r.b.ReportMetric(cpu/per, "idle-cpu-%/1000-topics")
}

// idleUse returns the CPU each of pids (and its children) used over d, in
// percent of a core, and its resident set size at the end, in MiB.
func idleUse(b *testing.B, d time.Duration, pids ...int) (cpuPct, rssMiB []float64) {
	before := make([]time.Duration, len(pids))
	for i, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		before[i] = c
	}
	t0 := time.Now()
	time.Sleep(d) // the measurement's span
	span := time.Since(t0).Seconds()
	for i, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		rss, err := currentRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		cpuPct = append(cpuPct, 100*(c-before[i]).Seconds()/span)
		rssMiB = append(rssMiB, float64(rss)/(1<<20))
	}
	return cpuPct, rssMiB
}

// currentRSS returns the process's resident set size (VmRSS) in bytes.
func currentRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	le    float64
	count float64
}

var bucketLine = regexp.MustCompile(`^meshwork_replicator_copy_gap_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$`)

// gapBuckets scrapes the copy gap histogram of a replicator, summed over
// its sources.
func gapBuckets(b *testing.B, url string) []bucket {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sum := map[float64]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := bucketLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		le, err1 := strconv.ParseFloat(m[1], 64)
		n, err2 := strconv.ParseFloat(m[2], 64)
		if err := errors.Join(err1, err2); err != nil {
			b.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		sum[le] += n
	}
	var out []bucket
	for le, n := range sum {
		out = append(out, bucket{le, n})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// gapSummary returns, from cumulative buckets, the upper bound of the
// highest bucket with observations (the longest gap, to the bucket), in
// seconds, and how many gaps were over 100 ms.
func gapSummary(gaps []bucket) (longest, over100ms float64) {
	total, upTo := 0.0, 0.0
	for _, bk := range gaps {
		if math.IsInf(bk.le, 1) {
			total = bk.count
		}
		if bk.le == 0.1 {
			upTo = bk.count
		}
	}
	for _, bk := range gaps {
		if total > 0 && bk.count == total {
			longest = bk.le
			break
		}
	}
	return longest, total - upTo
}

// subtractBuckets returns after - before, bucket by bucket.
func subtractBuckets(after, before []bucket) []bucket {
	out := slices.Clone(after)
	for i := range out {
		for _, bk := range before {
			if bk.le == out[i].le {
				out[i].count -= bk.count
			}
		}
	}
	return out
}

// mirrorMaker runs MirrorMaker 2 at west on every topic of the run, and
// creates new topics at east 100 times a minute.
func (r *scaleRun) mirrorMaker(ctx context.Context) {
	b := r.b
	dir := b.TempDir()
	props := fmt.Sprintf(`clusters = east, west
east.bootstrap.servers = %s
west.bootstrap.servers = %s
east->west.enabled = true
east->west.topics = %s.*
west->east.enabled = false
replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy
refresh.topics.interval.seconds = 5
tasks.max = %d
replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
emit.heartbeats.enabled = false
emit.checkpoints.enabled = false
emit.offset-syncs.enabled = false
sync.group.offsets.enabled = false
sync.topic.configs.enabled = false
sync.topic.acls.enabled = false
`, r.sites["east"], r.sites["west"], strings.ReplaceAll(regexp.QuoteMeta(r.prefix), `\`, `\\`), mm2Tasks())
	path := filepath.Join(dir, "mm2.properties")
	if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(r.kafkaClass, "org.apache.kafka.connect.mirror.MirrorMaker", path, "--clusters", "west")
	cmd.Env = append(os.Environ(), "KAFKA_HEAP_OPTS=-Xms256M -Xmx2G")
	start := time.Now()
	p := startBenchProc(b, "mirrormaker2", cmd)
	defer p.stop(b)
	r.awaitTopics(ctx, "west", p)
	b.ReportMetric(time.Since(start).Seconds(), "materialize-s")

	steadyCtx, stopSteady := context.WithCancel(ctx)
	arrivals := r.steadyStream(steadyCtx, "west", false)
	time.Sleep(scaleQuietFor) // the quiet phase's span
	b.ReportMetric(ms(arrivals()), "quiet-arrival-gap-max-ms")

	// Changes: a new topic at east, with a record, every 0.6 s; ttfr is
	// the time until the record is at west.
	var (
		mu     sync.Mutex
		ttfr   []time.Duration
		misses int
		wg     sync.WaitGroup
	)
	prod := benchClient(b, r.sites["east"])
	tick := time.NewTicker(scaleChangeEvery)
	end := time.Now().Add(r.window)
	for i := 0; time.Now().Before(end); i++ {
		topic := fmt.Sprintf("%snew%05d", r.prefix, i)
		started := time.Now()
		res, err := r.adm["east"].CreateTopics(ctx, 1, 1, nil, topic)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			b.Fatalf("create %s at east: %v", topic, err)
		}
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("first")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for time.Since(started) < scaleFirstWait {
				if n, err := endOffsets(ctx, r.adm["west"], topic); err == nil && n > 0 {
					mu.Lock()
					ttfr = append(ttfr, time.Since(started))
					mu.Unlock()
					return
				}
				time.Sleep(250 * time.Millisecond) // polling, bounded by scaleFirstWait
			}
			mu.Lock()
			misses++
			mu.Unlock()
		})
		<-tick.C
	}
	tick.Stop()
	arrivalGap := arrivals()
	wg.Wait()
	stopSteady()
	r.reportTTFR(ttfr, misses)
	b.ReportMetric(ms(arrivalGap), "arrival-gap-max-ms")
	time.Sleep(15 * time.Second) // settling after the feed stopped, a fixed span of the measurement
	if err := p.exited(); err != nil {
		b.Fatal(err)
	}
	cpu, rss := idleUse(b, scaleIdleFor, p.cmd.Process.Pid)
	r.reportUse(rss[0], cpu[0])
}
