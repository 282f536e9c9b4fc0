// Package devmesh runs a whole multi-site Meshwork mesh inside one process,
// for the quickstart and for development: each site gets an embedded Kafka
// cluster (franz-go's kfake, persisted on disk so a restart keeps the events)
// and an embedded MQTT broker, on fixed loopback ports that any ordinary
// client can use.
//
// Around them run the mesh's own services, each built from its config type
// and constructor and driven through the lifecycle every service shares
// (service.Service), as its command would: the schema registry, the MQTT
// adapter and the replicator of each site (services.go says how each is
// configured; unit.go runs them). A new service joins the dev mesh the same
// way.
//
// The embedded MQTT broker (mochi-mqtt, set up in broker.go) never
// acknowledges a QoS 1 or 2 message it could then drop for the site's MQTT
// adapter: while the adapter's session holds mqtt.session_queue messages,
// publishers are held (no PUBACK, their connection not read) rather than
// dropped (flow.go). A subscriber that cannot keep up is disconnected, so
// that it cannot stop the others. What survives a restart of the dev mesh,
// or a kill of its process:
//
//   - Kafka: every record Kafka acknowledged (<dir>/<site>/kafka).
//   - MQTT (<dir>/<site>/mqtt): persistent sessions (clean session off, or
//     an MQTT 5 session expiry), their subscriptions, retained messages,
//     and the QoS 1 and 2 messages acknowledged to their publishers and not
//     yet acknowledged by a subscriber. A killed process may lose a message
//     acknowledged in the microseconds before the broker stored it for its
//     subscribers (mochi acknowledges first); a crashed machine may lose
//     what the page cache had not written (the store does not sync each
//     write). Clean sessions and QoS 0 messages end with the process, as
//     MQTT allows.
//
// The dev mesh is open (no TLS, no credentials) and listens on loopback
// only. Config.Secure (meshd dev -secure) runs it as a production mesh
// should run (secure.go): a CA of its own and TLS on every listener,
// SASL/SCRAM-SHA-512 and ACLs on each site's Kafka, MQTT over TLS with
// user names and passwords, a
// principal per service, and users admin and viewer under a policy whose
// rules the embedded brokers enforce too (policy.go).
//
// It is not for production: kfake is a faithful but single-process Kafka,
// and mochi-mqtt is an embedded broker with the limits broker.go works
// around.
package devmesh
