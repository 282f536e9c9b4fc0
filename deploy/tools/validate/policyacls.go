package validate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshwork/meshwork/policy"
)

// PolicyUsers checks the security policy of an overlay's build (the
// ConfigMap meshwork-policy, when the policy component is in it; a policy
// that does not parse is ConfigMaps' to report) against
// the overlay's Strimzi KafkaUsers: every principal of the policy's
// services block must be a KafkaUser of the namespace, or the services'
// Kafka principals and the policy's would be two names for one service
// (an error). gaps lists, without failing, the Kafka ACLs the policy
// implies for those users (policy.KafkaACLs, as `meshctl policy kafka-acls`
// prints them) that their KafkaUser does not grant: the overlays' users
// are often narrower on purpose (a site's own transactional ids and
// groups), so a gap is for a person to judge, not an error.
func PolicyUsers(objs []any) (gaps []string, _ error) {
	users := map[string]*KafkaUser{}
	for _, o := range objs {
		if u, ok := o.(*KafkaUser); ok {
			users[u.Namespace+"/"+u.Name] = u
		}
	}
	var errs []error
	for _, o := range objs {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok || cm.Name != PolicyConfigMap {
			continue
		}
		for key, data := range cm.Data {
			name := "ConfigMap/" + cm.Namespace + "/" + cm.Name + "/" + key
			p, err := policy.Parse(name, []byte(data))
			if err != nil {
				continue // ConfigMaps reports it, for the services that read it
			}
			s := p.File().Services
			for _, sv := range []struct{ field, principal string }{
				{"replicator", s.Replicator}, {"registry", s.Registry}, {"mqtt", s.MQTT},
				{"amqp", s.AMQP}, {"rest", s.REST}, {"controlplane", s.ControlPlane},
			} {
				if sv.principal != "" && users[cm.Namespace+"/"+sv.principal] == nil {
					errs = append(errs, fmt.Errorf("%s: services.%s is %q, but there is no KafkaUser of that name in %s: name the service's Kafka principal (its KafkaUser, the SASL user of its configuration)",
						name, sv.field, sv.principal, cm.Namespace))
				}
			}
			for _, a := range p.KafkaACLs().ACLs {
				u := users[cm.Namespace+"/"+strings.TrimPrefix(a.Principal, "User:")]
				if a.Permission != "ALLOW" || u == nil || grants(u, a) {
					continue
				}
				gaps = append(gaps, fmt.Sprintf("KafkaUser/%s/%s does not grant %s %s on %s %s %s (%s of %s)",
					u.Namespace, u.Name, a.Permission, a.Operation, a.PatternType, a.ResourceType, a.ResourceName, a.From, name))
			}
		}
	}
	slices.Sort(gaps)
	return slices.Compact(gaps), errors.Join(errs...)
}

// strimziTypes maps the Admin API's resource types to Strimzi's.
var strimziTypes = map[string]string{"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactionalId", "CLUSTER": "cluster"}

// grants reports whether an allow ACL of u covers a: the same resource
// type, the operation (or All), and a resource that holds a's (* holds
// every name, a prefix every name and prefix it begins).
func grants(u *KafkaUser, a policy.ACL) bool {
	if u.Spec.Authorization == nil {
		return false
	}
	op := strimziOperation(a.Operation)
	for _, r := range u.Spec.Authorization.ACLs {
		if r.Type == "deny" || r.Resource.Type != strimziTypes[a.ResourceType] {
			continue
		}
		if !slices.Contains(r.Operations, op) && !slices.Contains(r.Operations, "All") {
			continue
		}
		if r.Resource.Type == "cluster" {
			return true
		}
		name, prefixed := r.Resource.Name, r.Resource.PatternType == "prefix"
		switch {
		case name == "*" && !prefixed:
			return true
		case prefixed && strings.HasPrefix(a.ResourceName, name) && a.ResourceName != "*":
			return true
		case !prefixed && a.PatternType == "LITERAL" && a.ResourceName == name:
			return true
		}
	}
	return false
}

// strimziOperation turns an Admin API operation (DESCRIBE_CONFIGS) into
// Strimzi's spelling (DescribeConfigs).
func strimziOperation(op string) string {
	var b strings.Builder
	for w := range strings.SplitSeq(strings.ToLower(op), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}
