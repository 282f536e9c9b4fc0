package envelope

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka header names (CloudEvents Kafka protocol binding, binary mode, plus
// the mesh's own headers).
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderSource      = "ce_source"
	HeaderType        = "ce_type"
	HeaderTime        = "ce_time"
	HeaderSubject     = "ce_subject"
	HeaderDataSchema  = "ce_dataschema"
	HeaderContentType = "content-type"
	HeaderOrigin      = "mesh_origin"
	HeaderPath        = "mesh_path"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
	// HeaderReplyTo and HeaderCorrelationID carry request/reply across
	// protocols (see Envelope.ReplyTo).
	HeaderReplyTo       = "mesh_reply_to"
	HeaderCorrelationID = "mesh_correlation_id"
)

const kafkaCEPrefix = "ce_"

func kafkaName(attr string) string {
	switch {
	case attr == attrContentType:
		return HeaderContentType
	case isMeshAttr(attr):
		return attr
	default:
		return kafkaCEPrefix + attr
	}
}

// kafkaAttr maps a Kafka header name to an attribute, or reports that the
// header is not part of the envelope. Header names are matched exactly, as
// the Kafka binding requires lower-case names.
func kafkaAttr(key string) (string, bool) {
	switch {
	case key == HeaderContentType:
		return attrContentType, true
	case isMeshAttr(key):
		return key, true
	case strings.HasPrefix(key, kafkaCEPrefix) && len(key) > len(kafkaCEPrefix):
		attr := key[len(kafkaCEPrefix):]
		if attr == attrContentType || isMeshAttr(attr) {
			return "", false // not a binding name; leave it to the application
		}
		return attr, true
	}
	return "", false
}

// FromKafka reads the envelope from a record's headers. Headers that are not
// part of the envelope are ignored. A record without any envelope headers
// yields an empty envelope and no error; malformed or repeated envelope
// headers are an error naming each header.
func FromKafka(headers []kgo.RecordHeader) (Envelope, error) {
	d := newDecoder(kafkaName)
	for _, h := range headers {
		if attr, ok := kafkaAttr(h.Key); ok {
			d.set(attr, string(h.Value))
		}
	}
	return d.finish()
}

// KafkaHeaders returns the envelope as Kafka headers, in a stable order.
func (e *Envelope) KafkaHeaders() []kgo.RecordHeader {
	ps := e.pairs()
	hs := make([]kgo.RecordHeader, len(ps))
	for i, p := range ps {
		hs[i] = kgo.RecordHeader{Key: kafkaName(p.attr), Value: []byte(p.value)}
	}
	return hs
}

// SetKafka replaces the envelope headers of r with e's, keeping every other
// header of r in its place.
func (e *Envelope) SetKafka(r *kgo.Record) {
	r.Headers = append(StripKafka(r.Headers), e.KafkaHeaders()...)
}

// StripKafka returns the headers that are not part of the envelope. It reuses
// the backing array of headers.
func StripKafka(headers []kgo.RecordHeader) []kgo.RecordHeader {
	kept := headers[:0]
	for _, h := range headers {
		if _, ok := kafkaAttr(h.Key); !ok {
			kept = append(kept, h)
		}
	}
	return kept
}

// IsKafkaHeader reports whether a Kafka header is part of the envelope.
func IsKafkaHeader(key string) bool {
	_, ok := kafkaAttr(key)
	return ok
}
