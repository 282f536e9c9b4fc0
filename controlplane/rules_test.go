package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// The catalog names the rules the adapters report at /v1/rules: an idle
// ingress rule (no record written yet) for its topic, an egress rule for
// the topics it reads, and a template rule only for a topic its adapter's
// records are in; an adapter without the endpoint is noted and skipped.
func TestCatalogNamesConfiguredRules(t *testing.T) {
	const idle, templated, other, commands = "plant.temp", "sensors.line1", "sensors.other", "plant.cmd"
	east := kafkatest.Cluster(t, kfake.SeedTopics(1, idle, templated, other, commands))

	mqtt := http.NewServeMux()
	mqtt.Handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ready"}`) }))
	mqtt.Handle("GET "+adapters.RulesPath, adapters.RulesHandler(func() adapters.RulesInfo {
		return adapters.RulesInfo{Component: "mqtt-adapter/east", Protocol: "mqtt", Site: "east", ID: "mqtt-east", Rules: []adapters.RuleInfo{
			{Name: "telemetry", Direction: "ingress", Protocol: "plant/+/temp", Topic: idle},
			{Name: "sensors", Direction: "ingress", Protocol: "sensors/{line}", Topic: "sensors.{line}"},
			{Name: "commands", Direction: "egress", Protocol: "cmd/{key}", Topics: []string{commands}, Group: "g"},
		}}
	}))
	withRules := httptest.NewServer(mqtt)
	defer withRules.Close()
	// An older adapter: ready, without /v1/rules.
	without := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	}))
	defer without.Close()

	meshPath := filepath.Join(t.TempDir(), "mesh.yaml")
	doc := fmt.Sprintf(`sites:
  - name: east
    kafka: {brokers: [%s]}
    adapters:
      - {name: mqtt, admin: %s}
      - {name: amqp, admin: %s}
`, east.ListenAddrs()[0], withRules.URL, without.URL)
	if err := os.WriteFile(meshPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	// The template rule's adapter wrote one topic only.
	cl := kafkatest.Client(t, east)
	kafkatest.Produce(t, cl, &kgo.Record{Topic: templated, Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: "mesh_origin", Value: []byte("east")}, {Key: adapters.HeaderAdapter, Value: []byte("mqtt-east")}}})

	// The egress rule's lease is the same use, listed once.
	ctx := kafkatest.Context(t, wait)
	pub, err := interest.NewPublisher(kafkatest.Client(t, east), "east")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Set(ctx, []interest.Lease{{Topic: commands, Site: "east", Kind: interest.KindAdapterEgress, SourceID: "mqtt-east/commands"}}); err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())

	cfg := DefaultConfig()
	cfg.Site, cfg.MeshFile, cfg.Kafka.Brokers = "east", meshPath, nil
	cfg.RefreshInterval, cfg.Timeout = 200*time.Millisecond, 2*time.Second
	s, err := New(cfg, kafkatest.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	api := httptest.NewServer(s.Handler())
	defer api.Close()

	usesAt := func(topic string) ([]AdapterUse, error) {
		var tp Topic
		if code := call(t, "GET", api.URL+"/v1/topics/"+topic, nil, &tp); code != 200 || len(tp.Sites) != 1 {
			return nil, fmt.Errorf("GET /v1/topics/%s: %d %+v", topic, code, tp)
		}
		if topic == commands && len(tp.Sites[0].Interest) == 0 {
			return nil, fmt.Errorf("the lease of %s not gathered yet", topic)
		}
		return tp.Sites[0].Adapters, nil
	}
	rule := func(name, dir, protocol string) AdapterUse {
		return AdapterUse{Adapter: "mqtt-east", Rule: name, Direction: dir, Component: "mqtt-adapter/east", Protocol: protocol, Configured: true}
	}
	kafkatest.Wait(t, wait, func() error {
		for topic, want := range map[string][]AdapterUse{
			idle:      {rule("telemetry", "ingress", "plant/+/temp")},
			templated: {rule("sensors", "ingress", "sensors/{line}")}, // and not the unnamed ingress of the header
			other:     {},
			commands:  {rule("commands", "egress", "cmd/{key}")}, // and not its lease again
		} {
			got, err := usesAt(topic)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("adapters of %s: got %+v, want %+v", topic, got, want)
			}
		}
		var sites struct{ Sites []Site }
		call(t, "GET", api.URL+"/v1/sites", nil, &sites)
		if len(sites.Sites) != 1 || len(sites.Sites[0].Adapters) != 2 || !strings.Contains(sites.Sites[0].Adapters[1].Note, adapters.RulesPath) ||
			sites.Sites[0].Adapters[0].Note != "" {
			return fmt.Errorf("sites %+v: want a note on the adapter without %s only", sites.Sites, adapters.RulesPath)
		}
		return nil
	})
}

// The OpenAPI document describes every field of a catalog's adapter use.
func TestOpenAPIDescribesAdapterUse(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties struct {
					Sites struct {
						Items struct {
							Properties struct {
								Adapters struct {
									Items struct {
										Properties map[string]any `json:"properties"`
									} `json:"items"`
								} `json:"adapters"`
							} `json:"properties"`
						} `json:"items"`
					} `json:"sites"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for name := range doc.Components.Schemas["Topic"].Properties.Sites.Items.Properties.Adapters.Items.Properties {
		documented = append(documented, name)
	}
	var fields []string
	for f := range reflect.TypeFor[AdapterUse]().Fields() {
		fields = append(fields, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	slices.Sort(documented)
	slices.Sort(fields)
	if !slices.Equal(documented, fields) {
		t.Fatalf("openapi.json Topic.sites[].adapters[] has %v, AdapterUse %v", documented, fields)
	}
}
