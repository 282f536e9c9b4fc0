package envelope

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// SpecVersion is the CloudEvents specification version the mesh writes.
const SpecVersion = "1.0"

// Envelope is the routing and tracing context of one event. The zero value is
// an empty envelope; Complete fills in what a first hop must assign.
type Envelope struct {
	// SpecVersion is the CloudEvents version, always "1.0" once valid.
	SpecVersion string
	// ID identifies the event; together with Source it is unique.
	ID string
	// Source is a URI-reference naming where the event happened, e.g.
	// mqtt://broker/factory/1/temp.
	Source string
	// Type is the kind of event, e.g. shop.order.created.
	Type string
	// Time is when the event happened; the zero time means absent.
	Time time.Time
	// Subject is the optional CloudEvents subject.
	Subject string
	// DataSchema is the optional URI of the payload's schema.
	DataSchema string
	// ContentType is the media type of the payload, e.g. application/json or
	// application/vnd.apache.avro+binary.
	ContentType string

	// Origin is the site where the event entered the mesh.
	Origin string
	// Path lists the sites the event crossed, in order, starting with Origin.
	Path []string

	// TraceParent and TraceState carry the W3C trace context.
	TraceParent string
	TraceState  string

	// ReplyTo and CorrelationID carry a request's reply address and the
	// identifier its reply must quote, across protocols: AMQP reply-to and
	// correlation-id, MQTT 5 Response Topic and Correlation Data, HTTP
	// headers. A service answering a request copies both onto its reply,
	// and an egress rule sends the reply to {header.mesh_reply_to}.
	ReplyTo       string
	CorrelationID string

	// Extensions holds further CloudEvents extension attributes by name
	// (lower-case alphanumeric, as the specification requires).
	Extensions map[string]string
}

// Complete fills in the attributes a first hop must assign and leaves the
// others untouched: a new time-ordered ID, the spec version, the event time,
// the origin site (also starting the path) and a fresh trace context. It is
// how an adapter makes every event traceable from the moment it enters.
func (e *Envelope) Complete(site string, now time.Time) {
	if e.SpecVersion == "" {
		e.SpecVersion = SpecVersion
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Time.IsZero() {
		e.Time = now.UTC()
	}
	if e.Origin == "" {
		e.Origin = site
	}
	if len(e.Path) == 0 && e.Origin != "" {
		e.Path = []string{e.Origin}
	}
	if e.TraceParent == "" {
		e.TraceParent = NewTraceParent()
	}
}

// Visited reports whether the event already crossed site. A replicator never
// copies an event into a site on its path, which is what keeps the mesh free
// of loops in any topology.
func (e *Envelope) Visited(site string) bool {
	return e.Origin == site || slices.Contains(e.Path, site)
}

// AddHop appends site to the path. It returns an error if the event already
// crossed that site, since copying it there again would form a loop.
func (e *Envelope) AddHop(site string) error {
	if err := validSite(site); err != nil {
		return fmt.Errorf("envelope: add hop: %w", err)
	}
	if e.Visited(site) {
		return fmt.Errorf("envelope: event %q already crossed site %q (path %v): refusing to form a loop", e.ID, site, e.Path)
	}
	if len(e.Path) == 0 && e.Origin != "" {
		e.Path = []string{e.Origin}
	}
	e.Path = append(e.Path, site)
	return nil
}

// Clone returns a deep copy, so that a changed copy never aliases the
// original's path or extensions.
func (e Envelope) Clone() Envelope {
	e.Path = slices.Clone(e.Path)
	if e.Extensions != nil {
		ext := make(map[string]string, len(e.Extensions))
		for k, v := range e.Extensions {
			ext[k] = v
		}
		e.Extensions = ext
	}
	return e
}

// NewID returns a new event ID: a UUIDv7, so IDs sort roughly by creation
// time, which helps when reading a trace.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only if the system's random source does; a v4 UUID
		// from the same source would fail too, so this cannot happen in
		// practice, but an ID must never be empty.
		return uuid.NewString()
	}
	return id.String()
}

// NewTraceParent starts a new W3C trace: version 00, random trace and span
// IDs, sampled.
func NewTraceParent() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}
