package adapters

import (
	"encoding/json"
	"net/http"
)

// RulesPath is where every adapter answers with its configured rules, on
// its listen address beside /metrics, /healthz and /readyz.
const RulesPath = "/v1/rules"

// Rule directions in a RuleInfo.
const (
	// DirectionIngress carries protocol messages into Kafka.
	DirectionIngress = "ingress"
	// DirectionEgress carries Kafka records out to the protocol.
	DirectionEgress = "egress"
)

// RulesInfo is what an adapter answers at GET /v1/rules: who it is and
// every rule it was configured with, whether or not a message has crossed
// it yet. The control plane reads it so that its catalog can name the
// rules that read or write a topic, an idle one and an ingress one
// included (neither leaves a trace in Kafka to infer it from).
type RulesInfo struct {
	// Component is the adapter's component name, e.g. mqtt-adapter/east.
	Component string `json:"component"`
	// Protocol is mqtt, amqp or rest; Site the site the adapter serves.
	Protocol string `json:"protocol"`
	Site     string `json:"site"`
	// ID is the adapter's id on its protocol (MQTT client id, AMQP
	// container id), the value of the mesh_adapter header of the records
	// its ingress writes and the owner of its egress leases.
	ID    string     `json:"id"`
	Rules []RuleInfo `json:"rules"`
}

// RuleInfo describes one configured rule.
type RuleInfo struct {
	// Name is the rule's name (ingress[i] or egress[i] when unnamed).
	Name string `json:"name"`
	// Direction is DirectionIngress or DirectionEgress.
	Direction string `json:"direction"`
	// Protocol is the protocol side as configured: an MQTT filter or
	// topic template, an AMQP address, a REST path or a webhook's URL.
	Protocol string `json:"protocol"`
	// Topic is an ingress rule's Kafka topic, or its template (it then
	// holds placeholders such as {kind}).
	Topic string `json:"topic,omitempty"`
	// Topics are an egress rule's Kafka topics; a REST webhook's may be
	// patterns (Pattern set).
	Topics  []string `json:"topics,omitempty"`
	Pattern bool     `json:"pattern,omitempty"`
	// Group is an egress rule's consumer group.
	Group string `json:"group,omitempty"`
	// Subject is the schema registry subject an ingress rule with a
	// schema checks against, <topic>-value.
	Subject string `json:"subject,omitempty"`
}

// IngressRuleInfo describes an ingress rule whose protocol side is
// protocol and whose target is t.
func IngressRuleInfo(protocol string, t IngressTarget) RuleInfo {
	r := RuleInfo{Name: t.Name, Direction: DirectionIngress, Protocol: protocol}
	if t.Topic != nil {
		r.Topic = t.Topic.String()
	}
	if t.Schema != "" && r.Topic != "" {
		// TopicNameStrategy, as the ingress looks the schema up.
		r.Subject = r.Topic + "-value"
	}
	return r
}

// EgressRuleInfo describes the egress rule name reading src with group.
func EgressRuleInfo(name, group string, src EgressSource) RuleInfo {
	r := RuleInfo{Name: name, Direction: DirectionEgress, Topics: src.Topics, Group: group}
	if src.To != nil {
		r.Protocol = src.To.String()
	}
	return r
}

// RulesHandler serves GET /v1/rules with what info returns, read at each
// request (a REST adapter's webhook subscriptions change while it runs).
func RulesHandler(info func() RulesInfo) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+RulesPath, func(w http.ResponseWriter, _ *http.Request) {
		in := info()
		if in.Rules == nil {
			in.Rules = []RuleInfo{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(in)
	})
	return mux
}

// Component is the component name of the adapter for protocol at site,
// as its dead letters, leases and trace hops name it.
func Component(protocol, site string) string { return protocol + "-adapter/" + site }

// RulesReporter is an adapter that tells its rules (every adapter does);
// whoever serves it mounts RulesHandler(Rules) where the adapter's admin
// URL points.
type RulesReporter interface {
	Rules() RulesInfo
}
