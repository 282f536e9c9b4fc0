package envelope

import (
	"fmt"
	"strings"
	"time"
)

// AMQP 1.0 carries CloudEvents attributes as application-properties prefixed
// "cloudEvents_" (CloudEvents AMQP binding 1.0.2; the older "cloudEvents:"
// prefix is accepted when reading), the content type in the message's own
// content-type property, and the time as an AMQP timestamp.
const (
	amqpPrefix       = "cloudEvents_"
	amqpLegacyPrefix = "cloudEvents:"
)

func amqpName(attr string) string {
	switch {
	case attr == attrContentType:
		return "content-type"
	case isMeshAttr(attr):
		return attr
	}
	return amqpPrefix + attr
}

// FromAMQP reads the envelope from AMQP application-properties and the
// message's content-type. Values of other AMQP types than string are
// formatted as text, except the time, which may be an AMQP timestamp.
func FromAMQP(appProps map[string]any, contentType string) (Envelope, error) {
	d := newDecoder(amqpName)
	for key, v := range appProps {
		var attr string
		switch {
		case strings.HasPrefix(key, amqpPrefix):
			attr = key[len(amqpPrefix):]
		case strings.HasPrefix(key, amqpLegacyPrefix):
			attr = key[len(amqpLegacyPrefix):]
		case isMeshAttr(key):
			attr = key
		default:
			continue
		}
		if attr == "" || attr == attrContentType || (isMeshAttr(attr) && attr != key) {
			continue
		}
		if t, ok := v.(time.Time); ok && attr == attrTime {
			d.setTime(attr, t)
			continue
		}
		d.set(attr, amqpString(v))
	}
	if contentType != "" {
		d.set(attrContentType, contentType)
	}
	return d.finish()
}

func amqpString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return formatTime(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// AMQPProperties returns the envelope as AMQP application-properties and the
// value for the message's content-type. The time is an AMQP timestamp, which
// has millisecond precision.
func (e *Envelope) AMQPProperties() (appProps map[string]any, contentType string) {
	ps := e.pairs()
	appProps = make(map[string]any, len(ps))
	for _, p := range ps {
		switch p.attr {
		case attrContentType:
			contentType = p.value
		case attrTime:
			appProps[amqpName(p.attr)] = e.Time.UTC()
		default:
			appProps[amqpName(p.attr)] = p.value
		}
	}
	return appProps, contentType
}

// IsAMQPProperty reports whether an AMQP application property is part of
// the envelope (read by FromAMQP): the CloudEvents attributes under either
// prefix, and the mesh's own.
func IsAMQPProperty(key string) bool {
	return strings.HasPrefix(key, amqpPrefix) || strings.HasPrefix(key, amqpLegacyPrefix) || isMeshAttr(key)
}
