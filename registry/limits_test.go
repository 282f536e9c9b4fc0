package registry

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowUpload opens a connection that sends a POST's headers at once and
// then its body a byte per interval, until ctx ends; it returns the status
// line the server answers with (or "" when it answers nothing).
func slowUpload(ctx context.Context, t testing.TB, addr, path string, interval time.Duration) <-chan string {
	out := make(chan string, 1)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n{", path, addr, contentType)
	go func() {
		defer close(out)
		st, err := bufio.NewReader(conn).ReadString('\n')
		if err == nil {
			out <- strings.TrimSpace(st)
		}
	}()
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	return out
}

func hostOf(url string) string { return strings.TrimPrefix(url, "http://") }

func TestSlowBodyIsCutOff(t *testing.T) {
	in := startInstance(t, newCluster(t), func(c *Config) { c.RequestTimeout = 500 * time.Millisecond })
	in.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	status := <-slowUpload(ctx, t, hostOf(in.url), "/subjects/s/versions", 200*time.Millisecond)
	if !strings.Contains(status, " 408 ") {
		t.Fatalf("a body sent a byte every 200ms: %q", status)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut off after %s, want about request_timeout (500ms)", d)
	}
}

func TestTooLargeSchemasAre42209(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	big := func(n int) string {
		return fmt.Sprintf(`{"type":"record","name":"Big","doc":"%s","fields":[]}`, strings.Repeat("x", n))
	}
	// Beyond what a record of the log holds: refused as it is read.
	r := in.do(t, "POST", "/subjects/big-value/versions", map[string]any{"schema": big(4300 << 10)})
	wantErr(t, r, 422, codeSchemaTooLarge, "Register operation failed because schema is too large")
	// A body within the limit whose record is not: refused before Kafka.
	in.reg.limits.maxRecord.Store(10000)
	wantErr(t, in.do(t, "POST", "/subjects/big-value/versions", map[string]any{"schema": big(20000)}),
		422, codeSchemaTooLarge, "Register operation failed because schema is too large")
	// And if the log refuses a record anyway, the answer is the same.
	in.reg.limits.maxRecord.Store(4 << 20)
	wantErr(t, in.do(t, "POST", "/subjects/big-value/versions", map[string]any{"schema": big(1100 << 10)}),
		422, codeSchemaTooLarge, "Register operation failed because schema is too large")
	in.reg.limits.maxRecord.Store(defaultMaxRecord)
	in.register(t, "big-value", big(100<<10))
}

func TestCapsAnswer429WithRetryAfter(t *testing.T) {
	in := startInstance(t, newCluster(t), func(c *Config) {
		c.MaxRequests, c.MaxUploads = 3, 2
		c.RequestTimeout = 20 * time.Second
	})
	in.waitReady(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var slow []<-chan string
	for range 2 {
		slow = append(slow, slowUpload(ctx, t, hostOf(in.url), "/subjects/s/versions", 100*time.Millisecond))
	}
	waitUntil(t, "two uploads in progress", func() bool { return len(in.reg.limits.uploads) == 2 })
	// A third upload: no place.
	r := in.do(t, "POST", "/subjects/s/versions", map[string]any{"schema": `"int"`})
	if r.status != 429 || r.header.Get("Retry-After") != "1" || r.errorCode() != 429 {
		t.Fatalf("an upload beyond max_uploads: %d %v %s", r.status, r.header, r.body)
	}
	// Reads go on.
	in.must(t, 200, "GET", "/subjects", nil)
	// With every request place taken, reads are refused too, at once.
	third := slowUploadHeld(t, in)
	defer third()
	r = in.do(t, "GET", "/subjects", nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("a request beyond max_requests: %d %s", r.status, r.body)
	}
	cancel()
	for _, c := range slow {
		<-c
	}
}

// slowUploadHeld takes the last request place as a request in flight
// would, and returns the function that gives it back.
func slowUploadHeld(t *testing.T, in *instance) func() {
	t.Helper()
	select {
	case in.reg.limits.requests <- struct{}{}:
	default:
		t.Fatal("no request place left to take")
	}
	return func() { <-in.reg.limits.requests }
}

// rss returns the process's resident set size in bytes.
func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: cannot measure RSS here")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestSlowClientsAreAnsweredAndReadsStayFast opens 300 connections that send
// a POST body a byte every 100ms, as the attack in issue 16 did, and
// meanwhile reads schemas by id: reads stay fast, and every slow client is
// answered (429 at once beyond
// max_uploads, 408 at request_timeout) and disconnected.
func TestSlowClientsAreAnsweredAndReadsStayFast(t *testing.T) {
	const clients = 300
	in := startInstance(t, newCluster(t), func(c *Config) { c.RequestTimeout = 2 * time.Second })
	in.waitReady(t)
	id := in.register(t, "s-value", orderV1)
	get := func() time.Duration {
		start := time.Now()
		in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil)
		return time.Since(start)
	}
	for range 50 {
		get()
	}
	before := rss(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	answers := make([]<-chan string, clients)
	for i := range clients {
		answers[i] = slowUpload(ctx, t, hostOf(in.url), "/subjects/s-value/versions", 100*time.Millisecond)
	}
	var lat []time.Duration
	peak := before
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		lat = append(lat, get())
		peak = max(peak, rss(t))
	}
	var mu sync.Mutex
	counts := map[string]int{}
	for _, a := range answers {
		st := <-a
		mu.Lock()
		counts[strings.Join(strings.Fields(st)[1:2], "")]++
		mu.Unlock()
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("%d slow clients: answers %v; %d reads by id meanwhile, p50 %s, p99 %s; RSS %d MiB before, peak %d MiB (+%d MiB)",
		clients, counts, len(lat), p50, p99, before>>20, peak>>20, (peak-before)>>20)
	if counts["429"]+counts["408"] != clients {
		t.Fatalf("answers %v, want 429 or 408 for all %d", counts, clients)
	}
	if p99 > 250*time.Millisecond {
		t.Fatalf("reads slowed down: p99 %s", p99)
	}
	// The memory bound is asserted on the registry's own process, in
	// TestIntegrationRegistrySlowClients: here the clients, the race
	// detector's shadow memory and the package's other tests share the
	// process's RSS, which then says little about the server.
}
