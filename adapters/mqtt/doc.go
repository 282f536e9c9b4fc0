// Package mqtt bridges a site's MQTT broker and its Kafka cluster in both
// directions: topic filters map to Kafka topics on the way in (PUBACK only
// after Kafka acknowledged), Kafka topics map to MQTT topics on the way out
// (offsets committed only after the broker's PUBACK).
package mqtt
