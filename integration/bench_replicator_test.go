package integration

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkReplicator copies the same backlog from east to west with
// MirrorMaker 2 (dedicated mode) and with mesh-replicator, each at least
// once and exactly once, on the same two Kafka clusters in the same run.
//
// Every run creates a fresh topic at east (8 partitions) and preloads it with
// N records of 1 KiB (null key) using Kafka's own ProducerPerformance. N is
// MESH_BENCH_RECORDS, default 2,000,000 (2 GB: on 2 cores mesh-replicator
// copies it in about 10 s, MirrorMaker 2 in 35 to 70 s); on a bigger machine
// use several million, e.g. `MESH_BENCH_RECORDS=5000000 make bench-e2e`.
// Then the copier starts as a process and copies the topic to west under the
// same name (MirrorMaker 2 with IdentityReplicationPolicy; mesh-replicator
// for site west with a declared interest in the topic). Reported:
//
//   - MB/s: key+value bytes of the N records / seconds from the copier's
//     process start until west holds all N records (the sum of the end
//     offsets at least once; the records a read_committed consumer would
//     get exactly once);
//   - CPU-s/GB: user+system CPU of the copier process and its children at
//     that moment, per 10^9 bytes copied;
//   - peak-RSS-MiB: the copier's VmHWM at the end of the run;
//   - p50-lag-ms, p99-lag-ms: after the backlog (and a sync, so that its
//     write-back to disk is over), a franz-go producer writes
//     2000 records/s for 30 s at east and a franz-go consumer at west
//     (read_committed) takes each record's lag as its arrival time minus its
//     timestamp (which both copiers keep);
//   - p50-direct-ms, p99-direct-ms: the same records read at east by a
//     consumer like the one at west, the path without a copier. What the
//     brokers add (a young GC pause of a broker, 10-25 ms on 2 shared cores,
//     stalls every record on its way) shows here as well as in both
//     copiers' lag;
//   - p50-added-ms, p99-added-ms: what the copier adds, per record: the
//     time the record was read at west minus the time the same record was
//     read at east, by the two consumers above, matched by the run's tag
//     and the record's number in its value. The produce path to east
//     (and a stall of east before the record was readable there) cancels
//     out; what remains is the copier's fetch from east, its produce (and,
//     exactly once, its transaction's commit) and west's append, with the
//     brokers' stalls on that way. See liveLag for the resolution of the
//     method. Meshwork's runs log their p99s over MirrorMaker 2's of the
//     same mode (medians of the runs so far: of three on the last run).
//
// MESH_BENCH_LIVE sets the duration of the live phase (default 30s); for a
// quick check that the benchmark works, e.g.
// `MESH_BENCH_RECORDS=100000 MESH_BENCH_LIVE=5s ... -count 1`.
// MESH_BENCH_TWIN=1 adds a second reader at east that checks the resolution
// of the added time (see liveLag).
//
// MirrorMaker 2 runs from the cached Maven classpath (deploy/dev/kafka-class.sh)
// with the heap of Kafka's own connect-mirror-maker.sh, -Xms256M -Xmx2G, or
// MESH_BENCH_MM2_HEAP (with -Xmx512M it ran out of heap at 8 tasks); each
// result line logs the heap and tasks.max. It copies with a task per core (up
// to one per partition) and without what mesh-replicator does not do
// (heartbeats, checkpoints, offset syncs, topic config and ACL sync), so it
// does only the copy. Its checkpoint connector then logs a configuration
// error at startup, which is harmless. mesh-replicator runs with 8 slots and
// its default flow settings.
// Another replicator of site west on the same clusters would share the slots
// and the work: the run waits for none to be there and fails if one joins.
//
// Each run deletes its topic at both clusters (and MirrorMaker 2's internal
// topics) when it ends, so disk use stays bounded. Run it with
// `make bench-e2e`, or after `make services-up`:
//
//	. .e2e/env.sh && cd integration && MESH_BENCH_RECORDS=5000000 \
//	    go test -run '^$' -bench Replicator -benchtime 1x -count 3 -timeout 3h .
func BenchmarkReplicator(b *testing.B) {
	s := &replicatorBench{
		east:       benchEnv(b, "MESH_E2E_KAFKA_EAST"),
		west:       benchEnv(b, "MESH_E2E_KAFKA_WEST"),
		kafkaClass: benchEnv(b, "MESH_E2E_KAFKA_CLASS"),
		n:          benchRecords(b),
		live:       benchLive(b),
		twin:       os.Getenv("MESH_BENCH_TWIN") == "1",
		heap:       os.Getenv("MESH_BENCH_MM2_HEAP"),
		results:    map[string][]copyResult{},
	}
	if s.heap == "" {
		s.heap = "-Xms256M -Xmx2G" // Kafka's bin/connect-mirror-maker.sh default
	}
	s.bin = buildBinary(b, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	for _, tool := range []string{"mirrormaker2", "meshwork"} {
		for _, eos := range []bool{false, true} {
			mode := "at-least-once"
			if eos {
				mode = "exactly-once"
			}
			b.Run(tool+"/"+mode, func(b *testing.B) { s.bench(b, tool, mode, eos) })
		}
	}
}

const (
	benchPartitions = 8
	benchRecordSize = 1024
	benchSlots      = 8
	liveRate        = 2000 // records/s in the lag phase
	userHZ          = 100  // clock ticks per second in /proc/<pid>/stat (USER_HZ)
)

// benchEnv returns a required environment variable or skips the benchmark.
func benchEnv(b *testing.B, name string) string {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		b.Skipf("%s is not set: run `make bench-e2e`, which starts the services (deploy/dev/up.sh) and loads .e2e/env.sh", name)
	}
	return v
}

