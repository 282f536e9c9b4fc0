package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestSoak runs the mesh at a steady mixed load for 30 minutes
// (MESH_SOAK_FOR shortens it): MQTT ingress from Mosquitto through the
// adapter into Kafka, replication of a Kafka stream from east to west, and
// schema lookups at the registry. It samples each service's RSS every 10 s
// into bench/results/soak.txt and requires memory flat within 10% (the
// median of the first window after warm-up against the last) and nothing
// acknowledged lost. `make soak` runs it and plots the samples; it is not
// part of `make e2e`.
func TestSoak(t *testing.T) {
	if os.Getenv("MESH_SOAK") == "" {
		t.Skip("the soak runs with `make soak` (MESH_SOAK=1; MESH_SOAK_FOR=3m for a short run)")
	}
	dur := 30 * time.Minute
	if s := os.Getenv("MESH_SOAK_FOR"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute {
			t.Fatalf("MESH_SOAK_FOR=%q: want a duration of a minute or more", s)
		}
		dur = d
	}
	out := os.Getenv("MESH_SOAK_OUT")
	if out == "" {
		out = filepath.Join("..", "bench", "results", "soak.txt")
	}
	broker, east, west := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	ctx, cancel := context.WithTimeout(context.Background(), dur+10*time.Minute)
	defer cancel()
	suffix := fmt.Sprint(time.Now().UnixNano())
	mqttTopic, repTopic := "soak.mqtt."+suffix, "soak.orders."+suffix
	createTopics(t, east, 3, mqttTopic, repTopic)
	ports := freePorts(t, 3)

	mqttBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-mqtt")
	repBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator")
	regBin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	adapter := startService(t, mqttBin, "mqtt", fmt.Sprintf(`site: east
listen: 127.0.0.1:%d
broker: {url: %s, client_id: meshwork-soak-%s}
kafka: {brokers: [%s]}
ingress:
  - {filter: soak/%s/#, topic: %s, qos: 1}
`, ports[0], broker, suffix, east, suffix, mqttTopic), ports[0])
	rep := startService(t, repBin, "replicator-west", strings.Replace(replicatorConfig("west", ports[1], east, west, "exactly_once", repTopic, mqttTopic),
		"log: {level: debug}", "log: {level: info}", 1), ports[1])
	reg := startService(t, regBin, "registry", fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.soak.%s\ngroup: registry-soak-%s\nkafka:\n  brokers: [%s]\n",
		ports[2], suffix, suffix, east), ports[2])
	procs := []struct {
		name string
		p    *serviceProc
	}{{"mesh-mqtt", adapter}, {"mesh-replicator", rep}, {"mesh-registry", reg}}

	lctx, stopLoad := context.WithTimeout(ctx, dur)
	defer stopLoad()
	var wg sync.WaitGroup

	// MQTT ingress: 100 QoS 1 messages a second from one device.
	mqttTally := newTally()
	wg.Go(func() { soakMQTT(lctx, t, broker, suffix, 100, mqttTally) })
	// Replication: 200 records a second at east, copied to west.
	repTally := newTally()
	load := startKafkaLoad(ctx, t, east, repTopic, 200, dur, repTally)
	// Registry: 20 schemas, then 50 lookups a second.
	var lookups, lookupErrs int
	var ids []int
	for i := range 20 {
		id, err := registerSchema(ctx, reg.url, "soak"+suffix, i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	wg.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for i := 0; lctx.Err() == nil; i++ {
			select {
			case <-tk.C:
			case <-lctx.Done():
				return
			}
			lookups++
			if _, err := schemaByID(ctx, reg.url, ids[i%len(ids)]); err != nil && lctx.Err() == nil {
				lookupErrs++
			}
		}
	})

	// RSS of each service every 10 s.
	type sample struct {
		at  time.Duration
		mib [3]float64
	}
	var samples []sample
	begin := time.Now()
	tk := time.NewTicker(10 * time.Second)
	for lctx.Err() == nil {
		select {
		case <-tk.C:
		case <-lctx.Done():
			continue
		}
		s := sample{at: time.Since(begin)}
		for i, p := range procs {
			rss, err := currentRSS(p.p.cmd.Process.Pid)
			if err != nil {
				t.Fatalf("%s: %v (did it exit?)", p.name, err)
			}
			s.mib[i] = float64(rss) / (1 << 20)
		}
		samples = append(samples, s)
	}
	tk.Stop()
	wg.Wait()
	load.wait(t)

	// Memory: the run is cut in six windows; the first is warm-up, the
	// second is compared with the last.
	w := dur / 6
	var txt strings.Builder
	fmt.Fprintf(&txt, "# make soak: %s of MQTT ingress (100 msg/s QoS 1), replication east -> west (200 rec/s), registry lookups (50/s)\n", dur)
	fmt.Fprintf(&txt, "# RSS sampled every 10 s; BenchmarkSoak lines are each window's median (window %s)\n", w)
	for _, s := range samples {
		for i, p := range procs {
			fmt.Fprintf(&txt, "BenchmarkSoakSample/%s/t=%05.0fs-1 1 %.1f RSS-MiB-sample\n", p.name, s.at.Seconds(), s.mib[i])
		}
	}
	for i, p := range procs {
		var medians []float64
		for k := range 6 {
			var in []float64
			for _, s := range samples {
				if s.at >= time.Duration(k)*w && s.at < time.Duration(k+1)*w || k == 5 && s.at >= 5*w {
					in = append(in, s.mib[i])
				}
			}
			m := medianOf(in)
			medians = append(medians, m)
			fmt.Fprintf(&txt, "BenchmarkSoak/%s/%s-%s-1 1 %.1f RSS-MiB\n", p.name, w*time.Duration(k), w*time.Duration(k+1), m)
		}
		first, last := medians[1], medians[5]
		t.Logf("%s RSS: %.1f MiB after warm-up, %.1f MiB at the end (%+.1f%%)", p.name, first, last, 100*(last-first)/first)
		if first > 0 && (last > first*1.1 || last < first*0.9) {
			t.Errorf("%s RSS moved from %.1f to %.1f MiB (more than 10%%) over the soak", p.name, first, last)
		}
	}

	collect(ctx, t, east, mqttTopic, mqttTally, 2*time.Minute)
	collect(ctx, t, west, repTopic, repTally, 2*time.Minute)
	mqttTally.report(t, "soak: MQTT ingress", fmt.Sprintf("100 msg/s QoS 1 for %s", dur), true, dur)
	repTally.report(t, "soak: replication east -> west (exactly_once)", fmt.Sprintf("200 rec/s for %s", dur), false, dur)
	t.Logf("registry: %d lookups, %d failed", lookups, lookupErrs)
	if lookupErrs > 0 {
		t.Errorf("%d of %d registry lookups failed", lookupErrs, lookups)
	}
	fmt.Fprintf(&txt, "# registry lookups: %d, failed: %d\n", lookups, lookupErrs)
	for _, c := range []struct {
		name string
		t    *tally
	}{{"mqtt", mqttTally}, {"replication", repTally}} {
		sent, acked, delivered, dup, lost := c.t.counts()
		fmt.Fprintf(&txt, "# %s: sent %d, acked %d, delivered %d, dup %d, lost %d\n", c.name, sent, acked, delivered, dup, lost)
	}
	if err := os.WriteFile(out, []byte(txt.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// soakMQTT publishes numbered QoS 1 messages at perSecond until ctx ends;
// a message counts as acknowledged when its PUBACK arrives.
func soakMQTT(ctx context.Context, t *testing.T, broker, suffix string, perSecond int, c *tally) {
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("meshwork-soak-pub-" + suffix).
		SetConnectTimeout(5 * time.Second).SetMaxReconnectInterval(time.Second))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Errorf("connect: %v", tok.Error())
		return
	}
	defer pub.Disconnect(1000)
	tk := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tk.Stop()
	var acks sync.WaitGroup
	for ctx.Err() == nil {
		select {
		case <-tk.C:
		case <-ctx.Done():
			continue
		}
		n := c.send()
		tok := pub.Publish(fmt.Sprintf("soak/%s/%d", suffix, n%10), 1, false, fmt.Sprintf("n=%d", n))
		acks.Go(func() {
			if tok.WaitTimeout(time.Minute) && tok.Error() == nil {
				c.ack(n)
			}
		})
	}
	acks.Wait()
}

func medianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}
