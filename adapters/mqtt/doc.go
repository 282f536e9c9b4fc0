// Package mqtt bridges a site's MQTT broker and its Kafka cluster in both
// directions: topic filters map to Kafka topics on the way in (PUBACK only
// after Kafka acknowledged), Kafka topics map to MQTT topics on the way out
// (offsets committed only after the broker's PUBACK).
//
// The adapter speaks MQTT 3.1.1 through paho.mqtt.golang, with a persistent
// session (a stable client id, clean session off) and manual
// acknowledgements, so a message is released by the broker only once it is
// in Kafka; a crash of the adapter or of Kafka loses nothing, since the
// broker redelivers what was not acknowledged (QoS 1 may then duplicate).
//
// Ingress (ingress.go) keeps a bounded window of messages in flight to
// Kafka and releases PUBACKs in the order the PUBLISHes arrived, as MQTT
// 3.1.1 §4.6 asks, even when Kafka completes them out of order. Back-pressure
// is the withheld acknowledgement: the broker stops sending at its own
// in-flight limit. Rules with a schema encode JSON payloads to Avro in the
// Confluent wire format (or check Avro payloads); payloads that do not fit,
// and records Kafka refuses for good, go to _mesh.dlq.<topic> before the
// device's message is acknowledged.
//
// Egress (egress.go) consumes with a consumer group and marks a record for
// commit only after its publish completed, in order per partition. Records
// that this adapter's own ingress produced (header mesh_adapter equal to the
// client id, mesh_origin equal to the site) are skipped, so a topic bridged
// both ways does not loop. MQTT 3.1.1 has no user properties: the envelope
// headers do not travel to MQTT.
//
// Config (config.go) is one YAML document; README.md describes it with an
// example.
package mqtt
