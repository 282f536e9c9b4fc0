package amqp

import (
	"net/http"

	"github.com/meshwork/meshwork/adapters"
)

// Rules tells the adapter's configured rules (GET /v1/rules): ingress
// rules by the address they attach to, egress rules by their address
// template.
func (a *Adapter) Rules() adapters.RulesInfo {
	info := adapters.RulesInfo{Component: adapters.Component("amqp", a.cfg.Site), Protocol: "amqp", Site: a.cfg.Site, ID: a.cfg.containerID()}
	if a.in != nil {
		for _, r := range a.in.rules {
			info.Rules = append(info.Rules, adapters.IngressRuleInfo(r.address, r.IngressTarget))
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
