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
// It is not for production: kfake is a faithful but single-process Kafka, and
// the embedded broker keeps sessions in memory.
package devmesh
