package serde

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// Strategy names the subject a writer schema is registered under, as
// Confluent's serializers do.
type Strategy int8

const (
	// TopicNameStrategy: "<topic>-value", or "<topic>-key" with Key(). One
	// schema lineage per topic: the mesh's convention.
	TopicNameStrategy Strategy = iota
	// RecordNameStrategy: the schema's full name, like "shop.OrderCreated",
	// whatever the topic. Lets one event type share a lineage across topics.
	RecordNameStrategy
	// TopicRecordNameStrategy: "<topic>-<full name>", like
	// "shop.order.created-shop.OrderCreated". Lets one topic carry several
	// event types, each with its own lineage.
	TopicRecordNameStrategy
)

func (st Strategy) String() string {
	switch st {
	case TopicNameStrategy:
		return "TopicNameStrategy"
	case RecordNameStrategy:
		return "RecordNameStrategy"
	case TopicRecordNameStrategy:
		return "TopicRecordNameStrategy"
	}
	return fmt.Sprintf("Strategy(%d)", int8(st))
}

// needsSchema reports whether the subject depends on the schema's name.
func (st Strategy) needsSchema() bool { return st != TopicNameStrategy }

// Subject returns the subject for a record of topic whose key (key true) or
// value is written with schema. schema may be nil under TopicNameStrategy;
// the record-name strategies need a named schema (record, enum or fixed) and
// return an error matching ErrInvalidSchema otherwise.
func (st Strategy) Subject(topic string, key bool, schema avro.Schema) (string, error) {
	if st == TopicNameStrategy {
		if key {
			return topic + "-key", nil
		}
		return topic + "-value", nil
	}
	if schema == nil {
		return "", fmt.Errorf("serde: %w: %s needs the writer schema to name the subject", ErrInvalidSchema, st)
	}
	named, ok := deref(schema).(avro.NamedSchema)
	if !ok {
		return "", fmt.Errorf("serde: %w: %s needs a named schema (record, enum or fixed), got %s",
			ErrInvalidSchema, st, schema.Type())
	}
	switch st {
	case RecordNameStrategy:
		return named.FullName(), nil
	case TopicRecordNameStrategy:
		return topic + "-" + named.FullName(), nil
	}
	return "", fmt.Errorf("serde: unknown subject name strategy %d", int8(st))
}

// deref follows a reference to a named type to the type itself.
func deref(s avro.Schema) avro.Schema {
	for {
		ref, ok := s.(*avro.RefSchema)
		if !ok {
			return s
		}
		s = ref.Schema()
	}
}
