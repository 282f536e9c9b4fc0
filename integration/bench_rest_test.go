package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// restBenchClients is how many clients send requests at once.
const restBenchClients = 16

// BenchmarkRESTProduce measures records produced over HTTP through
// mesh-rest (its own process, loaded from this one over loopback), beside
// a franz-go producer writing the same records straight to Kafka with the
// same acks (all), in the same run: single-record and 100-record requests,
// each against the producer waiting for batches of the same size. Each op
// is one record; latency is per request (or per batch), and cpu-s/Mrec the
// CPU the adapter process used per million records.
//
// paced/1rec-at-half-peak sends single-record requests open loop at half
// the rate rest-v2/1rec just reached (its peak in this run), to the
// adapter and to the direct producer alike, in alternating slices so that
// the noise of a shared machine falls on both, and measures each request
// from the moment it was due: the goal is the adapter's p99 below 3x the
// direct producer's at the same rate (p99-vs-direct).
func BenchmarkRESTProduce(b *testing.B) {
	kafka := env(b, "MESH_E2E_KAFKA_EAST")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "bench.rest." + suffix
	createTopics(b, kafka, 3, topic)
	port := freePorts(b, 1)[0]
	cfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ninstance_id: bench-%s\nmax_in_flight: 100000\nkafka:\n  brokers: [%s]\n  producer: {linger: 1ms}\nwebhooks: {allow_targets: [127.0.0.0/8], subscriptions_topic: _mesh.rest.subscriptions.bench-%s}\nidempotency: {topic: _mesh.rest.idempotency.bench-%s}\nlog: {level: warn}\n", port, suffix, kafka, suffix, suffix)
	p := launchBench(b, buildBinary(b, "github.com/meshwork/meshwork/cmd/mesh-rest"), cfg, port)
	var peak float64 // rest-v2/1rec's records/s
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("franz-go-produce/%drec", per), func(b *testing.B) { benchDirect(b, kafka, topic, per) })
		b.Run(fmt.Sprintf("rest-v2/%drec", per), func(b *testing.B) {
			if rate := benchREST(b, p, topic, per); per == 1 {
				peak = rate
			}
		})
	}
	b.Run("paced/1rec-at-half-peak", func(b *testing.B) { benchPaced(b, p, kafka, topic, peak/2) })
	b.Run("webhook-delivery", func(b *testing.B) { benchWebhook(b, p, kafka, suffix) })
}

// launchBench starts a service for a benchmark and waits for /readyz.
func launchBench(b *testing.B, bin, cfg string, port int) *serviceProc {
	p := launchService(b, bin, "mesh-rest", cfg, port)
	waitFor(b, 60*time.Second, "mesh-rest ready", func() error {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})
	return p
}

// cpuSeconds is the CPU time a process used so far (Linux /proc).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks
}

func restPayload(i int) []byte {
	v := make([]byte, 100)
	copy(v, fmt.Sprintf("record-%d", i))
	return v
}

func benchDirect(b *testing.B, kafka, topic string, per int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var lat latencies
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range restBenchClients {
		wg.Go(func() {
			for {
				first := next.Add(int64(per)) - int64(per)
				if first >= int64(b.N) {
					return
				}
				n := min(int64(per), int64(b.N)-first)
				recs := make([]*kgo.Record, n)
				for i := range recs {
					recs[i] = &kgo.Record{Topic: topic, Value: restPayload(int(first) + i)}
				}
				sent := time.Now()
				if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
					b.Error(err)
					return
				}
				lat.add(sent)
			}
		})
	}
	wg.Wait()
	lat.report(b, time.Since(start))
}

