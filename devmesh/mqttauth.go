package devmesh

import (
	"crypto/subtle"
)

// mqttAuth authenticates the clients of a secure dev mesh's MQTT broker
// (user name and password in CONNECT) and says what each may do, by the
// policy's rules (devPolicy.mqttRights). The site's MQTT adapter session
// (the bridge into Kafka, which the flow hook never lets drop a message)
// is kept for the adapter's own principal: another user taking its client
// id would take over its session.
type mqttAuth struct {
	passwords  map[string]string
	rights     map[string][2]bool // publish, subscribe
	bridge     string             // the adapter's client id
	bridgeUser string             // and its principal
}

func newMQTTAuth(sec *security, bridge string) *mqttAuth {
	a := &mqttAuth{passwords: sec.passwords, rights: map[string][2]bool{}, bridge: bridge, bridgeUser: principalMQTT}
	for user := range sec.passwords {
		pub, sub := sec.policy.mqttRights(user)
		a.rights[user] = [2]bool{pub, sub}
	}
	return a
}

// authenticate reports whether the CONNECT of clientID carries a known
// user's password.
func (a *mqttAuth) authenticate(clientID string, user, password []byte) bool {
	want, ok := a.passwords[string(user)]
	if !ok || subtle.ConstantTimeCompare([]byte(want), password) != 1 {
		return false
	}
	return clientID != a.bridge || string(user) == a.bridgeUser
}

// allowed reports whether user may publish (write) or subscribe and
// receive.
func (a *mqttAuth) allowed(user []byte, write bool) bool {
	r := a.rights[string(user)]
	if write {
		return r[0]
	}
	return r[1]
}
