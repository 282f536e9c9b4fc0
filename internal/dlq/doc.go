// Package dlq writes records that could not be delivered or accepted to the
// mesh's dead-letter topics, _mesh.dlq.<topic>, and reads them back.
//
// A dead-lettered record keeps its key, value and headers untouched, so it can
// be redriven as it was, and gains headers that say why it failed, which
// component gave up on it, where it came from (topic, partition and offset, or
// a protocol address such as an MQTT topic), how many attempts were made and
// when. Nothing is dropped silently: a caller acknowledges the original only
// after Write returned nil.
package dlq
