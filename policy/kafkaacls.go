package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ACL is one Kafka ACL binding, as kafka-acls.sh and the Admin API name
// its parts.
type ACL struct {
	Principal    string `json:"principal"`      // User:<name>, or User:* for every principal
	Permission   string `json:"permission"`     // ALLOW or DENY
	Operation    string `json:"operation"`      // READ, WRITE, DESCRIBE, CREATE, DESCRIBE_CONFIGS, IDEMPOTENT_WRITE
	ResourceType string `json:"resource_type"`  // TOPIC, GROUP, TRANSACTIONAL_ID, CLUSTER
	ResourceName string `json:"resource_name"`  // * alone is every resource of the type
	PatternType  string `json:"pattern_type"`   // LITERAL or PREFIXED
	Host         string `json:"host"`           // always *
	From         string `json:"from,omitempty"` // the rule, or services.<name>, it comes from
}

// ACLs is what KafkaACLs derives from a policy.
type ACLs struct {
	ACLs []ACL `json:"acls"`
	// Notes say where Kafka ACLs cannot say what the policy says: a
	// principal pattern (expanded to the principals the policy names), a
	// resource pattern other than name or prefix* (widened to its prefix).
	Notes []string `json:"notes,omitempty"`
}

// What the mesh's own services use in Kafka, beyond the data topics the
// policy's rules grant their principals. Each is the default of the
// service's code (a test of that package holds it to this list).
const (
	// ReplicatorTransactionalIDPrefix begins the transactional ids of the
	// replicator's exactly-once flows (meshwork-replicator.<target>.from.<source>.<slot>).
	ReplicatorTransactionalIDPrefix = "meshwork-replicator."
	// ReplicatorGroupPrefix begins the replicator's slot group (meshwork-replicator-<site>).
	ReplicatorGroupPrefix = "meshwork-replicator-"
	// RegistryTopic, RegistryGroup and RegistryTransactionalID are the
	// schema log, the registry's election group and its writer's id.
	RegistryTopic           = "_schemas"
	RegistryGroup           = "meshwork-registry"
	RegistryTransactionalID = "meshwork-registry-writer"
	// MeshTopicPrefix begins the mesh's own topics (_mesh.interest,
	// _mesh.trace, _mesh.dlq.<topic>, ...).
	MeshTopicPrefix = "_mesh."
)

type grant struct {
	typ, name, pattern string
	ops                []string
}

func lit(typ, name string, ops ...string) grant { return grant{typ, name, "LITERAL", ops} }
func pre(typ, name string, ops ...string) grant { return grant{typ, name, "PREFIXED", ops} }

// serviceNeeds lists each service's own needs: what its code does in
// Kafka whatever its rules.
var serviceNeeds = map[string][]grant{
	// It reads any topic of interest at the other sites, writes and
	// creates (with the origin's configs) the copies at its own, in
	// transactions with its checkpoints, and discovers consumer groups.
	"replicator": {
		lit("TOPIC", "*", "READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"),
		pre("GROUP", ReplicatorGroupPrefix, "READ", "DESCRIBE"),
		lit("GROUP", "*", "DESCRIBE"),
		pre("TRANSACTIONAL_ID", ReplicatorTransactionalIDPrefix, "WRITE", "DESCRIBE"),
		lit("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE", "DESCRIBE"),
	},
	"registry": {
		lit("TOPIC", RegistryTopic, "READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"),
		lit("GROUP", RegistryGroup, "READ", "DESCRIBE"),
		lit("TRANSACTIONAL_ID", RegistryTransactionalID, "WRITE", "DESCRIBE"),
		lit("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"),
	},
	"mqtt": adapterNeeds("mqtt"),
	"amqp": adapterNeeds("amqp"),
	"rest": append(adapterNeeds("rest"),
		pre("TRANSACTIONAL_ID", "meshwork-rest-", "WRITE", "DESCRIBE"), // idempotent produce
	),
	// It reads every site's catalog: topics and their configs, groups and
	// their lag, interest and traces; and declares interest.
	"controlplane": {
		lit("TOPIC", "*", "DESCRIBE", "DESCRIBE_CONFIGS"),
		pre("TOPIC", MeshTopicPrefix, "READ", "WRITE", "DESCRIBE", "CREATE"),
		lit("GROUP", "*", "DESCRIBE"),
		lit("CLUSTER", "kafka-cluster", "DESCRIBE", "IDEMPOTENT_WRITE"),
	},
}