// benchREST sends requests of per records from restBenchClients clients
// as fast as they are answered, and returns the records/s reached.
func benchREST(b *testing.B, p *serviceProc, topic string, per int, basicAuth ...string) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: restBenchClients}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	// Bodies are built before the clock starts, as a load tool (wrk) sends
	// prepared requests: the generator shares the machine's cores.
	var body bytes.Buffer
	body.WriteString(`{"records":[`)
	for i := range per {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"value":%q}`, base64.StdEncoding.EncodeToString(restPayload(i)))
	}
	body.WriteString(`]}`)
	prepared := body.Bytes()
	var lat latencies
	var next atomic.Int64
	cpu0 := cpuSeconds(p.cmd.Process.Pid)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range restBenchClients {
		wg.Go(func() {
			for {
				first := next.Add(int64(per)) - int64(per)
				if first >= int64(b.N) {
					return
				}
				sent := time.Now()
				req, err := http.NewRequest(http.MethodPost, p.url+"/topics/"+topic, bytes.NewReader(prepared))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/vnd.kafka.binary.v2+json")
				if len(basicAuth) == 2 {
					req.SetBasicAuth(basicAuth[0], basicAuth[1])
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat.add(sent)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	lat.report(b, elapsed)
	b.ReportMetric(float64(b.N)/float64(per)/elapsed.Seconds(), "req/s")
	b.ReportMetric((cpuSeconds(p.cmd.Process.Pid)-cpu0)/float64(b.N)*1e6, "cpu-s/Mrec")
	return float64(b.N) / elapsed.Seconds()
}

// maxPacedInFlight bounds the requests of an open-loop run waiting at
// once; beyond it the schedule waits (and the waits count in the
// latencies, which run from each request's due time).
const maxPacedInFlight = 512

// pacedSlices is how many alternating slices of direct and REST requests
// an open-loop run has.
const pacedSlices = 10

// benchPaced sends b.N single-record requests to the direct producer and
// b.N to mesh-rest at rate per second, in alternating slices, and reports
// each one's p50 and p99 and the ratio of the p99s.
func benchPaced(b *testing.B, p *serviceProc, kafka, topic string, rate float64) {
	if rate <= 0 {
		b.Skip("no peak rate measured: run rest-v2/1rec in the same run")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	direct := func(i int) error {
		return cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: restPayload(i)}).FirstErr()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: maxPacedInFlight}, Timeout: 60 * time.Second}
	body := []byte(`{"records":[{"value":"` + base64.StdEncoding.EncodeToString(restPayload(0)) + `"}]}`)
	rest := func(int) error {
		resp, err := client.Post(p.url+"/topics/"+topic, "application/vnd.kafka.binary.v2+json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// A second of each, not measured: connections open (as the direct
	// producer's is) and the pool at its steady size, as for a client
	// that keeps sending.
	var warm latencies
	for _, send := range []func(int) error{direct, rest} {
		if err := paced(rate, int(rate), send, &warm); err != nil {
			b.Fatal(err)
		}
	}
	var dl, rl latencies
	before := serverLatency(b, p)
	b.ResetTimer()
	for s := range pacedSlices {
		n := b.N*(s+1)/pacedSlices - b.N*s/pacedSlices
		if err := paced(rate, n, direct, &dl); err != nil {
			b.Fatal(err)
		}
		if err := paced(rate, n, rest, &rl); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(rate, "target-msgs/s")
	// The adapter's own histogram (arrival to answer): what of the tail
	// is the adapter's, and what the machine's (scheduling of the load
	// generator and its connections).
	b.ReportMetric(serverLatency(b, p).p99Since(before), "rest-server-p99-ms-at-most")
	d50, d99 := dl.quantiles()
	r50, r99 := rl.quantiles()
	b.ReportMetric(d50, "direct-p50-ms")
	b.ReportMetric(d99, "direct-p99-ms")
	b.ReportMetric(r50, "rest-p50-ms")
	b.ReportMetric(r99, "rest-p99-ms")
	if d99 > 0 {
		b.ReportMetric(r99/d99, "p99-vs-direct")
	}
}

// paced calls send n times at rate per second, each call in its own
// goroutine, and adds to lat each one's latency from the time it was due,
// not from the time it was sent: a stall delays the clock of every request
// due during it (no coordinated omission).
func paced(rate float64, n int, send func(i int) error, lat *latencies) error {
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, maxPacedInFlight)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := send(i); err != nil {
				first.CompareAndSwap(nil, &err)
				return
			}
			lat.add(due)
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return nil
}

// benchWebhook measures events delivered to a local receiver that takes
// them at once: records produced straight to Kafka, a subscription
// delivering them.
func benchWebhook(b *testing.B, p *serviceProc, kafka, suffix string) {
	topic := "bench.rest.hook." + suffix + "." + strconv.Itoa(b.N)
	createTopics(b, kafka, 3, topic)
	var got atomic.Int64
	done := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if got.Add(1) == int64(b.N) {
			close(done)
		}
		w.WriteHeader(204)
	}))
	defer recv.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	resp, err := http.Post(p.url+"/v1/subscriptions", "application/json",
		strings.NewReader(fmt.Sprintf(`{"topic":%q,"url":%q,"secret":"whsec_c2VjcmV0"}`, topic, recv.URL)))
	if err != nil || resp.StatusCode != 201 {
		b.Fatalf("subscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 1000)), Value: restPayload(i)}
	}
	b.ResetTimer()
	start := time.Now()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d delivered", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// quantiles returns p50 and p99 in ms (0 with no samples).
func (l *latencies) quantiles() (p50, p99 float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0
	}
	slices.Sort(l.d)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(l.d[len(l.d)/2]), ms(l.d[len(l.d)*99/100])
}

// histogram is a scrape of the adapter's produce latency histogram:
// cumulative counts by upper bound (seconds).
type histogram map[float64]float64

// serverLatency scrapes meshwork_rest_http_request_seconds of the v2
// produce route from the adapter's /metrics.
func serverLatency(b *testing.B, p *serviceProc) histogram {
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	h := histogram{}
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "meshwork_rest_http_request_seconds_bucket{") || !strings.Contains(line, `route="POST /topics/{topic}"`) {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		le, err1 := strconv.ParseFloat(line[i+4:i+4+j], 64)
		n, err2 := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err1 == nil && err2 == nil {
			h[le] = n
		}
	}
	return h
}

// p99Since returns the upper bound (ms) of the bucket holding the 99th
// percentile of the requests observed since before.
func (h histogram) p99Since(before histogram) float64 {
	bounds := slices.Sorted(maps.Keys(h))
	if len(bounds) == 0 {
		return 0
	}
	total := h[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	for _, le := range bounds {
		if h[le]-before[le] >= 0.99*total {
			return le * 1000
		}
	}
	return 0
}
