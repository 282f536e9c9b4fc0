package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// faultProxy is a TCP proxy between the mesh and a Kafka cluster that the
// test degrades at will: Shopify's toxiproxy, run in this process as a
// library (no toxiproxy server, no HTTP API).
type faultProxy struct {
	p *toxiproxy.Proxy
}

// startFaultProxy forwards listen to upstream until the test ends.
func startFaultProxy(t *testing.T, name, listen, upstream string) *faultProxy {
	t.Helper()
	// Toxics log through zerolog's global logger at trace level, a line
	// per interrupted write: keep the test's output to what matters.
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, listen, upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("proxy %s -> %s: %v", listen, upstream, err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{p: p}
}

// cut partitions the link: every byte either way is dropped and the
// connections stay open, as when a network path fails silently; new
// connections are accepted and hang the same way. heal ends it.
func (f *faultProxy) cut(t *testing.T) {
	t.Helper()
	f.add(t, "cut-up", "upstream", "timeout", `{"timeout": 0}`)
	f.add(t, "cut-down", "downstream", "timeout", `{"timeout": 0}`)
}

// latency delays every chunk each way by d.
func (f *faultProxy) latency(t *testing.T, d time.Duration) {
	t.Helper()
	attrs := fmt.Sprintf(`{"latency": %d, "jitter": %d}`, d.Milliseconds(), d.Milliseconds()/10)
	f.add(t, "latency-up", "upstream", "latency", attrs)
	f.add(t, "latency-down", "downstream", "latency", attrs)
}

// bandwidth limits what flows from the cluster to the mesh (fetched
// records) to kBps kilobytes a second.
func (f *faultProxy) bandwidth(t *testing.T, kBps int) {
	t.Helper()
	f.add(t, "bandwidth-down", "downstream", "bandwidth", fmt.Sprintf(`{"rate": %d}`, kBps))
}

// heal removes every toxic. Connections a cut held are closed, so clients
// reconnect rather than read a stream with a hole in it.
func (f *faultProxy) heal() {
	f.p.Toxics.ResetToxics(context.Background())
}

func (f *faultProxy) add(t *testing.T, name, stream, kind, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"name": %q, "type": %q, "stream": %q, "toxicity": 1.0, "attributes": %s}`, name, kind, stream, attrs)
	if _, err := f.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("toxic %s: %v", name, err)
	}
}
