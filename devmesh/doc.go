// Package devmesh runs a whole multi-site Meshwork mesh inside one process,
// for the quickstart and for development: each site gets an embedded Kafka
// cluster (franz-go's kfake, persisted on disk so a restart keeps the events)
// and an embedded MQTT broker, on fixed loopback ports that any ordinary
// client can use. The mesh's services plug into it as they are built.
//
// It is not for production: kfake is a faithful but single-process Kafka, and
// the embedded broker keeps sessions in memory.
package devmesh
