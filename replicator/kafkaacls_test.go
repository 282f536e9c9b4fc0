package replicator

import (
	"strings"
	"testing"

	"github.com/meshwork/meshwork/policy"
)

// meshctl policy kafka-acls grants the replicator's principal its
// transactional ids and group by prefix: they must stay so.
func TestKafkaACLsNameTheReplicatorsIDs(t *testing.T) {
	for _, id := range transactionalIDs("west", flowKey{Source: "east", Slot: 3}) {
		if !strings.HasPrefix(id, policy.ReplicatorTransactionalIDPrefix) {
			t.Errorf("transactional id %q does not begin with %q", id, policy.ReplicatorTransactionalIDPrefix)
		}
	}
	r := &Replicator{cfg: Config{}}
	r.cfg.Site = "west"
	if g := r.groupID(); !strings.HasPrefix(g, policy.ReplicatorGroupPrefix) {
		t.Errorf("group %q does not begin with %q", g, policy.ReplicatorGroupPrefix)
	}
}
