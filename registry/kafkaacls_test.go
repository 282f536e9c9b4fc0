package registry

import (
	"testing"

	"github.com/meshwork/meshwork/policy"
)

// meshctl policy kafka-acls grants the registry's principal its topic,
// group and transactional id by name: they must stay the defaults.
func TestKafkaACLsNameTheRegistrysDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.Topic != policy.RegistryTopic || c.Group != policy.RegistryGroup || c.Group+"-writer" != policy.RegistryTransactionalID {
		t.Fatalf("topic %q, group %q: policy/kafkaacls.go says %q, %q, %q", c.Topic, c.Group, policy.RegistryTopic, policy.RegistryGroup, policy.RegistryTransactionalID)
	}
}
