// Package adapters holds the protocol adapters, one package each, that move
// events between a site's Kafka cluster and the protocols its users speak:
// mqtt (devices), amqp (legacy applications over AMQP 1.0) and rest (web
// services over HTTP). Every adapter acknowledges upstream only after Kafka
// acknowledged, and commits offsets downstream only after the peer confirmed.
package adapters
