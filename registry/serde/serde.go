package serde

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Serde encodes and decodes Avro values in the Confluent wire format against
// a Confluent-compatible schema registry. It is safe for concurrent use; one
// per process and role (value or key) is the intended use, so its caches are
// shared.
type Serde struct {
	cl  *sr.Client
	cfg cfg

	ids      *bounded[int, *Schema]         // GET /schemas/ids/{id}
	unknown  *bounded[int, time.Time]       // ids the registry did not know, and when
	writers  *bounded[writerKey, *Schema]   // (topic, schema) -> lookup or registration
	subjects *bounded[writerKey, string]    // (topic, schema) -> subject, under UseLatest
	latest   *bounded[string, latestSchema] // subject -> its latest version
	refs     *bounded[refKey, sr.Schema]    // referenced subject versions
	targets  *bounded[targetKey, string]    // (id, Go type) -> skip hazard, see hazard.go

	idFlight     flight[int, *Schema]
	writerFlight flight[writerKey, *Schema]
	latestFlight flight[string, *Schema]
}

type writerKey struct {
	topic  string
	schema string // schemaKey of the writer schema
}

type refKey struct {
	subject string
	version int
}

type latestSchema struct {
	schema  *Schema
	fetched time.Time
}

// Schema is an Avro schema the registry knows, parsed. Values of it are shared
// by the Serde's caches: treat them as read-only.
type Schema struct {
	// ID is the schema's registry id, the one written in the wire header.
	ID int
	// Subject is the subject the schema was looked up, registered or found
	// latest under; empty when it was fetched by id (an id can belong to
	// several subjects).
	Subject string
	// Version is the version under Subject when the registry said so
	// (lookups and latest versions), else 0.
	Version int
	// Text is the schema's text: the registry's for schemas fetched by id
	// or as a latest version, the caller's for looked up and registered
	// writer schemas.
	Text string
	// References are the schema's references to types in other subjects.
	References []sr.SchemaReference
	// Avro is the parsed schema, its references resolved.
	Avro avro.Schema

	api  avro.API
	mins map[avro.Schema]int // see minSizes; read-only
}

// newSchema completes a Schema with what encoding and validation need.
func (s *Serde) newSchema(sch Schema) *Schema {
	sch.api = s.cfg.api
	sch.mins = minSizes(sch.Avro)
	return &sch
}

