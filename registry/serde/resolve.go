package serde

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// parse parses an Avro schema from the registry or a caller. Each schema gets
// a fresh avro.SchemaCache holding exactly the named types of its references
// (and of theirs, transitively), so a schema cannot use a type it neither
// declares nor references. hamba/avro's process-wide default cache, which
// avro.Parse uses, would let a type parsed for one schema resolve in another.
func (s *Serde) parse(ctx context.Context, schema sr.Schema) (avro.Schema, error) {
	if schema.Type != sr.TypeAvro {
		return nil, fmt.Errorf("%w: schema type %s, and serde handles AVRO only", ErrInvalidSchema, schema.Type)
	}
	cache := &avro.SchemaCache{}
	if err := s.loadRefs(ctx, cache, schema.References, make(map[refKey]refState)); err != nil {
		return nil, err
	}
	parsed, err := avro.ParseWithCache(schema.Schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	return parsed, nil
}

type refState int8

const (
	refLoading refState = iota + 1
	refLoaded
)

// loadRefs parses the referenced schemas into cache, each after its own
// references, each once.
func (s *Serde) loadRefs(ctx context.Context, cache *avro.SchemaCache, refs []sr.SchemaReference, state map[refKey]refState) error {
	for _, ref := range refs {
		k := refKey{subject: ref.Subject, version: ref.Version}
		switch state[k] {
		case refLoaded:
			continue
		case refLoading:
			return fmt.Errorf("%w: reference %q (subject %q version %d) refers back to itself",
				ErrInvalidSchema, ref.Name, ref.Subject, ref.Version)
		}
		state[k] = refLoading
		got, err := s.reference(ctx, ref)
		if err != nil {
			return err
		}
		if got.Type != sr.TypeAvro {
			return fmt.Errorf("%w: reference %q (subject %q version %d) is %s, not AVRO",
				ErrInvalidSchema, ref.Name, ref.Subject, ref.Version, got.Type)
		}
		if err := s.loadRefs(ctx, cache, got.References, state); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(got.Schema, "", cache); err != nil {
			return fmt.Errorf("%w: reference %q (subject %q version %d): %w",
				ErrInvalidSchema, ref.Name, ref.Subject, ref.Version, err)
		}
		state[k] = refLoaded
	}
	return nil
}

// reference fetches a referenced subject version (GET
// /subjects/{s}/versions/{v}); versions are immutable, so they are cached.
func (s *Serde) reference(ctx context.Context, ref sr.SchemaReference) (sr.Schema, error) {
	k := refKey{subject: ref.Subject, version: ref.Version}
	if got, ok := s.refs.get(k); ok {
		return got, nil
	}
	got, err := s.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
	if err != nil {
		code, _ := registryCode(err)
		if code == codeSubjectNotFound || code == codeVersionNotFound {
			return sr.Schema{}, fmt.Errorf("%w: reference %q: subject %q version %d not found: %w",
				ErrInvalidSchema, ref.Name, ref.Subject, ref.Version, err)
		}
		return sr.Schema{}, fmt.Errorf("serde: fetching reference %q (subject %q version %d): %w",
			ref.Name, ref.Subject, ref.Version, err)
	}
	if ref.Version > 0 { // "latest" (-1) can change
		s.refs.put(k, got.Schema)
	}
	return got.Schema, nil
}

// schemaKey identifies a writer schema by its text and references.
func schemaKey(schema sr.Schema) string {
	if len(schema.References) == 0 && schema.Type == sr.TypeAvro {
		return schema.Schema
	}
	var b strings.Builder
	b.WriteString(schema.Schema)
	b.WriteString("\x00")
	b.WriteString(schema.Type.String())
	for _, r := range schema.References {
		b.WriteString("\x00")
		b.WriteString(r.Name)
		b.WriteString("\x00")
		b.WriteString(r.Subject)
		b.WriteString("\x00")
		b.WriteString(strconv.Itoa(r.Version))
	}
	return b.String()
}
