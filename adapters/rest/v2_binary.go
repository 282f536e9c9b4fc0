package rest

import (
	"encoding/base64"
	"math"
)

// binaryRecord is one record of a binary produce request, its key and
// value decoded (nil for null or absent, empty for "") and its partition
// if given.
type binaryRecord struct {
	Key, Value   []byte
	Partition    int32
	HasPartition bool
}

// parseBinaryFast reads the common shape of a binary produce body in one
// pass: {"records":[{"key":..,"value":..,"partition":..},..]} with base64
// strings or null, an integer or null, any whitespace and key order in a
// record. ok is false for anything else (escapes in strings, other fields,
// names in other cases or types, bad base64, trailing data): the caller
// then decodes with encoding/json,
// which words the errors. What it accepts, it reads exactly as that path
// does (FuzzBinaryFast). encoding/json scans a body twice (once to find
// the value, once to decode it) and allocates each string before its
// base64 is decoded: a third of the adapter's CPU on 100-record requests.
func parseBinaryFast(body []byte) (recs []binaryRecord, ok bool) {
	p := fastParser{b: body}
	if !p.byte('{') {
		return nil, false
	}
	if key, ok := p.str(); !ok || string(key) != "records" || !p.byte(':') || !p.byte('[') {
		return nil, false
	}
	recs = []binaryRecord{}
	for i := 0; !p.byte(']'); i++ {
		if i > 0 && !p.byte(',') {
			return nil, false
		}
		r, ok := p.record()
		if !ok {
			return nil, false
		}
		recs = append(recs, r)
	}
	if !p.byte('}') {
		return nil, false
	}
	p.space()
	return recs, p.i == len(p.b)
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// byte consumes c after white space, if it is next.
func (p *fastParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) null() bool {
	p.space()
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// str reads a string without escapes or control characters and returns
// its raw bytes.
func (p *fastParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// b64 reads a base64 string or null.
func (p *fastParser) b64() ([]byte, bool) {
	if p.null() {
		return nil, true
	}
	s, ok := p.str()
	if !ok {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	return out[:n], err == nil
}

// int32 reads a JSON integer in int32's range, or null (given false).
func (p *fastParser) int32() (n32 int32, given, ok bool) {
	if p.null() {
		return 0, false, true
	}
	p.space()
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	start := p.i
	var n int64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int64(p.b[p.i]-'0')
		if n > math.MaxInt32+1 {
			return 0, false, false
		}
		p.i++
	}
	digits := p.i - start
	if digits == 0 || digits > 1 && p.b[start] == '0' {
		return 0, false, false // no digits, or a leading zero JSON does not allow
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false, false
	}
	if neg {
		n = -n
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, false, false
	}
	return int32(n), true, true
}

func (p *fastParser) record() (binaryRecord, bool) {
	var r binaryRecord
	if !p.byte('{') {
		return r, false
	}
	for i := 0; !p.byte('}'); i++ {
		if i > 0 && !p.byte(',') {
			return r, false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return r, false
		}
		switch string(key) {
		case "key":
			r.Key, ok = p.b64()
		case "value":
			r.Value, ok = p.b64()
		case "partition":
			r.Partition, r.HasPartition, ok = p.int32()
		default:
			ok = false
		}
		if !ok {
			return r, false
		}
	}
	return r, true
}
