package controlplane

import (
	"context"
	"regexp"
	"strings"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/interest"
)

// adapterRules reads the rules the adapter at admin was configured with
// (GET /v1/rules), bounded by the same timeout as its health check. An
// adapter that is down, or too old to have the endpoint, is skipped: the
// note says so, and its catalog entries rest on what Kafka shows alone.
func (s *Server) adapterRules(ctx context.Context, admin string) (*adapters.RulesInfo, string) {
	var info adapters.RulesInfo
	if err := s.getJSON(ctx, admin+adapters.RulesPath, &info); err != nil {
		return nil, "its rules are not known (GET " + adapters.RulesPath + "): " + err.Error()
	}
	return &info, ""
}

// adapterUses tells the adapters' rules that read topic or write it at
// t's site, merging three sources:
//   - the rules the site's adapters report (/v1/rules), which name idle
//     and ingress rules too;
//   - the egress leases (named <adapter>/<rule>) and webhooks' leases;
//   - the mesh_adapter header of the topic's sampled records written at
//     the site (the adapter, without the rule).
//
// An ingress rule whose Kafka topic is a template ({kind}) cannot be
// matched by name alone: it is listed for a topic the template can render
// to only when the topic's sampled records carry that adapter's
// mesh_adapter header, so a catch-all template does not claim every
// topic of the site. An egress pattern (a webhook's) is matched as leases
// are.
func adapterUses(topic string, t *TopicAtSite, rules []adapters.RulesInfo) []AdapterUse {
	out := []AdapterUse{}
	seen := map[[3]string]bool{} // adapter, rule, direction
	add := func(u AdapterUse) {
		k := [3]string{u.Adapter, u.Rule, u.Direction}
		if !seen[k] {
			seen[k] = true
			out = append(out, u)
		}
	}
	wrote := map[string]bool{} // adapters whose records were sampled
	for _, p := range t.Producers {
		if p.Adapter != "" && p.Origin == t.Site {
			wrote[p.Adapter] = true
		}
	}
	named := map[[2]string]bool{} // adapter, direction with a named rule
	reported := map[string]bool{} // <adapter>/<rule>, as leases name them
	for _, info := range rules {
		for _, r := range info.Rules {
			if !ruleTouches(r, topic, wrote[info.ID]) {
				continue
			}
			add(AdapterUse{Adapter: info.ID, Rule: r.Name, Direction: r.Direction, Component: info.Component, Protocol: r.Protocol, Configured: true})
			named[[2]string{info.ID, r.Direction}] = true
			reported[info.ID+"/"+r.Name] = true
		}
	}
	for _, l := range t.Interest {
		switch l.Kind {
		case interest.KindAdapterEgress.String():
			if reported[l.Source] {
				continue
			}
			adapter, rule := l.Source, ""
			if i := strings.LastIndexByte(l.Source, '/'); i >= 0 {
				adapter, rule = l.Source[:i], l.Source[i+1:]
			}
			add(AdapterUse{Adapter: adapter, Rule: rule, Direction: adapters.DirectionEgress})
		case interest.KindWebhook.String():
			if reported[l.Source] { // the REST adapter's rest/<site>/<subscription>
				continue
			}
			add(AdapterUse{Adapter: l.Source, Direction: "webhook"})
		}
	}
	for _, p := range t.Producers {
		if p.Adapter != "" && p.Origin == t.Site && !named[[2]string{p.Adapter, adapters.DirectionIngress}] {
			add(AdapterUse{Adapter: p.Adapter, Direction: adapters.DirectionIngress})
		}
	}
	return out
}

// ruleTouches reports whether rule r reads or writes topic; wrote says
// whether the topic's sampled records carry the rule's adapter's
// mesh_adapter header.
func ruleTouches(r adapters.RuleInfo, topic string, wrote bool) bool {
	switch r.Direction {
	case adapters.DirectionIngress:
		if !strings.Contains(r.Topic, "{") {
			return r.Topic == topic
		}
		return wrote && templateMatches(r.Topic, topic)
	case adapters.DirectionEgress:
		for _, t := range r.Topics {
			if t == topic || r.Pattern && matches(t, topic) {
				return true
			}
		}
	}
	return false
}

// templateMatches reports whether the topic template tmpl (literal text
// and {placeholders}) can render to topic: a placeholder stands for any
// non-empty text.
func templateMatches(tmpl, topic string) bool {
	var b strings.Builder
	b.WriteString("^")
	for rest := tmpl; rest != ""; {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]) + ".+")
		rest = rest[j+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(topic)
}
