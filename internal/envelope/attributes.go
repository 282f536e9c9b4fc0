package envelope

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Attribute names as the CloudEvents specification and the mesh define them.
// Each protocol binding derives its own wire names from these.
const (
	attrSpecVersion = "specversion"
	attrID          = "id"
	attrSource      = "source"
	attrType        = "type"
	attrTime        = "time"
	attrSubject     = "subject"
	attrDataSchema  = "dataschema"
	attrContentType = "datacontenttype"
	attrOrigin      = "mesh_origin"
	attrPath        = "mesh_path"
	attrTraceParent = "traceparent"
	attrTraceState  = "tracestate"
	attrReplyTo     = "mesh_reply_to"
	attrCorrelation = "mesh_correlation_id"
)

// reservedAttrs are the names no extension may take.
var reservedAttrs = map[string]struct{}{
	attrSpecVersion: {}, attrID: {}, attrSource: {}, attrType: {}, attrTime: {},
	attrSubject: {}, attrDataSchema: {}, attrContentType: {}, "data": {}, "data_base64": {},
	attrTraceParent: {}, attrTraceState: {},
}

// isMeshAttr reports whether attr is one of the mesh's own attributes, which
// travel under the same name in every protocol.
func isMeshAttr(attr string) bool {
	switch attr {
	case attrOrigin, attrPath, attrTraceParent, attrTraceState, attrReplyTo, attrCorrelation:
		return true
	}
	return false
}

type pair struct{ attr, value string }

// pairs lists the envelope's present attributes as strings, in a stable
// order: CloudEvents attributes, extensions by name, then mesh attributes.
func (e *Envelope) pairs() []pair {
	ps := make([]pair, 0, 12+len(e.Extensions))
	add := func(attr, v string) {
		if v != "" {
			ps = append(ps, pair{attr, v})
		}
	}
	add(attrSpecVersion, e.SpecVersion)
	add(attrID, e.ID)
	add(attrSource, e.Source)
	add(attrType, e.Type)
	if !e.Time.IsZero() {
		add(attrTime, formatTime(e.Time))
	}
	add(attrSubject, e.Subject)
	add(attrDataSchema, e.DataSchema)
	add(attrContentType, e.ContentType)
	for _, k := range slices.Sorted(maps.Keys(e.Extensions)) {
		add(k, e.Extensions[k])
	}
	add(attrOrigin, e.Origin)
	add(attrPath, strings.Join(e.Path, ","))
	add(attrTraceParent, e.TraceParent)
	add(attrTraceState, e.TraceState)
	add(attrReplyTo, e.ReplyTo)
	add(attrCorrelation, e.CorrelationID)
	return ps
}

// decoder collects attributes read from a protocol and builds an envelope,
// reporting malformed values and duplicates under the protocol's names.
type decoder struct {
	name names
	env  Envelope
	seen map[string]bool
	errs []error
}

func newDecoder(name names) *decoder {
	return &decoder{name: name, seen: make(map[string]bool)}
}

// set records one attribute. Missing attributes are not errors here: a record
// from a plain Kafka producer has no envelope at all, and the mesh accepts it.
// An empty value counts as absent, as it does when writing.
func (d *decoder) set(attr, v string) {
	if v == "" {
		return
	}
	if d.seen[attr] {
		d.errs = append(d.errs, attrErr(d.name(attr), v, "appears more than once"))
		return
	}
	d.seen[attr] = true
	e := &d.env
	switch attr {
	case attrSpecVersion:
		e.SpecVersion = v
	case attrID:
		e.ID = v
	case attrSource:
		e.Source = v
	case attrType:
		e.Type = v
	case attrTime:
		t, err := parseTime(d.name(attr), v)
		if err != nil {
			d.errs = append(d.errs, err)
			return
		}
		e.Time = t
	case attrSubject:
		e.Subject = v
	case attrDataSchema:
		e.DataSchema = v
	case attrContentType:
		e.ContentType = v
	case attrOrigin:
		e.Origin = v
	case attrPath:
		p, err := parsePath(d.name(attr), v)
		if err != nil {
			d.errs = append(d.errs, err)
			return
		}
		e.Path = p
	case attrTraceParent:
		e.TraceParent = v
	case attrTraceState:
		e.TraceState = v
	case attrReplyTo:
		e.ReplyTo = v
	case attrCorrelation:
		e.CorrelationID = v
	default:
		if e.Extensions == nil {
			e.Extensions = make(map[string]string)
		}
		e.Extensions[attr] = v
	}
}

func (d *decoder) setTime(attr string, t time.Time) {
	if d.seen[attr] {
		d.errs = append(d.errs, attrErr(d.name(attr), formatTime(t), "appears more than once"))
		return
	}
	d.seen[attr] = true
	d.env.Time = t
}

// finish checks the format of every present attribute and returns the
// envelope, or all problems found.
func (d *decoder) finish() (Envelope, error) {
	if len(d.errs) == 0 {
		d.errs = append(d.errs, d.env.checkPresent(d.name)...)
	}
	if len(d.errs) > 0 {
		return Envelope{}, joinErrs(d.errs)
	}
	return d.env, nil
}

// checkPresent validates the attributes that are set, without requiring any.
func (e *Envelope) checkPresent(name names) []error {
	if err := e.validate(name, false); err != nil {
		return unjoin(err)
	}
	return nil
}