func benchRecords(b *testing.B) int {
	v := os.Getenv("MESH_BENCH_RECORDS")
	if v == "" {
		return 2_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < benchPartitions {
		b.Fatalf("MESH_BENCH_RECORDS=%q: want a number of records, at least %d", v, benchPartitions)
	}
	return n
}

// benchLive returns the duration of the live phase, MESH_BENCH_LIVE.
func benchLive(b *testing.B) time.Duration {
	v := os.Getenv("MESH_BENCH_LIVE")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		b.Fatalf("MESH_BENCH_LIVE=%q: want a duration of at least 1s, e.g. 5s", v)
	}
	return d
}

type replicatorBench struct {
	east, west, kafkaClass string
	n                      int
	live                   time.Duration // of the live phase
	twin                   bool          // a second reader at east (MESH_BENCH_TWIN)
	heap                   string
	bin                    string
	// results holds every run's result by tool/mode, for the comparison
	// that Meshwork's runs log (MirrorMaker 2's runs of a mode come first).
	results map[string][]copyResult
}

// copyResult is what one copy measured.
type copyResult struct {
	mbps, cpuPerGB, rssMiB, p50, p99 float64
	directP50, directP99             float64 // the live stream read at east
	addedP50, addedP99               float64 // read at west minus read at east, per record
}

func (s *replicatorBench) bench(b *testing.B, tool, mode string, eos bool) {
	b.StopTimer()
	var sum copyResult
	for range b.N {
		r := s.once(b, tool, eos)
		s.results[tool+"/"+mode] = append(s.results[tool+"/"+mode], r)
		sum.mbps += r.mbps
		sum.cpuPerGB += r.cpuPerGB
		sum.rssMiB += r.rssMiB
		sum.p50 += r.p50
		sum.p99 += r.p99
		sum.directP50 += r.directP50
		sum.directP99 += r.directP99
		sum.addedP50 += r.addedP50
		sum.addedP99 += r.addedP99
	}
	n := float64(b.N)
	b.ReportMetric(sum.mbps/n, "MB/s")
	b.ReportMetric(sum.cpuPerGB/n, "CPU-s/GB")
	b.ReportMetric(sum.rssMiB/n, "peak-RSS-MiB")
	b.ReportMetric(sum.p50/n, "p50-lag-ms")
	b.ReportMetric(sum.p99/n, "p99-lag-ms")
	b.ReportMetric(sum.directP50/n, "p50-direct-ms")
	b.ReportMetric(sum.directP99/n, "p99-direct-ms")
	b.ReportMetric(sum.addedP50/n, "p50-added-ms")
	b.ReportMetric(sum.addedP99/n, "p99-added-ms")
	if tool == "meshwork" {
		s.logRatio(b, mode)
	}
}

