// Package mqtt bridges a site's MQTT broker and its Kafka cluster in both
// directions, on the adapter core (package adapters): topic filters map to
// Kafka topics on the way in (PUBACK only after Kafka acknowledged, in
// arrival order), Kafka topics map to MQTT topics on the way out (offsets
// committed only after the broker's PUBACK).
//
// The adapter keeps one persistent session with the broker, shared by
// ingress and egress: MQTT 5 (session5.go, paho.golang) by default, whose
// No Local subscriptions keep what egress publishes from coming back in,
// or MQTT 3.1.1 (session311.go, paho.mqtt.golang) for brokers without it.
// ingress.go maps received messages to the core's; egress.go publishes
// records; acks.go writes the PUBACKs the core releases, in order, in one
// write; filter.go matches topic filters with named levels. README.md
// describes rules, echoes and delivery; CONFIG.md, generated from Config,
// every field.
package mqtt
