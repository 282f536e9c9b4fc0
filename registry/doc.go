// Package registry is the mesh's schema registry: an HTTP API compatible with
// Confluent Schema Registry that stores versioned Avro contracts in the
// _schemas Kafka topic, enforces compatibility, and keeps one schema-id space
// across every site.
//
// A Registry follows the lifecycle of every Meshwork service: New validates
// the configuration and does no network I/O; Start creates the log on the
// primary site, starts reading it and joins the election of the writer;
// Ready says when the schemas are loaded and a leader is known; Close hands
// the writer over, leaves the election and waits for every goroutine.
//
// On a follower site (Config.Primary), the log is the copy the replicator
// keeps in the site's own cluster; writes are forwarded to the primary and
// answered once that copy has brought them, which positions in the log
// tell (writeMark, forward.go, follower.go).
//
// Inside, the state (rebuilt from the log) owns its lock: handlers read it
// through state.read and a view, and write through store.update, which
// plans the records from a view and holds the writer's turn until they are
// applied. No handler takes a lock.
package registry
