// Package amqp bridges an AMQP 1.0 broker (RabbitMQ, ActiveMQ, Artemis)
// and a site's Kafka cluster in both directions, on the adapter core
// (package adapters): a message is settled Accepted only after Kafka
// acknowledged it, in arrival order, with link credit as the in-flight
// window; a Kafka record is committed only after the broker's Accepted.
//
// conn.go keeps the connection (reconnecting with backoff) and tells the
// broker's address syntax from its Open frame (address.go); ingress.go
// maps received messages to the core's and settles them; egress.go sends
// records unsettled and maps the broker's outcomes; message.go is the
// body and property mapping. README.md describes addresses, mapping and
// delivery; CONFIG.md, generated from Config, every field.
package amqp