// New returns a Serde that reaches the registry through client. It returns an
// error if client is nil or the options do not fit together.
func New(client *sr.Client, opts ...Opt) (*Serde, error) {
	if client == nil {
		return nil, errors.New("serde: nil registry client")
	}
	c := defaultCfg()
	for _, o := range opts {
		o.apply(&c)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &Serde{
		cl:       client,
		cfg:      c,
		ids:      newBounded[int, *Schema](c.cacheSize),
		unknown:  newBounded[int, time.Time](c.cacheSize),
		writers:  newBounded[writerKey, *Schema](c.cacheSize),
		subjects: newBounded[writerKey, string](c.cacheSize),
		latest:   newBounded[string, latestSchema](c.cacheSize),
		refs:     newBounded[refKey, sr.Schema](c.cacheSize),
		targets:  newBounded[targetKey, string](c.cacheSize),
	}, nil
}

// Encode serializes v, in the form hamba/avro marshals (a struct with avro
// tags, a map[string]any, a scalar), with the writer schema given as text,
// and frames it with the schema's id. The schema is looked up (or, with
// AutoRegister, registered) under the subject that the strategy names for
// topic; with UseLatest, v is written with the subject's latest version
// instead. A v that does not fit the schema gives an error matching
// ErrPayloadMismatch. A schema that uses types from other subjects needs its
// references: use Writer and Schema.Encode.
func (s *Serde) Encode(ctx context.Context, topic, schema string, v any) ([]byte, error) {
	sch, err := s.Writer(ctx, topic, sr.Schema{Schema: schema})
	if err != nil {
		return nil, err
	}
	return sch.Encode(v)
}

// EncodeJSON is Encode for a JSON document, read as DecodeJSON describes.
// Adapters use it to turn JSON from HTTP, MQTT or AMQP into Avro.
func (s *Serde) EncodeJSON(ctx context.Context, topic, schema string, doc []byte) ([]byte, error) {
	sch, err := s.Writer(ctx, topic, sr.Schema{Schema: schema})
	if err != nil {
		return nil, err
	}
	return sch.EncodeJSON(doc)
}

// Writer returns the registered schema that Encode would write with for topic
// and the given writer schema, which may carry references (resolved through
// the registry). Under UseLatest it is the subject's latest version. Results
// are cached by topic and schema (text and references).
func (s *Serde) Writer(ctx context.Context, topic string, schema sr.Schema) (*Schema, error) {
	if s.cfg.useLatest {
		return s.latestWriter(ctx, topic, schema)
	}
	k := writerKey{topic: topic, schema: schemaKey(schema)}
	if sch, ok := s.writers.get(k); ok {
		return sch, nil
	}
	return s.writerFlight.do(ctx, k, func(ctx context.Context) (*Schema, error) {
		if sch, ok := s.writers.get(k); ok {
			return sch, nil
		}
		parsed, err := s.parse(ctx, schema)
		if err != nil {
			return nil, fmt.Errorf("serde: writer schema for topic %q: %w", topic, err)
		}
		subject, err := s.cfg.strategy.Subject(topic, s.cfg.key, parsed)
		if err != nil {
			return nil, err
		}
		sch := s.newSchema(Schema{Subject: subject, Text: schema.Schema, References: schema.References, Avro: parsed})
		if s.cfg.autoRegister {
			if sch.ID, err = s.cl.RegisterSchema(ctx, subject, schema, -1, -1); err != nil {
				return nil, classifySubjectError(subject, "registering the schema", "", err)
			}
		} else {
			got, err := s.cl.LookupSchema(ctx, subject, schema)
			if err != nil {
				return nil, classifySubjectError(subject, "looking the schema up",
					"register it first, or enable AutoRegister", err)
			}
			sch.ID, sch.Version = got.ID, got.Version
		}
		s.writers.put(k, sch)
		return sch, nil
	})
}

// latestWriter returns the latest version of the subject for topic.
func (s *Serde) latestWriter(ctx context.Context, topic string, schema sr.Schema) (*Schema, error) {
	subject, err := s.latestSubject(ctx, topic, schema)
	if err != nil {
		return nil, err
	}
	if l, ok := s.latest.get(subject); ok && time.Since(l.fetched) < s.cfg.latestTTL {
		return l.schema, nil
	}
	return s.latestFlight.do(ctx, subject, func(ctx context.Context) (*Schema, error) {
		if l, ok := s.latest.get(subject); ok && time.Since(l.fetched) < s.cfg.latestTTL {
			return l.schema, nil
		}
		got, err := s.cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			return nil, classifySubjectError(subject, "fetching its latest version",
				"UseLatest needs at least one version registered", err)
		}
		byID, ok := s.ids.get(got.ID)
		if !ok {
			parsed, err := s.parse(ctx, got.Schema)
			if err != nil {
				return nil, fmt.Errorf("serde: subject %q latest version %d (id %d): %w", subject, got.Version, got.ID, err)
			}
			byID = s.newSchema(Schema{ID: got.ID, Text: got.Schema.Schema, References: got.References, Avro: parsed})
			s.ids.put(got.ID, byID)
		}
		latest := *byID // a copy: the by-id entry keeps no subject
		latest.Subject, latest.Version = subject, got.Version
		s.latest.put(subject, latestSchema{schema: &latest, fetched: time.Now()})
		return &latest, nil
	})
}

// latestSubject names the subject under UseLatest, parsing the schema only
// when the strategy needs its name.
func (s *Serde) latestSubject(ctx context.Context, topic string, schema sr.Schema) (string, error) {
	if !s.cfg.strategy.needsSchema() {
		return s.cfg.strategy.Subject(topic, s.cfg.key, nil)
	}
	k := writerKey{topic: topic, schema: schemaKey(schema)}
	if subject, ok := s.subjects.get(k); ok {
		return subject, nil
	}
	parsed, err := s.parse(ctx, schema)
	if err != nil {
		return "", fmt.Errorf("serde: schema naming the subject for topic %q: %w", topic, err)
	}
	subject, err := s.cfg.strategy.Subject(topic, s.cfg.key, parsed)
	if err != nil {
		return "", err
	}
	s.subjects.put(k, subject)
	return subject, nil
}

