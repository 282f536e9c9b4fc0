// Package envelope reads and writes the Meshwork event envelope.
//
// Every event in the mesh is a CloudEvent in binary mode: the payload is the
// Kafka record value, and the context attributes travel as Kafka headers
// (ce_specversion, ce_id, ce_source, ce_type, ce_time, content-type), next to
// the mesh's own headers: mesh_origin (the site where the event entered the
// mesh), mesh_path (the sites it crossed, in order) and the W3C trace context
// (traceparent, tracestate).
//
// The same envelope maps to and from the other protocols the mesh speaks, each
// following its CloudEvents protocol binding: MQTT 5 user properties, AMQP 1.0
// application-properties and HTTP headers. Parsing is strict: a malformed value
// is an error naming the header, so a bad event is rejected (or dead-lettered)
// with a reason instead of travelling on half-understood.
package envelope
