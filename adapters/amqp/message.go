package amqp

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

// HeaderBody names, on a record from AMQP, the body section its value was
// read from: data, value or sequence (see Body).
const HeaderBody = "amqp_body"

// Body kinds as HeaderBody values.
const (
	sectionData     = "data"
	sectionValue    = "value"
	sectionSequence = "sequence"
)

// jsonContentType is the content-type of values made from structured AMQP
// bodies.
const jsonContentType = "application/json"

// Body returns the Kafka value of an AMQP message's body, the section it
// came from and, for bodies made into JSON, the content-type to use where
// the message names none. The rule:
//
//   - data sections: their bytes, concatenated (one section, as nearly all
//     senders write, is taken as is);
//   - amqp-value: a string or symbol as its UTF-8 bytes, binary as is, no
//     value (null) as an empty value, anything else (numbers, booleans,
//     maps, lists, timestamps, UUIDs) as JSON, see toJSON;
//   - amqp-sequence sections: a JSON array holding each section's list;
//   - no body: an empty value.
func Body(msg *amqp.Message) (value []byte, section, contentType string) {
	switch {
	case len(msg.Data) == 1:
		return msg.Data[0], sectionData, ""
	case len(msg.Data) > 1:
		n := 0
		for _, d := range msg.Data {
			n += len(d)
		}
		v := make([]byte, 0, n)
		for _, d := range msg.Data {
			v = append(v, d...)
		}
		return v, sectionData, ""
	case msg.Sequence != nil:
		seq := make([]any, len(msg.Sequence))
		for i, s := range msg.Sequence {
			seq[i] = s
		}
		return marshalJSON(seq), sectionSequence, jsonContentType
	}
	switch v := msg.Value.(type) {
	case nil:
		if msg.Value == nil && msg.Data == nil && msg.Sequence == nil {
			return nil, "", ""
		}
		return nil, sectionValue, ""
	case string:
		return []byte(v), sectionValue, ""
	case amqp.Symbol:
		return []byte(v), sectionValue, ""
	case []byte:
		return v, sectionValue, ""
	}
	return marshalJSON(msg.Value), sectionValue, jsonContentType
}

func marshalJSON(v any) []byte {
	b, err := json.Marshal(toJSON(v, 0))
	if err != nil { // toJSON leaves nothing json cannot encode
		return []byte(strconv.Quote(fmt.Sprint(v)))
	}
	return b
}

// maxDepth bounds the nesting toJSON follows; deeper values are written as
// text. AMQP decoders bound nesting by the frame size, but a value built
// in memory may not be.
const maxDepth = 64

// toJSON turns an AMQP value into one encoding/json writes as the
// document: maps with any keys become objects (keys as text, sorted), lists
// and arrays become arrays, binary becomes base64 text, timestamps RFC 3339
// text in UTC with milliseconds, UUIDs their canonical text, symbols
// strings, NaN and infinities null, described values their value.
func toJSON(v any, depth int) any {
	if depth > maxDepth {
		return fmt.Sprint(v)
	}
	switch v := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64:
		return v
	case float32:
		return finite(float64(v))
	case float64:
		return finite(v)
	case amqp.Symbol:
		return string(v)
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case amqp.UUID:
		return uuidString(v)
	case map[any]any:
		return objectJSON(len(v), func(add func(k string, v any)) {
			for k, x := range v {
				add(keyString(k), x)
			}
		}, depth)
	case map[string]any:
		return objectJSON(len(v), func(add func(k string, v any)) {
			for k, x := range v {
				add(k, x)
			}
		}, depth)
	case map[amqp.Symbol]any:
		return objectJSON(len(v), func(add func(k string, v any)) {
			for k, x := range v {
				add(string(k), x)
			}
		}, depth)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toJSON(x, depth+1)
		}
		return out
	}
	// Arrays of other element types, described types and the like.
	return sliceOrText(v, depth)
}

// objectJSON builds an object with sorted, unique keys: two AMQP keys that
// format alike (1 and "1") keep the first in key order.
func objectJSON(n int, each func(add func(string, any)), depth int) any {
	type kv struct {
		k string
		v any
	}
	kvs := make([]kv, 0, n)
	each(func(k string, v any) { kvs = append(kvs, kv{k, v}) })
	sort.SliceStable(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
	out := make(map[string]any, len(kvs))
	for _, p := range kvs {
		if _, dup := out[p.k]; !dup {
			out[p.k] = toJSON(p.v, depth+1)
		}
	}
	return out
}

func finite(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case amqp.Symbol:
		return string(k)
	}
	b, _ := json.Marshal(toJSON(k, maxDepth))
	return strings.Trim(string(b), `"`)
}

func sliceOrText(v any, depth int) any {
	switch v := v.(type) {
	case []int8, []int16, []int32, []int64, []uint16, []uint32, []uint64, []bool, []string:
		return v
	case []float32:
		out := make([]any, len(v))
		for i, f := range v {
			out[i] = finite(float64(f))
		}
		return out
	case []float64:
		out := make([]any, len(v))
		for i, f := range v {
			out[i] = finite(f)
		}
		return out
	case []amqp.Symbol:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = string(s)
		}
		return out
	case []time.Time:
		out := make([]any, len(v))
		for i, t := range v {
			out[i] = toJSON(t, depth+1)
		}
		return out
	case []amqp.UUID:
		out := make([]string, len(v))
		for i, u := range v {
			out[i] = uuidString(u)
		}
		return out
	}
	return fmt.Sprint(v)
}

func uuidString(u amqp.UUID) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// idString formats a message-id or correlation-id as text: a string as
// is, an unsigned long in decimal, a UUID in its canonical form, binary in
// lower-case hex.
func idString(id any) string {
	switch id := id.(type) {
	case nil:
		return ""
	case string:
		return id
	case uint64:
		return strconv.FormatUint(id, 10)
	case amqp.UUID:
		return uuidString(id)
	case []byte:
		return hex.EncodeToString(id)
	}
	return fmt.Sprint(id)
}

// propertyString formats an application property's value as a Kafka
// header's text: strings and symbols as is, binary as is, timestamps in
// RFC 3339 with milliseconds, numbers and booleans as Go prints them.
func propertyString(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(v)
	case amqp.Symbol:
		return []byte(v)
	case []byte:
		return v
	case time.Time:
		return []byte(v.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	case amqp.UUID:
		return []byte(uuidString(v))
	}
	return []byte(fmt.Sprint(v))
}

// passedProperty reports whether an application property becomes a Kafka
// header of its own: not the envelope's (read by envelope.FromAMQP), nor
// the adapter's mark.
func passedProperty(key string) bool {
	return key != "" && key != adapters.HeaderAdapter && key != HeaderBody && !envelope.IsAMQPProperty(key)
}

// sendable reports whether a Kafka header goes to AMQP as an application
// property: not one of the envelope's (sent as the envelope's own
// properties), nor the adapters' bookkeeping, and valid UTF-8 text.
func sendable(h kgo.RecordHeader) bool {
	switch {
	case h.Key == "", h.Key == HeaderBody, h.Key == adapters.HeaderAdapter, envelope.IsKafkaHeader(h.Key):
		return false
	}
	return utf8.ValidString(h.Key) && utf8.Valid(h.Value)
}

// sortedKeys returns m's keys in order, so that headers come out the same
// for the same message.
// sortedKeys returns m's keys in order, so that headers come out the same
// for the same message.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