// SchemaByID returns the schema registered under id (GET /schemas/ids/{id}),
// parsed with its references. Found schemas are cached for the life of the
// Serde (ids are immutable); ids the registry did not know are answered with
// ErrUnknownID for UnknownIDTTL.
func (s *Serde) SchemaByID(ctx context.Context, id int) (*Schema, error) {
	if sch, ok := s.ids.get(id); ok {
		return sch, nil
	}
	if at, ok := s.unknown.get(id); ok {
		if since := time.Since(at); since < s.cfg.unknownTTL {
			return nil, fmt.Errorf("serde: schema id %d: %w (the registry did not know it %v ago)",
				id, ErrUnknownID, since.Round(time.Millisecond))
		}
	}
	return s.idFlight.do(ctx, id, func(ctx context.Context) (*Schema, error) {
		if sch, ok := s.ids.get(id); ok {
			return sch, nil
		}
		got, err := s.cl.SchemaByID(ctx, id)
		if err != nil {
			err = classifyIDError(id, err)
			if errors.Is(err, ErrUnknownID) && s.cfg.unknownTTL > 0 {
				s.unknown.put(id, time.Now())
			}
			return nil, err
		}
		parsed, err := s.parse(ctx, got)
		if err != nil {
			return nil, fmt.Errorf("serde: schema id %d: %w", id, err)
		}
		sch := s.newSchema(Schema{ID: id, Text: got.Schema, References: got.References, Avro: parsed})
		s.ids.put(id, sch)
		s.unknown.remove(id)
		return sch, nil
	})
}

// Encode serializes v with the schema and frames it with the schema's id.
// A v that does not fit gives an error matching ErrPayloadMismatch.
func (sch *Schema) Encode(v any) ([]byte, error) {
	api := sch.api
	if api == nil { // a Schema built by hand
		api = defaultAPI
	}
	body, err := api.Marshal(sch.Avro, v)
	if err != nil {
		return nil, fmt.Errorf("serde: encoding %T with schema id %d: %w: %w", v, sch.ID, ErrPayloadMismatch, err)
	}
	out := make([]byte, 0, HeaderSize+len(body))
	out = AppendHeader(out, sch.ID)
	return append(out, body...), nil
}

// EncodeJSON serializes a JSON document, read as DecodeJSON describes, with
// the schema and frames it with the schema's id. A document that is not JSON
// or does not fit the schema gives an error matching ErrPayloadMismatch that
// names the offending field.
func (sch *Schema) EncodeJSON(doc []byte) ([]byte, error) {
	v, err := parseJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("serde: schema id %d: %w: %w", sch.ID, ErrPayloadMismatch, err)
	}
	native, jerr := fromJSON(sch.Avro, v)
	if jerr != nil {
		return nil, fmt.Errorf("serde: schema id %d: %w: %w", sch.ID, ErrPayloadMismatch, jerr)
	}
	return sch.Encode(native)
}

// Decode decodes a framed payload into v (a pointer, as for
// hamba/avro's Unmarshal) with the schema its header names: the writer's
// schema, whatever the subject's latest version is, so a struct for a newer
// compatible version reads older payloads and the other way round (fields
// missing from v are skipped, fields missing from the payload stay as they
// were). The payload is validated first; see Validate for the errors. A
// struct that lacks a field whose type contains itself other than through a
// union gives ErrUnsafeTarget (see the error's documentation).
func (s *Serde) Decode(ctx context.Context, data []byte, v any) error {
	sch, payload, err := s.framed(ctx, data)
	if err != nil {
		return err
	}
	if err := check(sch, payload); err != nil {
		return err
	}
	if err := s.checkTarget(sch, v); err != nil {
		return err
	}
	if err := sch.api.Unmarshal(sch.Avro, payload, v); err != nil {
		return fmt.Errorf("serde: decoding schema id %d into %T: %w", sch.ID, v, err)
	}
	return nil
}

