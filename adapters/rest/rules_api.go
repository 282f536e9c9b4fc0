package rest

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/meshwork/meshwork/adapters"
)

// restTopic is the Kafka topic of the produce routes: the one the request
// path names.
const restTopic = "{topic}"

// Rules tells the adapter's rules (GET /v1/rules). Its produce routes
// count as one ingress rule per route family (REST Proxy v2, v3,
// CloudEvents to a named topic, and one per configured event type rule of
// POST /events); each webhook subscription is an egress rule named by its
// id, its protocol side the URL without query or credentials (they may
// hold secrets).
func (a *Adapter) Rules() adapters.RulesInfo {
	info := adapters.RulesInfo{Component: adapters.Component("rest", a.cfg.Site), Protocol: "rest", Site: a.cfg.Site, ID: "rest/" + a.cfg.Site}
	in := func(name, route, topic string) {
		info.Rules = append(info.Rules, adapters.RuleInfo{Name: name, Direction: adapters.DirectionIngress, Protocol: route, Topic: topic})
	}
	in("produce-v2", "POST /topics/{topic}", restTopic)
	in("produce-v3", "POST /v3/clusters/{cluster}/topics/{topic}/records", restTopic)
	in("events-to-topic", "POST /topics/{topic}/events", restTopic)
	for i, r := range a.events {
		in(fmt.Sprintf("events[%d]", i), "POST /events (type "+r.typ+")", r.topic.String())
	}
	for _, s := range a.hooks.list() {
		info.Rules = append(info.Rules, adapters.RuleInfo{Name: s.ID, Direction: adapters.DirectionEgress, Protocol: redactURL(s.URL),
			Topics: []string{s.Topic}, Pattern: s.Pattern, Group: a.hooks.group(s.ID)})
	}
	return info
}

// redactURL is u without its query, fragment and user information
// (subscriptions hold none, but a query may carry a token).
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

// withRules serves GET /v1/rules before api, outside its authentication:
// as /metrics and /readyz, it is for the mesh's operators and the control
// plane, which hold no client credentials. It shows the webhook
// subscriptions' ids, topics and URLs, never their queries, credentials,
// headers or secrets.
func (a *Adapter) withRules(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+adapters.RulesPath, adapters.RulesHandler(a.Rules))
	mux.Handle("/", api)
	return mux
}