// adapterNeeds: the mesh's topics (dead letters, interest leases, traces,
// the REST adapter's subscriptions and idempotency log), its egress
// groups (meshwork-<protocol>-<site>-<rule>), idempotent writes. The
// topics it bridges are the policy rules' to grant.
func adapterNeeds(protocol string) []grant {
	return []grant{
		pre("TOPIC", MeshTopicPrefix, "READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"),
		pre("GROUP", "meshwork-"+protocol+"-", "READ", "DESCRIBE"),
		lit("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"),
	}
}

// kafkaOps maps the policy's topic actions to Kafka operations: to grant,
// and to deny (a deny of produce refuses WRITE, not the DESCRIBE a grant
// of produce brings along).
var kafkaOps = map[string]struct{ allow, deny []string }{
	ActionProduce:  {[]string{"WRITE", "DESCRIBE"}, []string{"WRITE"}},
	ActionConsume:  {[]string{"READ", "DESCRIBE"}, []string{"READ"}},
	ActionDescribe: {[]string{"DESCRIBE"}, []string{"DESCRIBE"}},
}

// KafkaACLs derives the Kafka ACLs the policy implies: for each rule's
// principals, its topic actions on its topics (produce: WRITE and
// DESCRIBE; consume: READ and DESCRIBE on the topics and READ on the
// rule's groups, or every group when it names none; describe: DESCRIBE),
// deny rules as DENY bindings, and for each service of the services map
// what its code needs. Principal patterns other than * cannot be Kafka
// principals: they are expanded to the principals the policy names
// (rules and services); resource patterns to LITERAL or PREFIXED ones.
func (p *Policy) KafkaACLs() ACLs {
	var out ACLs
	known := p.knownPrincipals()
	noted := map[string]bool{}
	note := func(format string, args ...any) {
		if s := fmt.Sprintf(format, args...); !noted[s] {
			noted[s] = true
			out.Notes = append(out.Notes, s)
		}
	}
	add := func(permission, principal, from string, g grant) {
		for _, op := range g.ops {
			out.ACLs = append(out.ACLs, ACL{Principal: principal, Permission: permission, Operation: op,
				ResourceType: g.typ, ResourceName: g.name, PatternType: g.pattern, Host: "*", From: from})
		}
	}
	rules := func(list []Rule, deny bool, section string) {
		for i, r := range list {
			from := fmt.Sprintf("%s[%d]", section, i)
			if r.Name != "" {
				from = fmt.Sprintf("%s (%s)", r.Name, from)
			}
			grants := ruleGrants(r, deny, note, from)
			if len(grants) == 0 {
				continue
			}
			permission := "ALLOW"
			if deny {
				permission = "DENY"
			}
			for _, who := range r.Principals {
				for _, principal := range kafkaPrincipals(who, known, note, from) {
					for _, g := range grants {
						add(permission, principal, from, g)
					}
				}
			}
		}
	}
	rules(p.file.Rules, false, "rules")
	rules(p.file.Deny, true, "deny")
	for _, f := range p.file.Services.fields() {
		if *f.name == "" {
			continue
		}
		for _, g := range serviceNeeds[f.key] {
			add("ALLOW", "User:"+*f.name, "services."+f.key, g)
		}
	}
	out.ACLs = dedupe(out.ACLs)
	return out
}