// logRatio logs Meshwork's p99s over MirrorMaker 2's in the same mode,
// each the median of its runs so far in this process: on the last run of
// `-count 3`, the medians of three that the README quotes.
func (s *replicatorBench) logRatio(b *testing.B, mode string) {
	mw, mm := s.results["meshwork/"+mode], s.results["mirrormaker2/"+mode]
	if len(mm) == 0 {
		b.Logf("added p99: no MirrorMaker 2 run of %s in this run to compare with", mode)
		return
	}
	ratio := func(what string, f func(copyResult) float64) string {
		a, c := median(mw, f), median(mm, f)
		return fmt.Sprintf("%s %.1f / %.1f ms = %.2fx", what, a, c, a/c)
	}
	b.Logf("Meshwork / MirrorMaker 2, %s, medians of %d / %d runs: %s; %s",
		mode, len(mw), len(mm),
		ratio("added p99", func(r copyResult) float64 { return r.addedP99 }),
		ratio("lag p99", func(r copyResult) float64 { return r.p99 }))
}

// median returns the median of f over rs (the mean of the middle two for
// an even count).
func median(rs []copyResult, f func(copyResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// once preloads a fresh topic, copies it with the tool, measures the live
// lag and cleans up.
func (s *replicatorBench) once(b *testing.B, tool string, eos bool) copyResult {
	preloadTimeout := 2*time.Minute + time.Duration(s.n/5000)*time.Second // at least 5 MB/s
	copyTimeout := 2*time.Minute + time.Duration(s.n/2000)*time.Second    // at least 2 MB/s
	ctx, cancel := context.WithTimeout(context.Background(), preloadTimeout+copyTimeout+s.live+5*time.Minute)
	defer cancel()
	eastAdm := kadm.NewClient(benchClient(b, s.east))
	// West's topic appears during the copy: a lookup that finds it unknown
	// must not be answered from the client's cache for the default 5 s.
	westAdm := kadm.NewClient(benchClient(b, s.west, kgo.MetadataMinAge(250*time.Millisecond)))

	topic := uniq("bench.replicator")
	createTopics(b, s.east, benchPartitions, topic) // deleted at east when the run ends
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		deleteTopics(dctx, b, westAdm, topic)
	}()

	// The backlog, written by Kafka's own load generator.
	t0 := time.Now()
	pctx, pcancel := context.WithTimeout(ctx, preloadTimeout)
	run(pctx, b, nil, s.kafkaClass, "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(s.n), "--record-size", strconv.Itoa(benchRecordSize),
		"--throughput", "-1", "--producer-props", "bootstrap.servers="+s.east, "acks=all", "linger.ms=10", "batch.size=262144")
	pcancel()
	if got, err := endOffsets(ctx, eastAdm, topic); err != nil || got != int64(s.n) {
		b.Fatalf("preload: %d records at east, want %d (%v)", got, s.n, err)
	}
	preloaded := time.Since(t0)

	var p *benchProc
	if tool == "mirrormaker2" {
		p = s.startMirrorMaker(b, topic, eos)
		defer s.cleanMirrorMaker(b, eastAdm, westAdm)
	} else {
		s.checkNoOtherReplicator(ctx, b, westAdm)
		p = s.startMeshwork(b, topic, eos)
	}
	defer p.stop(b)
	b.StartTimer()

	// Copy: from the process start until west holds every record.
	count := func() (int64, error) { return endOffsets(ctx, westAdm, topic) }
	if eos {
		cl := benchClient(b, s.west, kgo.MetadataMinAge(250*time.Millisecond))
		cc := &committedCounter{cl: cl, adm: kadm.NewClient(cl), topic: topic}
		count = func() (int64, error) { return cc.poll(ctx) }
	}
	var copied int64
	for deadline := p.started.Add(copyTimeout); ; {
		if err := p.exited(); err != nil {
			b.Fatal(err)
		}
		c, err := count()
		if err == nil {
			copied = c
		}
		if copied >= int64(s.n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s copied %d of %d records to west in %s (%v); its log ends:\n%s", p.name, copied, s.n, copyTimeout, err, p.logTail(8192))
		}
		time.Sleep(100 * time.Millisecond) // polling the condition, bounded by the deadline
	}
	elapsed := time.Since(p.started)
	cpu, err := cpuTime(p.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	if eos && copied != int64(s.n) {
		b.Errorf("exactly once: %d committed records at west for %d at east", copied, s.n)
	}

	// Live: lag of a paced stream once the backlog is copied. The brokers
	// do not sync their writes: the backlog, gigabytes at both sites, is
	// still being written back to disk, and a broker whose appends wait for
	// that stalls for up to hundreds of milliseconds. The faster the copy,
	// the more of that write-back falls into the live phase, so every tool
	// gets a clean start: the page cache is written out first.
	t1 := time.Now()
	syscall.Sync()
	synced := time.Since(t1)
	live := liveLag(ctx, b, s.east, s.west, topic, s.live, s.twin)
	rss, err := peakRSS(p.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	if tool == "meshwork" && strings.Contains(p.logTail(0), `assigned=false slots="[`) {
		b.Fatalf("another replicator of site west joined the slot group during the run and took slots from the one measured: stop other replicators on these clusters and run again\n%s", p.logTail(8192))
	}
	b.StopTimer()
	p.stop(b)

	bytes := float64(s.n) * benchRecordSize
	r := copyResult{
		mbps:      bytes / 1e6 / elapsed.Seconds(),
		cpuPerGB:  cpu.Seconds() / (bytes / 1e9),
		rssMiB:    float64(rss) / (1 << 20),
		p50:       ms(live.p50),
		p99:       ms(live.p99),
		directP50: ms(live.directP50),
		directP99: ms(live.directP99),
		addedP50:  ms(live.addedP50),
		addedP99:  ms(live.addedP99),
	}
	setup := fmt.Sprintf("%d slots, default flow settings", benchSlots)
	if tool == "mirrormaker2" {
		setup = fmt.Sprintf("tasks.max %d, heap %s", mm2Tasks(), s.heap)
	}
	twin := ""
	if s.twin {
		twin = fmt.Sprintf(" (two readers at east apart by p50 %.2f ms p99 %.2f ms)", ms(live.twinP50), ms(live.twinP99))
	}
	b.Logf("%s (%s): preload %.1fs; copy of %d records %.1fs, CPU %.1fs; %.1f MB/s, %.2f CPU-s/GB, peak RSS %.0f MiB; sync %.1fs; lag p50 %.1f ms p99 %.1f ms (east->east without a copier: p50 %.1f ms p99 %.1f ms); added by the copier p50 %.1f ms p99 %.1f ms%s",
		tool, setup, preloaded.Seconds(), copied, elapsed.Seconds(), cpu.Seconds(), r.mbps, r.cpuPerGB, r.rssMiB, synced.Seconds(), r.p50, r.p99, r.directP50, r.directP99,
		r.addedP50, r.addedP99, twin)
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func benchClient(b *testing.B, broker string, opts ...kgo.Opt) *kgo.Client {
	b.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

// endOffsets returns the sum of topic's end offsets (high watermarks).
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	var total int64
	parts := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			total += o.Offset
			parts++
		} else {
			err = o.Err
		}
	})
	if err != nil {
		return total, err
	}
	if parts == 0 {
		return 0, fmt.Errorf("topic %s not found", topic)
	}
	return total, nil
}

// deleteTopics deletes topics, reporting failures other than a topic that
// is already gone.
func deleteTopics(ctx context.Context, tb testing.TB, adm *kadm.Client, topics ...string) {
	if len(topics) == 0 {
		return
	}
	res, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		tb.Errorf("delete topics %v: %v", topics, err)
		return
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			tb.Errorf("delete topic %s: %v", r.Topic, r.Err)
		}
	}
}

