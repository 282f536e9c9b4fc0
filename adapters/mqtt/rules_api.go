package mqtt

import (
	"net/http"

	"github.com/meshwork/meshwork/adapters"
)

// Rules tells the adapter's configured rules (GET /v1/rules): ingress
// rules by their MQTT filter, egress rules by their MQTT topic template.
func (a *Adapter) Rules() adapters.RulesInfo {
	info := adapters.RulesInfo{Component: adapters.Component("mqtt", a.cfg.Site), Protocol: "mqtt", Site: a.cfg.Site, ID: a.cfg.Broker.ClientID}
	if a.in != nil {
		for i, r := range a.in.rules { // compiled in the order configured
			info.Rules = append(info.Rules, adapters.IngressRuleInfo(a.cfg.Ingress[i].Filter, r.IngressTarget))
		}
	}
	for _, r := range a.rules {
		info.Rules = append(info.Rules, adapters.EgressRuleInfo(r.name, r.group, r.EgressSource))
	}
	return info
}

// Handler serves GET /v1/rules beside /metrics, /healthz and /readyz; it
// makes the adapter a service.HTTPService.
func (a *Adapter) Handler() http.Handler { return adapters.RulesHandler(a.Rules) }
