package policy

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// binding is ACLs with one principal, permission and resource, and their
// operations: one kafka-acls.sh command, one Strimzi acl entry.
type binding struct {
	principal, permission, typ, name, pattern string
	ops                                       []string
	from                                      []string
}

func (a ACLs) bindings() []binding {
	var out []binding
	for _, acl := range a.ACLs {
		n := len(out) - 1
		if n < 0 || out[n].principal != acl.Principal || out[n].permission != acl.Permission || out[n].typ != acl.ResourceType ||
			out[n].name != acl.ResourceName || out[n].pattern != acl.PatternType {
			out = append(out, binding{principal: acl.Principal, permission: acl.Permission, typ: acl.ResourceType, name: acl.ResourceName, pattern: acl.PatternType})
			n++
		}
		out[n].ops = append(out[n].ops, acl.Operation)
		if !slices.Contains(out[n].from, acl.From) {
			out[n].from = append(out[n].from, acl.From)
		}
	}
	return out
}

// camel turns an operation (DESCRIBE_CONFIGS) into kafka-acls.sh's and
// Strimzi's spelling (DescribeConfigs).
func camel(op string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(op), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:/", c))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Commands writes the ACLs as kafka-acls.sh commands, one per principal,
// permission and resource, with the notes as comments first. They read
// the brokers from $BOOTSTRAP and the admin client's settings from
// $ADMIN_CONFIG.
func (a ACLs) Commands() string {
	var b strings.Builder
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "# note: %s\n", n)
	}
	last := ""
	for _, bd := range a.bindings() {
		if bd.principal != last {
			if last != "" || len(a.Notes) > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "# %s\n", bd.principal)
			last = bd.principal
		}
		fmt.Fprintf(&b, "kafka-acls.sh --bootstrap-server \"$BOOTSTRAP\" --command-config \"$ADMIN_CONFIG\" --add --%s-principal %s",
			strings.ToLower(bd.permission), shellQuote(bd.principal))
		for _, op := range bd.ops {
			fmt.Fprintf(&b, " --operation %s", camel(op))
		}
		switch bd.typ {
		case "TOPIC":
			fmt.Fprintf(&b, " --topic %s", shellQuote(bd.name))
		case "GROUP":
			fmt.Fprintf(&b, " --group %s", shellQuote(bd.name))
		case "TRANSACTIONAL_ID":
			fmt.Fprintf(&b, " --transactional-id %s", shellQuote(bd.name))
		case "CLUSTER":
			b.WriteString(" --cluster")
		}
		if bd.pattern == "PREFIXED" {
			b.WriteString(" --resource-pattern-type prefixed")
		}
		fmt.Fprintf(&b, "  # %s\n", strings.Join(bd.from, "; "))
	}
	return b.String()
}

// Strimzi returns the ACLs as Strimzi KafkaUser resources (one YAML
// document per principal) for the Kafka cluster named cluster. Bindings
// of User:* apply to every user, as Strimzi has no wildcard user.
func (a ACLs) Strimzi(cluster string) (string, error) {
	type resource struct {
		Type        string `yaml:"type"`
		Name        string `yaml:"name,omitempty"`
		PatternType string `yaml:"patternType,omitempty"`
	}
	type acl struct {
		Resource   resource `yaml:"resource"`
		Operations []string `yaml:"operations"`
		Host       string   `yaml:"host"`
		Type       string   `yaml:"type"`
	}
	users := map[string][]acl{}
	var everyone []acl
	for _, bd := range a.bindings() {
		r := resource{Type: map[string]string{"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactionalId", "CLUSTER": "cluster"}[bd.typ]}
		if bd.typ != "CLUSTER" {
			r.Name, r.PatternType = bd.name, map[string]string{"LITERAL": "literal", "PREFIXED": "prefix"}[bd.pattern]
		}
		var ops []string
		for _, op := range bd.ops {
			ops = append(ops, camel(op))
		}
		e := acl{Resource: r, Operations: ops, Host: "*", Type: strings.ToLower(bd.permission)}
		name := strings.TrimPrefix(bd.principal, "User:")
		if name == "*" {
			everyone = append(everyone, e)
			continue
		}
		users[name] = append(users[name], e)
	}
	var b strings.Builder
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "# note: %s\n", n)
	}
	if len(everyone) > 0 {
		b.WriteString("# note: the bindings of every principal (User:*) are in each KafkaUser below\n")
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		doc := map[string]any{
			"apiVersion": "kafka.strimzi.io/v1beta2",
			"kind":       "KafkaUser",
			"metadata":   map[string]any{"name": name, "labels": map[string]string{"strimzi.io/cluster": cluster}},
			"spec":       map[string]any{"authorization": map[string]any{"type": "simple", "acls": append(users[name], everyone...)}},
		}
		b.WriteString("---\n")
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return "", err
		}
		if err := enc.Close(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}
