package rest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/adapters"
)

// GET /v1/rules lists the produce route families as ingress rules and
// each webhook subscription as an egress rule, its URL without query or
// credentials.
func TestRulesEndpointListsRoutesAndWebhooks(t *testing.T) {
	e := webhookEnv(t, nil, func(c *Config) { c.Events = []EventRule{{Type: "shop.*", Topic: "events.{type}"}} })
	id := e.subscribe(`{"topic":"orders","url":"http://127.0.0.1:9/hook?token=secret","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`)

	status, _, body := e.do("GET", adapters.RulesPath, "", nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", adapters.RulesPath, status, body)
	}
	if strings.Contains(string(body), "secret") {
		t.Fatalf("rules show a credential: %s", body)
	}
	var got adapters.RulesInfo
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Component != "rest-adapter/east" || got.ID != "rest/east" {
		t.Fatalf("adapter %+v", got)
	}
	byName := map[string]adapters.RuleInfo{}
	for _, r := range got.Rules {
		byName[r.Name] = r
	}
	for name, want := range map[string]adapters.RuleInfo{
		"produce-v2": {Name: "produce-v2", Direction: "ingress", Protocol: "POST /topics/{topic}", Topic: "{topic}"},
		"events[0]":  {Name: "events[0]", Direction: "ingress", Protocol: "POST /events (type shop.*)", Topic: "events.{type}"},
		id:           {Name: id, Direction: "egress", Protocol: "http://127.0.0.1:9/hook", Topics: []string{"orders"}, Group: "meshwork-rest-east-" + id},
	} {
		r := byName[name]
		if r.Name != want.Name || r.Direction != want.Direction || r.Protocol != want.Protocol || r.Topic != want.Topic ||
			strings.Join(r.Topics, ",") != strings.Join(want.Topics, ",") || r.Group != want.Group {
			t.Errorf("rule %s: got %+v, want %+v", name, r, want)
		}
	}
}
