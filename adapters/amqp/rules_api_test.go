package amqp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// TestRulesEndpointListsEveryConfiguredRule checks GET /v1/rules: the
// container id and every rule as configured, a topic template as written,
// before any message crossed them.
func TestRulesEndpointListsEveryConfiguredRule(t *testing.T) {
	kafka := kafkatest.Cluster(t)
	cfg := testConfig(kafka)
	cfg.Ingress = []IngressRule{
		{Name: "orders", Address: "orders", Topic: "legacy.orders"},
		{Name: "prices", Address: "topic:prices", Topic: "legacy.{subject}"},
	}
	cfg.Egress = []EgressRule{{Topics: []string{"svc.replies"}, Address: "{header.mesh_reply_to}", Allow: []string{"replies.*"}, Durable: true}}
	a, err := New(cfg, quietLog(), nil, testKafkaOpts...)
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
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", adapters.RulesPath, resp.Status)
	}
	var got adapters.RulesInfo
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := adapters.RulesInfo{Component: "amqp-adapter/east", Protocol: "amqp", Site: "east", ID: "meshwork-amqp-east", Rules: []adapters.RuleInfo{
		{Name: "orders", Direction: "ingress", Protocol: "orders", Topic: "legacy.orders"},
		{Name: "prices", Direction: "ingress", Protocol: "topic:prices", Topic: "legacy.{subject}"},
		{Name: "egress[0]", Direction: "egress", Protocol: "{header.mesh_reply_to}", Topics: []string{"svc.replies"}, Group: "meshwork-amqp-east-egress_0_"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GET /v1/rules\n got %+v\nwant %+v", got, want)
	}
}
