package envelope

import (
	"net/http"
	"net/textproto"
	"strings"
)

// HTTP header names (CloudEvents HTTP protocol binding, binary mode). Header
// names are case-insensitive in HTTP; these are the canonical forms.
const (
	HTTPHeaderContentType = "Content-Type"
	HTTPHeaderOrigin      = "Mesh-Origin"
	HTTPHeaderPath        = "Mesh-Path"
	HTTPHeaderTraceParent = "Traceparent"
	HTTPHeaderTraceState  = "Tracestate"
	HTTPHeaderReplyTo     = "Mesh-Reply-To"
	HTTPHeaderCorrelation = "Mesh-Correlation-Id"
	httpCEPrefix          = "Ce-"
)

func httpName(attr string) string {
	switch attr {
	case attrContentType:
		return HTTPHeaderContentType
	case attrOrigin:
		return HTTPHeaderOrigin
	case attrPath:
		return HTTPHeaderPath
	case attrTraceParent:
		return HTTPHeaderTraceParent
	case attrTraceState:
		return HTTPHeaderTraceState
	case attrReplyTo:
		return HTTPHeaderReplyTo
	case attrCorrelation:
		return HTTPHeaderCorrelation
	}
	return httpCEPrefix + strings.ToUpper(attr[:1]) + attr[1:]
}

func httpAttr(canonical string) (string, bool) {
	switch canonical {
	case HTTPHeaderContentType:
		return attrContentType, true
	case HTTPHeaderOrigin:
		return attrOrigin, true
	case HTTPHeaderPath:
		return attrPath, true
	case HTTPHeaderTraceParent:
		return attrTraceParent, true
	case HTTPHeaderTraceState:
		return attrTraceState, true
	case HTTPHeaderReplyTo:
		return attrReplyTo, true
	case HTTPHeaderCorrelation:
		return attrCorrelation, true
	}
	if strings.HasPrefix(canonical, httpCEPrefix) && len(canonical) > len(httpCEPrefix) {
		attr := strings.ToLower(canonical[len(httpCEPrefix):])
		if attr == attrContentType || isMeshAttr(attr) {
			return "", false
		}
		return attr, true
	}
	return "", false
}

// FromHTTP reads the envelope from HTTP headers in binary mode. CloudEvents
// attribute values are percent-decoded as the HTTP binding requires. As with
// FromKafka, absent attributes are not an error; malformed ones are.
func FromHTTP(h http.Header) (Envelope, error) {
	d := newDecoder(httpName)
	for key, values := range h {
		attr, ok := httpAttr(textproto.CanonicalMIMEHeaderKey(key))
		if !ok {
			continue
		}
		for _, v := range values {
			if httpEncoded(attr) {
				dv, err := percentDecode(v)
				if err != nil {
					d.errs = append(d.errs, attrErr(httpName(attr), v, "bad percent-encoding"))
					continue
				}
				v = dv
			}
			d.set(attr, v)
		}
	}
	return d.finish()
}

// SetHTTP writes the envelope into h, replacing any envelope headers already
// there and percent-encoding CloudEvents values as the HTTP binding requires.
func (e *Envelope) SetHTTP(h http.Header) {
	for key := range h {
		if _, ok := httpAttr(textproto.CanonicalMIMEHeaderKey(key)); ok {
			delete(h, key)
		}
	}
	for _, p := range e.pairs() {
		name := httpName(p.attr)
		v := p.value
		if httpEncoded(p.attr) {
			v = percentEncode(v)
		}
		h.Set(name, v)
	}
}

// httpEncoded reports whether attr's HTTP header value is percent-encoded:
// the CloudEvents attributes, as the binding requires, and the mesh's
// request/reply headers, which carry any text a protocol allows (an AMQP
// reply address, an MQTT response topic).
func httpEncoded(attr string) bool {
	return strings.HasPrefix(httpName(attr), httpCEPrefix) || attr == attrReplyTo || attr == attrCorrelation
}

// percentEncode encodes what the HTTP binding says must be encoded: space,
// double quote, percent, and every byte outside printable ASCII.
func percentEncode(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hexdigits[c>>4])
			b.WriteByte(hexdigits[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func percentDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errBadEscape
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", errBadEscape
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
