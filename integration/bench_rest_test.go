package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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
func BenchmarkRESTProduce(b *testing.B) {
	kafka := env(b, "MESH_E2E_KAFKA_EAST")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "bench.rest." + suffix
	createTopics(b, kafka, 3, topic)
	port := freePorts(b, 1)[0]
	cfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ninstance_id: bench-%s\nmax_in_flight: 100000\nkafka:\n  brokers: [%s]\n  producer: {linger: 1ms}\nwebhooks: {allow_targets: [127.0.0.0/8], subscriptions_topic: _mesh.rest.subscriptions.bench-%s}\nidempotency: {topic: _mesh.rest.idempotency.bench-%s}\nlog: {level: warn}\n", port, suffix, kafka, suffix, suffix)
	p := launchBench(b, buildBinary(b, "github.com/meshwork/meshwork/cmd/mesh-rest"), cfg, port)
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("franz-go-produce/%drec", per), func(b *testing.B) { benchDirect(b, kafka, topic, per) })
		b.Run(fmt.Sprintf("rest-v2/%drec", per), func(b *testing.B) { benchREST(b, p, topic, per) })
	}
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

func benchREST(b *testing.B, p *serviceProc, topic string, per int) {
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
				resp, err := client.Post(p.url+"/topics/"+topic, "application/vnd.kafka.binary.v2+json", bytes.NewReader(prepared))
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
