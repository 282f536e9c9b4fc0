package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIntegrationRegistrySlowClients measures the registry process under
// the attack of issue 16: 300 connections that send a schema's body a byte
// every 100ms. Meanwhile a client reads a schema by id as fast as it can.
// The registry's RSS stays flat (it was 51 MB going to 461 MB before the
// limits), reads stay fast, and every slow client is answered, 429 at once
// beyond max_uploads or 408 at request_timeout, and disconnected.
func TestIntegrationRegistrySlowClients(t *testing.T) {
	const clients = 300
	east := env(t, "MESH_E2E_KAFKA_EAST")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	topic := uniq("_schemas-slowclients")
	dropTopicAfter(t, east, topic)
	port := freePorts(t, 1)[0]
	reg := startService(t, bin, "registry-east", fmt.Sprintf(
		"site: east\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\ntopic: %s\ngroup: %s\nreplication_factor: 1\nrequest_timeout: 3s\n",
		port, east, topic, topic), port)
	addr := strings.TrimPrefix(reg.url, "http://")

	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Post(reg.url+"/subjects/slow-value/versions", "application/vnd.schemaregistry.v1+json",
		strings.NewReader(`{"schema":"{\"type\":\"record\",\"name\":\"S\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}`))
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ ID int }
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	get := func() time.Duration {
		start := time.Now()
		resp, err := cl.Get(fmt.Sprintf("%s/schemas/ids/%d", reg.url, res.ID))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("read by id during the attack: %s", resp.Status)
		}
		return time.Since(start)
	}
	rssOf := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", reg.cmd.Process.Pid))
		if err != nil {
			t.Skipf("cannot read the registry's RSS here: %v", err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
		return 0
	}
	var base []time.Duration
	for range 200 {
		base = append(base, get())
	}
	before := rssOf()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	answers := make(chan string, clients)
	for range clients {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		context.AfterFunc(ctx, func() { conn.Close() })
		fmt.Fprintf(conn, "POST /subjects/slow-value/versions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: 100000\r\n\r\n{", addr)
		go func() {
			st, _ := bufio.NewReader(conn).ReadString('\n')
			f := strings.Fields(st)
			code := "none"
			if len(f) > 1 {
				code = f[1]
			}
			answers <- code
		}()
		go func() {
			for ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
	}
	var during []time.Duration
	peak := before
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
		during = append(during, get())
		peak = max(peak, rssOf())
	}
	counts := map[string]int{}
	for range clients {
		select {
		case c := <-answers:
			counts[c]++
		case <-ctx.Done():
			t.Fatalf("slow clients not all answered: %v", counts)
		}
	}
	cancel()
	p := func(ds []time.Duration, q int) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)*q/100]
	}
	t.Logf("registry RSS %d MiB before, peak %.1f MiB during %d slow clients (+%.1f MiB); reads by id p50/p99 %s/%s before, %s/%s during (%d reads); answers %v",
		before>>20, float64(peak)/(1<<20), clients, float64(peak-before)/(1<<20), p(base, 50), p(base, 99), p(during, 50), p(during, 99), len(during), counts)
	if counts["429"]+counts["408"] != clients {
		t.Fatalf("answers %v: want 429 or 408 for every slow client", counts)
	}
	if peak-before > 32<<20 {
		t.Fatalf("RSS grew by %d MiB", (peak-before)>>20)
	}
	if p(during, 99) > 200*time.Millisecond {
		t.Fatalf("reads slowed down: p99 %s", p(during, 99))
	}
}