// ruleGrants turns a rule's topic and group resources and actions into
// Kafka grants.
func ruleGrants(r Rule, deny bool, note func(string, ...any), from string) []grant {
	var ops []string // operations on the rule's topics
	consume, describe := false, false
	for _, a := range r.Actions {
		names := []string{a}
		if a == "*" {
			names = []string{ActionProduce, ActionConsume, ActionDescribe}
		}
		for _, n := range names {
			m, ok := kafkaOps[n]
			if !ok {
				continue
			}
			consume = consume || n == ActionConsume
			describe = describe || n == ActionDescribe
			if deny {
				ops = append(ops, m.deny...)
			} else {
				ops = append(ops, m.allow...)
			}
		}
	}
	if len(ops) == 0 {
		return nil
	}
	ops = uniq(ops)
	var topics, groups []string
	for _, res := range r.Resources {
		switch {
		case res == "*":
			topics, groups = append(topics, "*"), append(groups, "*")
		case strings.HasPrefix(res, KindTopic+":"):
			topics = append(topics, strings.TrimPrefix(res, KindTopic+":"))
		case strings.HasPrefix(res, KindGroup+":"):
			groups = append(groups, strings.TrimPrefix(res, KindGroup+":"))
		}
	}
	var out []grant
	for _, t := range topics {
		out = append(out, kafkaResource("TOPIC", t, ops, note, from))
	}
	// A consumer needs its group: the rule's, or any when it names none.
	var groupOps []string
	switch {
	case consume:
		groupOps = []string{"READ"}
		if describe && !deny {
			groupOps = append(groupOps, "DESCRIBE")
		}
	case describe:
		groupOps = []string{"DESCRIBE"}
	}
	if len(groupOps) > 0 && len(topics) > 0 && len(groups) == 0 && !deny {
		groups = []string{"*"}
	}
	if len(groupOps) > 0 {
		for _, g := range groups {
			out = append(out, kafkaResource("GROUP", g, groupOps, note, from))
		}
	}
	return out
}

// kafkaResource is a * pattern as a Kafka resource: * alone is every
// resource, name* a PREFIXED one, a name a LITERAL one; anything else is
// widened to the prefix before its first *.
func kafkaResource(typ, pat string, ops []string, note func(string, ...any), from string) grant {
	cp := compilePattern(pat)
	switch prefix, single := cp.prefix(); {
	case cp.any:
		return lit(typ, "*", ops...)
	case cp.exact:
		return lit(typ, pat, ops...)
	case single:
		return pre(typ, prefix, ops...)
	case prefix == "":
		note("%s: %s %q cannot be a Kafka ACL resource; widened to every %s", from, strings.ToLower(typ), pat, strings.ToLower(typ))
		return lit(typ, "*", ops...)
	default:
		note("%s: %s %q cannot be a Kafka ACL resource; widened to the prefix %q", from, strings.ToLower(typ), pat, prefix)
		return pre(typ, prefix, ops...)
	}
}

// kafkaPrincipals returns the Kafka principals of a rule's principal.
func kafkaPrincipals(who string, known []string, note func(string, ...any), from string) []string {
	cp := compilePattern(who)
	switch {
	case who == "*":
		return []string{"User:*"}
	case cp.exact:
		return []string{"User:" + who}
	}
	var out []string
	for _, k := range known {
		if cp.match(k) {
			out = append(out, "User:"+k)
		}
	}
	if len(out) == 0 {
		note("%s: principal pattern %q matches no principal the policy names; Kafka ACLs cannot hold patterns, so it grants nothing in Kafka", from, who)
	} else {
		note("%s: principal pattern %q expanded to the principals the policy names: %s", from, who, strings.Join(out, ", "))
	}
	return out
}

// knownPrincipals are the principal names the policy spells out: in rules
// and in the services map.
func (p *Policy) knownPrincipals() []string {
	var out []string
	for _, list := range [][]Rule{p.file.Rules, p.file.Deny} {
		for _, r := range list {
			for _, who := range r.Principals {
				if !strings.Contains(who, "*") {
					out = append(out, who)
				}
			}
		}
	}
	for _, f := range p.file.Services.fields() {
		if *f.name != "" {
			out = append(out, *f.name)
		}
	}
	return uniq(out)
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// dedupe sorts the bindings (by principal, resource, permission,
// operation) and keeps the first of each, with the rule it came from.
func dedupe(acls []ACL) []ACL {
	slices.SortStableFunc(acls, func(a, b ACL) int {
		return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.ResourceType, b.ResourceType),
			cmp.Compare(a.ResourceName, b.ResourceName), cmp.Compare(a.PatternType, b.PatternType),
			cmp.Compare(a.Permission, b.Permission), cmp.Compare(a.Operation, b.Operation))
	})
	return slices.CompactFunc(acls, func(a, b ACL) bool {
		a.From, b.From = "", ""
		return a == b
	})
}
