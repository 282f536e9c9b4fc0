package mqtt

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/adapters"
)

// TestRulesEndpointListsEveryConfiguredRule checks GET /v1/rules: the
// adapter's id and every rule as configured, before any message crossed
// it (the control plane's catalog names idle rules from it).
func TestRulesEndpointListsEveryConfiguredRule(t *testing.T) {
	kafka := startKafka(t)
	cfg := testConfig("tcp://127.0.0.1:1", kafka)
	cfg.Ingress = []IngressRule{
		{Name: "telemetry", Filter: "plant/{line}/temp", Topic: "plant.temp", Schema: &RuleSchema{Format: adapters.FormatJSON}},
		{Filter: "sensors/#", Topic: "sensors.raw"},
	}
	cfg.Egress = []EgressRule{{Name: "commands", Topics: []string{"plant.cmd", "plant.cfg"}, MQTTTopic: "cmd/{key}"}}
	cfg.Registry.URL = "http://127.0.0.1:1"
	a, err := New(cfg, quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + adapters.RulesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s, %s", adapters.RulesPath, resp.Status, resp.Header.Get("Content-Type"))
	}
	var got adapters.RulesInfo
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := adapters.RulesInfo{Component: "mqtt-adapter/east", Protocol: "mqtt", Site: "east", ID: "adapter-east-1", Rules: []adapters.RuleInfo{
		{Name: "telemetry", Direction: "ingress", Protocol: "plant/{line}/temp", Topic: "plant.temp", Subject: "plant.temp-value"},
		{Name: "ingress[1]", Direction: "ingress", Protocol: "sensors/#", Topic: "sensors.raw"},
		{Name: "commands", Direction: "egress", Protocol: "cmd/{key}", Topics: []string{"plant.cmd", "plant.cfg"}, Group: "meshwork-mqtt-east-commands"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GET /v1/rules\n got %+v\nwant %+v", got, want)
	}
}
