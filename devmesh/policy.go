package devmesh

import (
	"bytes"
	"fmt"
	"path"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.yaml.in/yaml/v3"
)

// devPolicy is the secure dev mesh's policy, in the shape of the mesh's
// policy.yaml: admin and the mesh's services may do everything, viewer may
// read, consume and describe. The same rules make the embedded Kafka's
// ACLs (kafkaACLs) and the embedded MQTT broker's rights (mqttRights), so
// that every path enforces the one file.
type devPolicy struct {
	Rules    []policyRule      `yaml:"rules"`
	Services map[string]string `yaml:"services"`
}

// policyRule grants actions on resources to principals (* patterns).
type policyRule struct {
	Name       string   `yaml:"name,omitempty"`
	Principals []string `yaml:"principals"`
	Actions    []string `yaml:"actions"`
	Resources  []string `yaml:"resources"`
}

// The actions of the policy that the embedded brokers enforce.
const (
	actionAll      = "*"
	actionProduce  = "produce"
	actionConsume  = "consume"
	actionDescribe = "describe"
	actionRead     = "read"
)

func newDevPolicy(users Credentials) devPolicy {
	return devPolicy{
		Rules: []policyRule{
			{Name: "admins", Principals: []string{users.Admin.Username, "svc-*"}, Actions: []string{actionAll}, Resources: []string{"*"}},
			{Name: "viewers", Principals: []string{users.Viewer.Username}, Actions: []string{actionRead, actionConsume, actionDescribe}, Resources: []string{"*"}},
		},
		Services: map[string]string{
			"registry":     principalRegistry,
			"mqtt":         principalMQTT,
			"amqp":         principalAMQP,
			"rest":         principalREST,
			"replicator":   principalReplicator,
			"controlplane": principalControlPlane,
		},
	}
}

// write writes the policy to file, with a header saying where it comes
// from. It is written at each start: the embedded brokers' ACLs follow it.
func (p devPolicy) write(file string) error {
	var buf bytes.Buffer
	buf.WriteString("# The secure dev mesh's policy, written by meshd dev -secure at each start.\n" +
		"# Every service of the dev mesh reads it; its embedded Kafka's ACLs and MQTT\n" +
		"# broker's rights follow the same rules. Deny by default: what no rule grants\n" +
		"# is refused.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := writeFileAtomic(file, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("dev mesh: write policy: %w", err)
	}
	return nil
}

// actions returns what the rules grant principal, on any resource.
func (p devPolicy) actions(principal string) []string {
	var out []string
	for _, r := range p.Rules {
		if slices.ContainsFunc(r.Principals, func(pat string) bool { ok, _ := path.Match(pat, principal); return ok }) {
			out = append(out, r.Actions...)
		}
	}
	return out
}

// kafkaACLs are the Kafka ACLs the rules imply for principals: * is every
// operation on topics, groups, transactional ids and the cluster; produce
// writes topics (idempotently, and with transactions, as the replicator
// does); consume reads topics and groups; describe and read describe
// topics, groups and the cluster. The dev mesh's rules grant on every
// resource, so the ACLs name every resource (*).
func (p devPolicy) kafkaACLs(principals []string) []*kadm.ACLBuilder {
	var out []*kadm.ACLBuilder
	for _, pr := range principals {
		user := "User:" + pr
		acts := p.actions(pr)
		switch {
		case slices.Contains(acts, actionAll):
			out = append(out, kadm.NewACLs().Allow(user).Topics("*").Groups("*").TransactionalIDs("*").Clusters().Operations(kadm.OpAll))
			continue
		case len(acts) == 0:
			continue
		}
		if slices.Contains(acts, actionProduce) {
			out = append(out,
				kadm.NewACLs().Allow(user).Topics("*").TransactionalIDs("*").Operations(kadm.OpWrite, kadm.OpDescribe),
				kadm.NewACLs().Allow(user).Clusters().Operations(kadm.OpIdempotentWrite))
		}
		if slices.Contains(acts, actionConsume) {
			out = append(out, kadm.NewACLs().Allow(user).Topics("*").Groups("*").Operations(kadm.OpRead))
		}
		if slices.Contains(acts, actionDescribe) || slices.Contains(acts, actionRead) {
			out = append(out,
				kadm.NewACLs().Allow(user).Topics("*").Groups("*").Operations(kadm.OpDescribe, kadm.OpDescribeConfigs),
				kadm.NewACLs().Allow(user).Clusters().Operations(kadm.OpDescribe))
		}
	}
	return out
}

// mqttRights says what a principal may do on the embedded MQTT broker:
// publish with * or produce, subscribe (and be sent messages) with * or
// consume.
func (p devPolicy) mqttRights(principal string) (publish, subscribe bool) {
	acts := p.actions(principal)
	all := slices.Contains(acts, actionAll)
	return all || slices.Contains(acts, actionProduce), all || slices.Contains(acts, actionConsume)
}
