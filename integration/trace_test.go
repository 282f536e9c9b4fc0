package integration

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.opentelemetry.io/otel"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/controlplane/traceindex"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/trace"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it keeps, per trace id,
// the services and span names it was sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans map[string][]string // trace id -> "service: span name"
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	b, err := io.ReadAll(io.LimitReader(body, 32<<20))
	var req coltrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				id := hex.EncodeToString(sp.TraceId)
				o.spans[id] = append(o.spans[id], service+": "+sp.Name)
			}
		}
	}
	o.mu.Unlock()
	resp, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (o *otlpReceiver) of(traceID string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.spans[traceID]...)
}

// TestIntegrationTraceMQTTToWest: an MQTT message published at east (real
// Mosquitto) goes through the MQTT adapter into east's Kafka and is copied
// by west's replicator (a process) to west, where a consumer receives it.
// The control plane's trace index, following west's _mesh.trace (where
// west's replicator brings east's hops), shows every hop in causal order
// with plausible times; an OTLP receiver got spans of one trace from the
// adapter and the replicator; and a payload that misfits its schema shows
// a hop with outcome dlq.
func TestIntegrationTraceMQTTToWest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	broker, east, west := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	suffix := uniq("trace")
	topic := "it.trace." + suffix
	createTopics(t, east, 1, topic)

	recv := &otlpReceiver{spans: map[string][]string{}}
	otlp := httptest.NewServer(recv)
	defer otlp.Close()
	// This process's components (the MQTT adapter) export too.
	tp, err := telemetry.StartTracing(ctx, telemetry.TelemetryConfig{OTLP: telemetry.OTLPConfig{Endpoint: otlp.URL}}, "mesh-mqtt", "east", 1)
	if err != nil {
		t.Fatal(err)
	}
	prev := otel.GetTracerProvider()
	telemetry.UseTracing(tp)
	defer func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) }()

	// A registry, so that a payload can misfit its schema.
	regPort := freePorts(t, 1)[0]
	reg := startService(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry"), "registry",
		fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.%s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\n", regPort, suffix, suffix, east), regPort)
	registerSubject(ctx, t, reg.url, topic+"-value", `{"type":"record","name":"Reading","namespace":"plant","fields":[{"name":"sensor","type":"string"},{"name":"celsius","type":"double"}]}`)

	// West's replicator copies the topic (declared interest) and, as
	// every replicator does, east's _mesh.trace.
	repPort := freePorts(t, 1)[0]
	startService(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-replicator"), "replicator-west",
		replicatorDefaultsConfig("west", repPort, east, west)+fmt.Sprintf(`trace: {sample_rate: 1, flush_interval: 50ms}
telemetry: {otlp: {endpoint: %q}}
interest:
  declared: [{topic: %q}]
flow: {plan_interval: 1s}
`, otlp.URL, topic), repPort)

	cfg := mqtt.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "meshwork-it-" + suffix
	cfg.Kafka.Brokers = []string{east}
	cfg.Registry.URL = reg.url
	cfg.Trace.SampleRate, cfg.Trace.FlushInterval = 1, 50*time.Millisecond
	cfg.Ingress = []mqtt.IngressRule{{Filter: "it/" + suffix + "/{sensor}/temp", QoS: 1, Topic: topic, Schema: &mqtt.RuleSchema{Format: adapters.FormatJSON}}}
	startAdapter(ctx, t, cfg)

	// The control plane's index of west's _mesh.trace.
	icfg := traceindex.DefaultConfig()
	icfg.Dir = t.TempDir()
	ix, err := traceindex.Open(icfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	// The shared clusters' _mesh.trace holds the hops of every earlier
	// run: this index starts at its end, as if it had read them.
	ends, err := kadm.NewClient(mustClient(t, west)).ListEndOffsets(ctx, trace.Topic)
	if err != nil {
		t.Fatal(err)
	}
	start := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			start[o.Partition] = o.Offset
		}
	})
	if err := ix.Apply(nil, start); err != nil {
		t.Fatal(err)
	}
	opts, err := ix.FollowOptions()
	if err != nil {
		t.Fatal(err)
	}
	follower := mustClient(t, west, opts...)
	fctx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { defer close(followed); ix.Follow(fctx, follower) }()
	defer func() { stopFollow(); <-followed }()

	published := time.Now()
	for _, payload := range []string{`{"sensor": "s1", "celsius": 21.5}`, `{"sensor": "s1", "celsius": "hot"}`} {
		run(ctx, t, nil, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", "it/"+suffix+"/s1/temp", "-m", payload)
	}
	rec := consumeN(ctx, t, west, topic, 1)[0] // the consumer at west
	ev := trace.EventOf(rec.Headers)
	if ev.ID == "" || ev.TraceID() == "" {
		t.Fatalf("the record at west carries no ce_id or traceparent: %v", rec.Headers)
	}

	// Every hop, in causal order, with plausible times.
	srv := httptest.NewServer(ix.Handler())
	defer srv.Close()
	var got traceindex.EventTrace
	waitFor(t, 60*time.Second, "the event's hops in the index", func() error {
		got = traceindex.EventTrace{}
		if err := fetchJSON(srv.URL+"/v1/events/"+url.PathEscape(ev.ID)+"/trace", &got); err != nil {
			return err
		}
		if len(got.Hops) < 3 {
			return fmt.Errorf("%d hops: %v", len(got.Hops), steps(got.Hops))
		}
		return nil
	})
	want := []string{"INGRESS mqtt-adapter/east MQTT", "PRODUCED mqtt-adapter/east KAFKA", "REPLICATED replicator/west KAFKA"}
	if s := steps(got.Hops); strings.Join(s, "|") != strings.Join(want, "|") {
		t.Fatalf("hops %v, want %v", s, want)
	}
	if got.TraceID != ev.TraceID() {
		t.Errorf("trace id %s, the record's is %s", got.TraceID, ev.TraceID())
	}
	for i, h := range got.Hops {
		if h.Outcome != trace.OutcomeOK || h.Topic != topic {
			t.Errorf("hop %d: %+v", i, h)
		}
		if h.Time.Before(published.Add(-time.Second)) || h.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("hop %d at %s, published at %s", i, h.Time, published)
		}
		if i > 0 && h.Time.Before(got.Hops[i-1].Time) {
			t.Errorf("hop %d at %s before hop %d at %s", i, h.Time, i-1, got.Hops[i-1].Time)
		}
	}
	if p := got.Hops[1]; p.Partition != 0 || p.Offset < 0 {
		t.Errorf("PRODUCED without its place at east: %+v", p)
	}
	if r := got.Hops[2]; r.Site != "west" || r.Partition != rec.Partition || r.Offset != rec.Offset || r.Address != "kafka://east" {
		t.Errorf("REPLICATED %+v, the record at west is at %d@%d", r, rec.Partition, rec.Offset)
	}
	t.Logf("hops: %v; %s from ingress to west", steps(got.Hops), got.Hops[2].Time.Sub(got.Hops[0].Time))

	// The misfit: an INGRESS hop at the topic and a DEAD_LETTERED hop.
	waitFor(t, 30*time.Second, "the misfit's dlq hop", func() error {
		var recent traceindex.RecentTraces
		if err := fetchJSON(srv.URL+"/v1/traces?topic="+url.QueryEscape(topic)+"&since=10m", &recent); err != nil {
			return err
		}
		for _, s := range recent.Traces {
			if s.ID == ev.ID || s.Outcome != "dlq" {
				continue
			}
			var bad traceindex.EventTrace
			if err := fetchJSON(srv.URL+"/v1/events/"+url.PathEscape(s.ID)+"/trace", &bad); err != nil {
				return err
			}
			last := bad.Hops[len(bad.Hops)-1]
			if last.Action != trace.ActionDeadLettered || last.Outcome != trace.OutcomeDLQ || !strings.Contains(last.Detail, "celsius") {
				return fmt.Errorf("the misfit's last hop: %+v", last)
			}
			return nil
		}
		return fmt.Errorf("no dlq event among %d recent", len(recent.Traces))
	})

	// One trace in the OTLP receiver, with spans from the adapter and the
	// replicator.
	_ = tp.ForceFlush(ctx)
	waitFor(t, 60*time.Second, "spans of the adapter and the replicator", func() error {
		spans := recv.of(ev.TraceID())
		var adapter, replicator bool
		for _, s := range spans {
			adapter = adapter || strings.HasPrefix(s, "mesh-mqtt: process "+topic)
			replicator = replicator || strings.HasPrefix(s, "mesh-replicator: ")
		}
		if !adapter || !replicator {
			return fmt.Errorf("spans of trace %s: %v", ev.TraceID(), spans)
		}
		return nil
	})
	t.Logf("spans of the trace: %v", recv.of(ev.TraceID()))
}

func steps(hops []trace.Hop) []string {
	var out []string
	for _, h := range hops {
		out = append(out, h.Action.String()+" "+h.Component+" "+h.Protocol.String())
	}
	return out
}

func fetchJSON(u string, out any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", u, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

func registerSubject(ctx context.Context, t *testing.T, registry, subject, schema string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"schema": schema})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, registry+"/subjects/"+subject+"/versions", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("registering %s: %s %s", subject, resp.Status, b)
	}
}
