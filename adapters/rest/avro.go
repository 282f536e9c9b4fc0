package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/registry/serde"
)

// schemas reaches the registry for Avro produce requests: one Serde for
// values (subject <topic>-value) and one for keys (<topic>-key), so that
// their caches serve every request.
type schemas struct {
	client       *sr.Client
	values, keys *serde.Serde
}

func newSchemas(cfg Registry) (*schemas, error) {
	hc, err := adapters.Registry{URL: cfg.URL, TLS: cfg.TLS, Credentials: cfg.Credentials}.HTTPClient(10 * time.Second)
	if err != nil {
		return nil, err
	}
	cl, err := sr.NewClient(sr.URLs(cfg.URL), sr.HTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", cfg.URL, err)
	}
	values, err := serde.New(cl, serde.AutoRegister(cfg.AutoRegister))
	if err != nil {
		return nil, err
	}
	keys, err := serde.New(cl, serde.AutoRegister(cfg.AutoRegister), serde.Key())
	if err != nil {
		return nil, err
	}
	return &schemas{client: cl, values: values, keys: keys}, nil
}

// avroRequest encodes the records of one Avro produce request with the
// schemas it named.
type avroRequest struct {
	key, value *serde.Schema
}

func (e *avroRequest) keyID() *int {
	if e.key == nil {
		return nil
	}
	return &e.key.ID
}

func (e *avroRequest) valueID() *int {
	if e.value == nil {
		return nil
	}
	return &e.value.ID
}

// avroSchemas resolves the request's key and value schemas (by id, or by
// text: looked up or registered under the topic's subjects), answering as
// the proxy does when one is missing (42201, 42202) or invalid (42205).
func (a *Adapter) avroSchemas(ctx context.Context, topic string, req v2Request) (*avroRequest, error) {
	if a.schemas == nil {
		return nil, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType,
			"Avro produce requests need a schema registry, and this adapter has none configured (registry.url).")
	}
	var hasKeys, hasValues bool
	for _, r := range req.Records {
		hasKeys = hasKeys || !isNull(r.Key)
		hasValues = hasValues || !isNull(r.Value)
	}
	out := &avroRequest{}
	var err error
	if hasKeys {
		if req.KeySchema == nil && req.KeySchemaID == nil {
			return nil, errorf(http.StatusUnprocessableEntity, CodeKeySchemaMissing, "Request includes keys but does not include key schema: add key_schema or key_schema_id.")
		}
		if out.key, err = resolveSchema(ctx, a.schemas.keys, topic, req.KeySchema, req.KeySchemaID, "key"); err != nil {
			return nil, err
		}
	}
	if hasValues {
		if req.ValueSchema == nil && req.ValueSchemaID == nil {
			return nil, errorf(http.StatusUnprocessableEntity, CodeValueSchemaMiss, "Request includes values but does not include value schema: add value_schema or value_schema_id.")
		}
		if out.value, err = resolveSchema(ctx, a.schemas.values, topic, req.ValueSchema, req.ValueSchemaID, "value"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func resolveSchema(ctx context.Context, s *serde.Serde, topic string, text *string, id *int, role string) (*serde.Schema, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var sch *serde.Schema
	var err error
	if id != nil {
		sch, err = s.SchemaByID(ctx, *id)
	} else {
		sch, err = s.Writer(ctx, topic, sr.Schema{Schema: *text, Type: sr.TypeAvro})
	}
	switch {
	case err == nil:
		return sch, nil
	case errors.Is(err, serde.ErrInvalidSchema), errors.Is(err, serde.ErrUnknownID):
		return nil, errorf(http.StatusUnprocessableEntity, CodeInvalidSchema, "Invalid schema: %s schema: %v", role, err)
	case errors.Is(err, serde.ErrNotRegistered):
		return nil, errorf(http.StatusUnprocessableEntity, CodeInvalidSchema,
			"Invalid schema: the %s schema is not registered for topic %q: register it first (this adapter does not register schemas unless registry.auto_register is on): %v", role, topic, err)
	case errors.Is(err, serde.ErrIncompatible):
		return nil, errorf(http.StatusConflict, CodeConflict, "Schema being registered is incompatible with an earlier schema for topic %q: %v", topic, err)
	}
	return nil, &apiError{Status: http.StatusRequestTimeout, Code: CodeSchemaTimeout, RetryAfter: time.Second,
		Message: fmt.Sprintf("Schema registration or lookup failed: the registry did not answer: %v; try again.", err)}
}

// encode converts a record's JSON key and value to Avro in the Confluent
// wire format (42203 when one does not fit its schema).
func (e *avroRequest) encode(rec v2Record, i int) (key, value []byte, err error) {
	if !isNull(rec.Key) {
		if key, err = e.key.EncodeJSON(rec.Key); err != nil {
			return nil, nil, errorf(http.StatusUnprocessableEntity, CodeAvroConversion, "Conversion of JSON to Avro failed: records[%d].key: %v", i, err)
		}
	}
	if !isNull(rec.Value) {
		if value, err = e.value.EncodeJSON(rec.Value); err != nil {
			return nil, nil, errorf(http.StatusUnprocessableEntity, CodeAvroConversion, "Conversion of JSON to Avro failed: records[%d].value: %v", i, err)
		}
	}
	return key, value, nil
}
