package envelope

import (
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// names maps the attributes to how a protocol names them, so that validation
// errors speak the reader's language (ce_id for Kafka, ce-id for HTTP, ...).
type names func(attr string) string

// Validate checks that the envelope is a valid CloudEvent with valid mesh
// attributes, naming attributes as Kafka headers in its errors. All problems
// are reported, joined.
func (e *Envelope) Validate() error { return e.validate(kafkaName, true) }

// validate checks the envelope. With complete set, the required CloudEvents
// attributes must be present; without, only present values are checked.
func (e *Envelope) validate(name names, complete bool) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case e.SpecVersion == "" && complete:
		add(attrErr(name(attrSpecVersion), "", "missing; want "+SpecVersion))
	case e.SpecVersion != "" && e.SpecVersion != SpecVersion:
		add(attrErr(name(attrSpecVersion), e.SpecVersion, "unsupported CloudEvents version; want "+SpecVersion))
	}
	if e.ID == "" && complete {
		add(attrErr(name(attrID), "", "missing; every event needs a non-empty id"))
	}
	add(validText(name(attrID), e.ID))
	if e.Source == "" {
		if complete {
			add(attrErr(name(attrSource), "", "missing; want a URI-reference such as mqtt://broker/topic"))
		}
	} else {
		add(validURIRef(name(attrSource), e.Source))
	}
	if e.Type == "" && complete {
		add(attrErr(name(attrType), "", "missing; want the event type, e.g. shop.order.created"))
	}
	add(validText(name(attrType), e.Type))
	add(validText(name(attrSubject), e.Subject))
	if e.DataSchema != "" {
		if u, err := url.Parse(e.DataSchema); err != nil || !u.IsAbs() {
			add(attrErr(name(attrDataSchema), e.DataSchema, "not an absolute URI"))
		}
	}
	if e.ContentType != "" && !strings.Contains(e.ContentType, "/") {
		add(attrErr(name(attrContentType), e.ContentType, "not a media type such as application/json"))
	}
	if e.Origin != "" {
		if err := validSite(e.Origin); err != nil {
			add(attrErr(name(attrOrigin), e.Origin, err.Error()))
		}
	}
	for _, s := range e.Path {
		if err := validSite(s); err != nil {
			add(attrErr(name(attrPath), strings.Join(e.Path, ","), err.Error()))
			break
		}
	}
	if len(e.Path) > 0 && e.Origin != "" && e.Path[0] != e.Origin {
		add(attrErr(name(attrPath), strings.Join(e.Path, ","), "must start with the origin site "+e.Origin))
	}
	if e.TraceParent != "" {
		if err := validTraceParent(e.TraceParent); err != nil {
			add(attrErr(name(attrTraceParent), e.TraceParent, err.Error()))
		}
	}
	add(validText(name(attrTraceState), e.TraceState))
	add(validText(name(attrReplyTo), e.ReplyTo))
	add(validText(name(attrCorrelation), e.CorrelationID))
	for k, v := range e.Extensions {
		if !validExtensionName(k) {
			add(attrErr(name(k), v, "extension names must be 1-20 lower-case letters or digits"))
			continue
		}
		if _, reserved := reservedAttrs[k]; reserved {
			add(attrErr(name(k), v, "reserved attribute name cannot be an extension"))
			continue
		}
		add(validText(name(k), v))
	}
	return errors.Join(errs...)
}

func validText(name, v string) error {
	if !utf8.ValidString(v) {
		return attrErr(name, v, "not valid UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return attrErr(name, v, "contains a control character")
		}
	}
	return nil
}

func validURIRef(name, v string) error {
	if err := validText(name, v); err != nil {
		return err
	}
	if _, err := url.Parse(v); err != nil {
		return attrErr(name, v, "not a URI-reference")
	}
	return nil
}

// validSite checks a site name: 1-63 characters of lower-case letters,
// digits, '-' and '_', starting with a letter or digit. Site names appear in
// headers, metric labels and transactional ids, so they are kept plain.
func validSite(s string) error {
	if s == "" {
		return errors.New("site name is empty")
	}
	if len(s) > 63 {
		return errors.New("site name longer than 63 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return errors.New("site names are lower-case letters, digits, '-' and '_', starting with a letter or digit")
		}
	}
	return nil
}

// ValidSite reports whether s is a valid site name, with the reason if not.
func ValidSite(s string) error { return validSite(s) }

func validExtensionName(k string) bool {
	if k == "" || len(k) > 20 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validTraceParent checks the W3C trace-context traceparent format:
// version-traceid-parentid-flags in lower-case hex.
func validTraceParent(v string) error {
	parts := strings.Split(v, "-")
	if len(parts) < 4 {
		return errors.New("want version-traceid-parentid-flags, e.g. 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	}
	version, trace, parent, flags := parts[0], parts[1], parts[2], parts[3]
	if len(version) != 2 || !lowerHex(version) || version == "ff" {
		return errors.New("version must be two lower-case hex digits other than ff")
	}
	if version == "00" && len(parts) != 4 {
		return errors.New("version 00 has exactly four fields")
	}
	if len(trace) != 32 || !lowerHex(trace) || strings.Trim(trace, "0") == "" {
		return errors.New("trace-id must be 32 lower-case hex digits, not all zero")
	}
	if len(parent) != 16 || !lowerHex(parent) || strings.Trim(parent, "0") == "" {
		return errors.New("parent-id must be 16 lower-case hex digits, not all zero")
	}
	if len(flags) != 2 || !lowerHex(flags) {
		return errors.New("trace-flags must be two lower-case hex digits")
	}
	return nil
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseTime parses a CloudEvents time (RFC 3339).
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, attrErr(name, v, "not an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
	}
	return t, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parsePath parses mesh_path: site names separated by commas.
func parsePath(name, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	path := strings.Split(v, ",")
	for i, s := range path {
		s = strings.TrimSpace(s)
		if err := validSite(s); err != nil {
			return nil, attrErr(name, v, "want comma-separated site names: "+err.Error())
		}
		path[i] = s
	}
	return path, nil
}
