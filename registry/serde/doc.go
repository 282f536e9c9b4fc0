// Package serde encodes and decodes Avro values in the Confluent wire format
// against a Confluent-compatible schema registry: Meshwork's own, or any
// other that speaks Confluent's HTTP API. The mesh's services use it, and so
// can Go applications producing to or consuming from the mesh's topics.
//
// # Wire format
//
// A framed payload is one magic byte (0), the schema id as a 4-byte
// big-endian integer, then the value in Avro's binary encoding. Header,
// AppendHeader and ParseHeader handle the five-byte header alone.
//
// # Encoding
//
// Encode takes a topic, the writer schema's text and a value. The subject
// name strategy turns the topic (or the schema's full name) into a subject:
// "<topic>-value" by default, "<topic>-key" with the Key option. The schema is
// looked up under that subject (POST /subjects/{subject}) and an unregistered
// schema is an error matching ErrNotRegistered; with AutoRegister it is
// registered instead (POST /subjects/{subject}/versions). With UseLatest the
// value is written with the subject's latest version (GET
// /subjects/{subject}/versions/latest). Writer does the lookup alone and
// returns a *Schema, which also takes schemas with references; SchemaByID
// returns one for an id (an HTTP producer that names its schema id).
//
// EncodeJSON and Schema.EncodeJSON encode a JSON document: adapters use them
// for JSON that arrives over HTTP, MQTT or AMQP. DecodeJSON documents the
// JSON mapping, which is Avro's JSON encoding (union values wrapped as
// {"type": value}) plus conveniences: bare union values, RFC 3339 timestamps,
// decimals as numbers or strings.
//
// # Decoding
//
// Decode, DecodeAny and DecodeJSON read the schema id from the header, fetch
// that schema (GET /schemas/ids/{id}) and decode with it: always the writer's
// schema, so payloads written with an older or newer compatible version
// decode into the same Go struct. Validate checks a payload without decoding
// it: adapters use it to refuse malformed payloads before they enter Kafka.
// Every payload is validated before hamba/avro decodes it; validation bounds
// lengths and counts by the payload's size, so a hostile payload cannot make
// the decoder allocate or loop without limit.
//
// # References
//
// A schema may use named types from other subjects through references. They
// are fetched with GET /subjects/{subject}/versions/{version}, transitively,
// and each schema is parsed with a fresh avro.SchemaCache holding exactly its
// references' types, never with hamba/avro's process-wide cache.
//
// # Caches
//
// A Serde caches parsed schemas by id (ids never change), writer schemas by
// topic and schema text, latest versions by subject (for LatestTTL),
// references by subject and version, and unknown ids (for UnknownIDTTL, so a
// flood of bad payloads is not a flood of registry requests). Each cache holds
// at most CacheSize entries; when full, an arbitrary entry makes room. The
// keys are ids and subjects, which are few, so eviction is a bound rather than
// a policy. Concurrent requests for the same id, writer schema or latest
// version share one registry request.
//
// # Errors
//
// Errors match these sentinels with errors.Is: ErrNotFramed, ErrUnknownID,
// ErrNotRegistered, ErrPayloadMismatch, ErrInvalidSchema, ErrIncompatible,
// ErrUnsafeTarget.
// A payload that does not match its schema gives a *PayloadError with the
// byte offset and field path. Errors that come from a registry response also
// wrap the *sr.ResponseError: match it with errors.As for the HTTP status and
// Confluent error code. (sr.ResponseError has no Unwrap, so errors.Is with
// sr.ErrSchemaNotFound and its kin does not match; compare ErrorCode, or use
// this package's sentinels.)
//
// # Hazards handled
//
// hamba/avro builds decoders that skip record fields a Go struct lacks, and
// for a field whose type contains itself other than through a union that
// construction never ends: the stack overflows and the process dies. A
// payload names its schema id, so Decode checks the Go type against the
// writer schema first and returns ErrUnsafeTarget instead.
//
// # Example
//
//	cl, err := sr.NewClient(sr.URLs("http://127.0.0.1:18081"))
//	...
//	sd, err := serde.New(cl)
//	...
//	b, err := sd.Encode(ctx, "plant.sensor.temperature", schemaText, reading)
//	...
//	var got Reading
//	err = sd.Decode(ctx, b, &got)
package serde