// DecodeAny decodes a framed payload into hamba/avro's generic form: records
// and maps as map[string]any, arrays as []any, enums as their symbol, fixed
// as a byte array, timestamps and dates as time.Time, decimals as *big.Rat,
// and a union as its value when the branch is null or a primitive type
// (logical types included), else as map[string]any{name: value}, the name
// being a named type's full name, "array" or "map". For JSON, use DecodeJSON.
// It returns the schema id whenever the header parsed, also with an error.
func (s *Serde) DecodeAny(ctx context.Context, data []byte) (any, int, error) {
	sch, payload, err := s.framed(ctx, data)
	if err != nil {
		return nil, headerID(data), err
	}
	if err := check(sch, payload); err != nil {
		return nil, sch.ID, err
	}
	var v any
	if err := sch.api.Unmarshal(sch.Avro, payload, &v); err != nil {
		return nil, sch.ID, fmt.Errorf("serde: decoding schema id %d: %w", sch.ID, err)
	}
	return v, sch.ID, nil
}

// DecodeJSON renders a framed payload as a JSON document, which
// EncodeJSON reads back into the same Avro value. The mapping is Avro's JSON
// encoding with three departures that make it friendlier to people and web
// services:
//
//   - A union of null and one other type is written as its bare value (null,
//     or the value itself); other unions, and optional maps, are written as
//     Avro does, {"branch name": value}, the name being the full name of a
//     named type or the type's name ("string", "long", "array").
//   - Decimals (bytes or fixed with logicalType decimal) are strings like
//     "-12.50"; EncodeJSON also takes JSON numbers.
//   - Floats and doubles that JSON cannot express are the strings "NaN",
//     "Infinity" and "-Infinity".
//
// Everything else follows the specification: records and maps as objects
// (record fields in schema order), arrays as arrays, enums as their symbol,
// bytes and fixed as strings whose code points U+0000 to U+00FF are the bytes,
// logical types as their underlying type (a timestamp-millis is a number of
// milliseconds; EncodeJSON also takes RFC 3339 strings for timestamps and
// "YYYY-MM-DD" for dates).
//
// EncodeJSON accepts, beyond this, any union value bare (it takes the first
// branch the value fits, the wrapped form winning when a value could be read
// either way), short names of named types in union wrappers, and missing
// record fields that have defaults. It rejects fields the record does not
// have. It returns the schema id whenever the header parsed.
func (s *Serde) DecodeJSON(ctx context.Context, data []byte) ([]byte, int, error) {
	sch, payload, err := s.framed(ctx, data)
	if err != nil {
		return nil, headerID(data), err
	}
	out, err := renderJSON(sch, payload)
	if err != nil {
		return nil, sch.ID, err
	}
	return out, sch.ID, nil
}

// Validate checks that data is framed, that the registry knows its schema id,
// and that the Avro payload is exactly one well-formed value of that schema,
// without decoding it into Go values. Adapters call it on payloads that
// arrive already serialized, before they enter Kafka. It returns the schema
// id whenever the header parsed, and an error matching ErrNotFramed,
// ErrUnknownID or ErrPayloadMismatch (a *PayloadError giving the byte offset
// and field path), or a registry error.
//
// Validation is strict where the Avro specification is (booleans are 0 or 1,
// strings are UTF-8, indexes are in range, nothing trails the value) and
// bounds the work a hostile payload can cause: every length and item count
// must fit in the bytes that remain, and nesting is limited. Decode,
// DecodeAny and DecodeJSON validate the same way before decoding.
func (s *Serde) Validate(ctx context.Context, data []byte) (int, error) {
	sch, payload, err := s.framed(ctx, data)
	if err != nil {
		return headerID(data), err
	}
	return sch.ID, check(sch, payload)
}

// framed parses the header and fetches the schema it names.
func (s *Serde) framed(ctx context.Context, data []byte) (*Schema, []byte, error) {
	id, payload, err := ParseHeader(data)
	if err != nil {
		return nil, nil, err
	}
	sch, err := s.SchemaByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return sch, payload, nil
}

// headerID is the schema id of a framed payload, 0 when it is not framed.
func headerID(data []byte) int {
	id, _, err := ParseHeader(data)
	if err != nil {
		return 0
	}
	return id
}