// startMirrorMaker runs MirrorMaker 2 in dedicated mode, copying topic from
// east to west under the same name.
func (s *replicatorBench) startMirrorMaker(b *testing.B, topic string, eos bool) *benchProc {
	dir := b.TempDir()
	var props strings.Builder
	fmt.Fprintf(&props, `clusters = east, west
east.bootstrap.servers = %s
west.bootstrap.servers = %s
east->west.enabled = true
east->west.topics = %s
west->east.enabled = false
replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy
tasks.max = %d
replication.factor = 1
heartbeats.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
emit.heartbeats.enabled = false
emit.checkpoints.enabled = false
emit.offset-syncs.enabled = false
sync.group.offsets.enabled = false
sync.topic.configs.enabled = false
sync.topic.acls.enabled = false
`, s.east, s.west, strings.ReplaceAll(regexp.QuoteMeta(topic), `\`, `\\`), mm2Tasks())
	if eos {
		// As in deploy/dev/kafka/mm2.properties.example: the target-prefixed
		// switch, read_committed at the source and the internal REST server
		// that the exactly-once task handshake needs.
		fmt.Fprintf(&props, `west.exactly.once.source.support = enabled
east.consumer.isolation.level = read_committed
dedicated.mode.enable.internal.rest = true
listeners = http://127.0.0.1:%d
`, freePorts(b, 1)[0])
	}
	path := filepath.Join(dir, "mm2.properties")
	if err := os.WriteFile(path, []byte(props.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(s.kafkaClass, "org.apache.kafka.connect.mirror.MirrorMaker", path, "--clusters", "west")
	cmd.Env = append(os.Environ(), "KAFKA_HEAP_OPTS="+s.heap)
	return startBenchProc(b, "mirrormaker2", cmd)
}

// mm2Tasks is MirrorMaker 2's tasks.max: a task per core, up to one per
// partition (on 2 cores, 1 or 2 tasks copy faster than 8 and need less heap).
func mm2Tasks() int { return min(runtime.NumCPU(), benchPartitions) }

// mm2Internal reports whether a topic is one MirrorMaker 2 creates for
// itself: its Connect worker's config, offset and status topics, heartbeats,
// checkpoints and offset syncs.
func mm2Internal(topic string) bool {
	return strings.HasPrefix(topic, "mm2-") && strings.HasSuffix(topic, ".internal") ||
		strings.HasSuffix(topic, ".checkpoints.internal") || topic == "heartbeats"
}

// cleanMirrorMaker deletes MirrorMaker 2's internal topics and its worker
// group, once it stopped, so the next run starts from nothing.
func (s *replicatorBench) cleanMirrorMaker(b *testing.B, eastAdm, westAdm *kadm.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, adm := range []*kadm.Client{eastAdm, westAdm} {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			b.Errorf("list topics: %v", err)
			continue
		}
		var internal []string
		for _, t := range td.Names() {
			if mm2Internal(t) {
				internal = append(internal, t)
			}
		}
		deleteTopics(ctx, b, adm, internal...)
	}
	// The worker group goes once its member left (at once after a clean
	// stop; after a crash, when its session times out).
	const group = "east-mm2"
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := westAdm.DeleteGroups(ctx, group)
		if err == nil {
			err = res[group].Err
		}
		if err == nil || errors.Is(err, kerr.GroupIDNotFound) {
			return
		}
		if time.Now().After(deadline) {
			b.Logf("delete group %s at west: %v", group, err)
			return
		}
		time.Sleep(time.Second) // polling, bounded by the deadline
	}
}

// checkNoOtherReplicator fails when another replicator of site west runs on
// these clusters: it would share the slots (and so the work) with the one
// measured. The previous run's replicator may still be leaving the group.
func (s *replicatorBench) checkNoOtherReplicator(ctx context.Context, b *testing.B, westAdm *kadm.Client) {
	const group = "meshwork-replicator-west"
	waitFor(b, 30*time.Second, "no other replicator of site west", func() error {
		dg, err := westAdm.DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		if g := dg[group]; len(g.Members) > 0 {
			return fmt.Errorf("group %s at west has %d members (state %s): another replicator of site west runs against these clusters and would share the work; stop it first", group, len(g.Members), g.State)
		}
		return nil
	})
}

// startMeshwork runs mesh-replicator for site west with a declared interest
// in topic.
func (s *replicatorBench) startMeshwork(b *testing.B, topic string, eos bool) *benchProc {
	mode := "at_least_once"
	if eos {
		mode = "exactly_once"
	}
	port := freePorts(b, 1)[0]
	cfg := fmt.Sprintf(`site: west
listen: 127.0.0.1:%d
kafka: {brokers: [%q]}
sites:
  - name: east
    kafka: {brokers: [%q]}
  - name: west
    kafka: {brokers: [%q]}
mode: %s
interest:
  declared:
    - topic: %q
  discover: false
flow:
  slots: %d
log: {level: info}
`, port, s.west, s.east, s.west, mode, topic, benchSlots)
	path := filepath.Join(b.TempDir(), "replicator.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	return startBenchProc(b, "mesh-replicator", exec.Command(s.bin, "-config", path))
}

// benchProc is a copier process.
type benchProc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	started time.Time
	done    chan struct{} // closed once the process exited
	err     error         // its exit status, once done is closed
	once    sync.Once
}

func startBenchProc(b *testing.B, name string, cmd *exec.Cmd) *benchProc {
	b.Helper()
	logPath := filepath.Join(b.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	diesWithTest(cmd)
	cmd.Stdout, cmd.Stderr = f, f
	p := &benchProc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		b.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

// exited returns an error with the end of the log if the process ended.
func (p *benchProc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.logTail(8192))
	default:
		return nil
	}
}

// logTail returns the last limit bytes of the log, all of it for 0.
func (p *benchProc) logTail(limit int) string {
	data, _ := os.ReadFile(p.log)
	if limit > 0 && len(data) > limit {
		data = data[len(data)-limit:]
	}
	return string(data)
}

// stop sends SIGTERM, waits up to a minute for the process to end, then
// kills it. mesh-replicator must exit cleanly; a JVM ends with 143.
func (p *benchProc) stop(b *testing.B) {
	p.once.Do(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(time.Minute):
				_ = p.cmd.Process.Kill()
				<-p.done
				b.Errorf("%s did not stop within a minute of SIGTERM\n%s", p.name, p.logTail(8192))
				return
			}
		}
		if p.name == "mesh-replicator" && p.err != nil {
			b.Errorf("%s exited with %v\n%s", p.name, p.err, p.logTail(8192))
		}
	})
}

// procStat returns the CPU clock ticks of pid (user and system, its own and
// its waited-for children's) and its parent's pid.
func procStat(pid int) (ticks int64, ppid int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	ppid, _ = strconv.Atoi(f[1])
	for _, k := range []int{14, 15, 16, 17} { // utime, stime, cutime, cstime
		v, err := strconv.ParseInt(f[k-3], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/stat field %d: %v", pid, k, err)
		}
		ticks += v
	}
	return ticks, ppid, nil
}

// cpuTime returns the user+system CPU time of pid and its children, the
// ended ones and those still running.
func cpuTime(pid int) (time.Duration, error) {
	ticks, _, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, err := procStat(c); err == nil {
			children[ppid] = append(children[ppid], c)
		}
	}
	queue := slices.Clone(children[pid])
	for len(queue) > 0 && len(queue) < 1<<16 {
		c := queue[0]
		queue = append(queue[1:], children[c]...)
		if t, _, err := procStat(c); err == nil {
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// committedCounter counts the committed records of a topic (what a
// read_committed consumer would receive) from the record batch headers of
// raw read_committed fetches, without decoding the records, so that
// watching the copy costs little CPU beside the copier.
type committedCounter struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string

	id      [16]byte
	leaders map[int32][]int32 // partitions by leader
	next    map[int32]int64
	count   int64
	// The consumer's bookkeeping of aborted transactions, per partition:
	// those announced by fetch responses and not yet reached, and the
	// producers whose data batches are aborted until their marker.
	pending map[int32][]kmsg.FetchResponseTopicPartitionAbortedTransaction
	abort   map[int32]map[int64]bool
}

// poll reads what was committed since the last poll (at most 64 fetches)
// and returns the count so far.
func (c *committedCounter) poll(ctx context.Context) (int64, error) {
	if c.leaders == nil {
		td, err := c.adm.ListTopics(ctx, c.topic)
		if err != nil {
			return 0, err
		}
		d, ok := td[c.topic]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return 0, fmt.Errorf("topic %s not at west yet", c.topic)
		}
		c.id = d.ID
		c.leaders, c.next = map[int32][]int32{}, map[int32]int64{}
		c.pending, c.abort = map[int32][]kmsg.FetchResponseTopicPartitionAbortedTransaction{}, map[int32]map[int64]bool{}
		for _, p := range d.Partitions {
			c.leaders[p.Leader] = append(c.leaders[p.Leader], p.Partition)
			c.next[p.Partition] = 0
			c.abort[p.Partition] = map[int64]bool{}
		}
	}
	for range 64 {
		progressed := false
		for leader, parts := range c.leaders {
			n, err := c.fetch(ctx, leader, parts)
			if err != nil {
				return c.count, err
			}
			progressed = progressed || n > 0
		}
		if !progressed {
			break
		}
	}
	return c.count, nil
}

// fetch fetches parts once from their leader and returns the bytes read.
func (c *committedCounter) fetch(ctx context.Context, leader int32, parts []int32) (int, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 64 << 20
	req.IsolationLevel = 1 // read_committed
	req.SessionEpoch = -1  // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = c.topic, c.id
	for _, p := range parts {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = c.next[p]
		rp.PartitionMaxBytes = 8 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.cl.Broker(int(leader)))
	if err != nil {
		return 0, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, err
	}
	read := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return read, fmt.Errorf("fetch %s/%d: %w", c.topic, p.Partition, err)
			}
			c.pending[p.Partition] = append(c.pending[p.Partition], p.AbortedTransactions...)
			slices.SortFunc(c.pending[p.Partition], func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) int {
				return cmp.Compare(a.FirstOffset, b.FirstOffset)
			})
			read += c.batches(p.Partition, p.RecordBatches)
		}
	}
	return read, nil
}

// batches counts the committed records in raw record batches (format v2)
// and returns the bytes of the complete batches.
func (c *committedCounter) batches(part int32, raw []byte) int {
	read := 0
	for len(raw) >= 61 {
		base := int64(binary.BigEndian.Uint64(raw[0:]))
		size := 12 + int(int32(binary.BigEndian.Uint32(raw[8:])))
		if size > len(raw) || size < 61 {
			break // a partial batch at the end of the response
		}
		attrs := binary.BigEndian.Uint16(raw[21:])
		last := base + int64(int32(binary.BigEndian.Uint32(raw[23:])))
		producer := int64(binary.BigEndian.Uint64(raw[43:]))
		records := int64(int32(binary.BigEndian.Uint32(raw[57:])))
		raw, read = raw[size:], read+size
		if base < c.next[part] {
			continue // already counted (a fetch may start inside a batch)
		}
		c.next[part] = last + 1
		for len(c.pending[part]) > 0 && c.pending[part][0].FirstOffset <= last {
			c.abort[part][c.pending[part][0].ProducerID] = true
			c.pending[part] = c.pending[part][1:]
		}
		switch {
		case attrs&0x20 != 0: // a control batch: the producer's transaction ends
			delete(c.abort[part], producer)
		case attrs&0x10 != 0 && c.abort[part][producer]: // data of an aborted transaction
		default:
			c.count += records
		}
	}
	return read
}

// lagStats are the percentiles of one live stream.
type lagStats struct {
	// p50, p99 are of the end-to-end lag: arrival at west minus the
	// record's timestamp (taken just before it was produced at east).
	p50, p99 time.Duration
	// directP50, directP99 are of the same records read at east: the
	// path without any copier, measured in the same run.
	directP50, directP99 time.Duration
	// addedP50, addedP99 are of what the copier adds: arrival at west
	// minus arrival of the same record at east.
	addedP50, addedP99 time.Duration
	// twinP50, twinP99 are of how far apart two readers at east got the
	// same record: the resolution of the arrival times in this run (with
	// the twin reader only).
	twinP50, twinP99 time.Duration
}

// liveLag produces liveRate records/s for live at east and measures when
// each arrives at west and, for reference, at east itself.
//
// What the copier adds to a record is (when the reader at west got it) -
// (when the reader at east got it). Each reader stamps the records of a
// fetch when its poll returns that fetch, which is when the record became
// readable at its broker plus the reader's delay; the added time means
// something only while that delay is small against it, so the readers
// poll tightly:
//
//   - a fetch waits at the broker for at least 1 byte, and the broker
//     answers a waiting fetch as soon as a record becomes readable
//     (on the append; at west exactly once, on the commit marker that
//     makes the transaction's records readable to read_committed);
//   - franz-go sends the next fetch as soon as the previous one is polled,
//     and the poll loop does nothing but stamp, so a reader is fetching
//     almost all the time;
//   - the fetch max wait is franz-go's floor, 10 ms instead of its 5 s,
//     so that a wake-up the broker missed costs at most that (with 500 ms
//     instead, Meshwork's added p50 did not move in either mode: the
//     broker's wake-up, not the wait, ends the fetches);
//   - production starts only once every reader sends fetches.
//
// The delay left is the response's trip over loopback and the scheduling
// of the reader's goroutines. With twin, a second reader at east, set up
// like the first, measures it: how far apart two readers got the same
// records. On the 2 shared cores, with the copier and the brokers busy,
// they were 0.1-0.3 ms apart at p50 and 2-4 ms at p99 (20-30 ms while
// other work loaded the machine), so an added p50 or p99 is good to about
// that. The twin is off by default: in runs side by side, a third
// consumer made the direct p50 0.1-0.2 ms slower, and the raw figures
// stay comparable with earlier runs. All readers are in this process, so its own pauses land on both
// sides alike. Every reader is read_committed: at east and at west at
// least once there are no transactions, so it reads what read_uncommitted
// would.
func liveLag(ctx context.Context, b *testing.B, east, west, topic string, live time.Duration, twin bool) lagStats {
	total := int(liveRate * live / time.Second)
	// Each live record's value starts with the run's tag and its number,
	// which tell it from any other record of the topic (the backlog's are
	// ProducerPerformance's random text).
	tag := rand.Uint64()
	ts := make([]time.Time, total)
	readers := []*reader{newReader(ctx, b, east, topic, tag, total), newReader(ctx, b, west, topic, tag, total)}
	if twin {
		readers = append(readers, newReader(ctx, b, east, topic, tag, total))
	}
	for _, r := range readers {
		r.waitFetching(b, 30*time.Second)
	}
	prod := benchClient(b, east, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	var produceErr error
	var mu sync.Mutex
	start := time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / liveRate)); d > 0 {
			time.Sleep(d) // pacing
		}
		v := make([]byte, benchRecordSize)
		binary.BigEndian.PutUint64(v, tag)
		binary.BigEndian.PutUint64(v[8:], uint64(i))
		ts[i] = time.Now()
		prod.Produce(ctx, &kgo.Record{Value: v, Timestamp: ts[i]}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				produceErr = err
				mu.Unlock()
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	if produceErr != nil {
		b.Fatalf("live produce: %v", produceErr)
	}
	mu.Unlock()
	ea, wa := readers[0].wait(b), readers[1].wait(b)
	lags, direct, added := make([]time.Duration, total), make([]time.Duration, total), make([]time.Duration, total)
	for i := range total {
		lags[i], direct[i] = wa[i].Sub(ts[i]), ea[i].Sub(ts[i])
		// Negative when the copy was read before the original, which the
		// readers' delays allow (by about the twin's difference): kept, so
		// that the percentiles are of the measure as taken.
		added[i] = wa[i].Sub(ea[i])
	}
	var st lagStats
	st.p50, st.p99 = percentiles(lags)
	st.directP50, st.directP99 = percentiles(direct)
	st.addedP50, st.addedP99 = percentiles(added)
	if twin {
		ta := readers[2].wait(b)
		apart := make([]time.Duration, total)
		for i := range total {
			apart[i] = ta[i].Sub(ea[i]).Abs()
		}
		st.twinP50, st.twinP99 = percentiles(apart)
	}
	return st
}

// percentiles sorts d and returns its p50 and p99.
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}

// reader consumes the live stream at one broker and stamps each record's
// first arrival.
type reader struct {
	broker   string
	fetching chan struct{} // closed once the client sent its first fetch
	once     sync.Once
	done     chan error // the result of the consuming goroutine
	cancel   context.CancelFunc
	at       []time.Time
}

// OnBrokerWrite makes reader a kgo hook that closes fetching on the
// client's first fetch request.
func (r *reader) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.Fetch.Int16() && err == nil {
		r.once.Do(func() { close(r.fetching) })
	}
}

// newReader consumes topic (read_committed) from its current end at broker
// and stamps the arrival of records 0..total-1 of the live stream tagged
// tag.
func newReader(ctx context.Context, b *testing.B, broker, topic string, tag uint64, total int) *reader {
	adm := kadm.NewClient(benchClient(b, broker))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { from[o.Partition] = kgo.NewOffset().At(o.Offset) })
	r := &reader{broker: broker, fetching: make(chan struct{}), done: make(chan error, 1), at: make([]time.Time, total)}
	cons := benchClient(b, broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(10*time.Millisecond), // franz-go's floor; see liveLag
		kgo.WithHooks(r))
	cctx, ccancel := context.WithCancel(ctx)
	r.cancel = ccancel
	go func() {
		n := 0
		var lastErr error
		for n < total && cctx.Err() == nil {
			fs := cons.PollFetches(cctx)
			now := time.Now()
			fs.EachError(func(_ string, _ int32, err error) { lastErr = err })
			fs.EachRecord(func(rec *kgo.Record) {
				if len(rec.Value) < 16 || binary.BigEndian.Uint64(rec.Value) != tag {
					return
				}
				// A duplicate (at least once) counts at its first arrival.
				if i := binary.BigEndian.Uint64(rec.Value[8:]); i < uint64(total) && r.at[i].IsZero() {
					r.at[i] = now
					n++
				}
			})
		}
		if n < total {
			r.done <- fmt.Errorf("%d of %d live records reached %s (last fetch error: %v)", n, total, broker, lastErr)
			return
		}
		r.done <- nil
	}()
	return r
}

// waitFetching waits until the reader sends fetches, so that the first
// live records are not stamped late by its start.
func (r *reader) waitFetching(b *testing.B, timeout time.Duration) {
	select {
	case <-r.fetching:
	case err := <-r.done:
		b.Fatalf("reader at %s ended before it fetched: %v", r.broker, err)
	case <-time.After(timeout):
		b.Fatalf("reader at %s sent no fetch within %s", r.broker, timeout)
	}
}

// wait waits up to a minute for the reader to get every live record and
// returns when each first arrived.
func (r *reader) wait(b *testing.B) []time.Time {
	defer r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(time.Minute):
		r.cancel()
		b.Fatal(<-r.done)
	}
	return r.at
}
