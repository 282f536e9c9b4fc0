package interest

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meshwork/meshwork/internal/envelope"
)

// Kind says what holds an interest (the contract's InterestSource).
type Kind int8

// Kinds of holders.
const (
	// KindConsumerGroup is a Kafka consumer group with committed offsets on
	// the topic or members subscribed to it (discovered).
	KindConsumerGroup Kind = iota
	// KindAdapterEgress is a protocol adapter's egress mapping.
	KindAdapterEgress
	// KindWebhook is a webhook subscription.
	KindWebhook
	// KindDeclared is declared by an operator (meshctl, mesh.yaml).
	KindDeclared
)

var kindSymbols = [...]string{"CONSUMER_GROUP", "ADAPTER_EGRESS", "WEBHOOK", "DECLARED"}

// String returns the contract's symbol, like CONSUMER_GROUP.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindSymbols) {
		return fmt.Sprintf("Kind(%d)", int8(k))
	}
	return kindSymbols[k]
}

func (k Kind) valid() bool { return k >= 0 && int(k) < len(kindSymbols) }

// ParseKind reads a contract symbol, like DECLARED (case does not matter).
func ParseKind(s string) (Kind, error) {
	for i, sym := range kindSymbols {
		if strings.EqualFold(s, sym) {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("interest: unknown source kind %q; want one of %s", s, strings.Join(kindSymbols[:], ", "))
}

// Resume says where a flow starts when interest returns after a pause (the
// contract's ResumePolicy).
type Resume int8

// Resume policies.
const (
	// ResumeCheckpoint starts at the replicator's stored checkpoint:
	// nothing missed. The default.
	ResumeCheckpoint Resume = iota
	// ResumeLatest starts at the end of the source topic: only new records.
	ResumeLatest
	// ResumeEarliest starts at the beginning of the source topic.
	ResumeEarliest
	// ResumeTimestamp starts at the lease's ResumeAt.
	ResumeTimestamp
)

var resumeSymbols = [...]string{"CHECKPOINT", "LATEST", "EARLIEST", "TIMESTAMP"}

// String returns the contract's symbol, like CHECKPOINT.
func (r Resume) String() string {
	if r < 0 || int(r) >= len(resumeSymbols) {
		return fmt.Sprintf("Resume(%d)", int8(r))
	}
	return resumeSymbols[r]
}

func (r Resume) valid() bool { return r >= 0 && int(r) < len(resumeSymbols) }

// ParseResume reads a resume policy as people write it in flags and
// configuration: checkpoint (or empty), latest, earliest, or
// time:<RFC 3339 time>.
func ParseResume(s string) (Resume, time.Time, error) {
	switch {
	case s == "" || s == "checkpoint":
		return ResumeCheckpoint, time.Time{}, nil
	case s == "latest":
		return ResumeLatest, time.Time{}, nil
	case s == "earliest":
		return ResumeEarliest, time.Time{}, nil
	case strings.HasPrefix(s, "time:"):
		t, err := time.Parse(time.RFC3339, strings.TrimPrefix(s, "time:"))
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("resume %q: want time:<RFC 3339 time>, like time:2026-01-02T15:04:05Z", s)
		}
		return ResumeTimestamp, t.UTC(), nil
	}
	return 0, time.Time{}, fmt.Errorf("resume %q: want checkpoint, latest, earliest or time:<RFC 3339 time>", s)
}

// FormatResume writes a resume policy the way ParseResume reads it.
func FormatResume(r Resume, at time.Time) string {
	if r == ResumeTimestamp {
		return "time:" + at.UTC().Format(time.RFC3339)
	}
	return strings.ToLower(r.String())
}

// Lease is one holder's interest in one topic or pattern at one site: the
// InterestLease contract (schemas/interest-lease.avsc). Times travel as
// milliseconds; Codec truncates them.
type Lease struct {
	// Topic is the topic's name, or with Pattern an RE2 regular expression
	// matched against whole topic names. A pattern never matches internal
	// topics (names starting with _); name those exactly.
	Topic   string
	Pattern bool
	// Site is the site that holds the interest and wants the records.
	Site string
	// Kind and SourceID say who holds it: the consumer group id, the
	// adapter's component and mapping, the webhook's id, or the
	// declaration's name.
	Kind     Kind
	SourceID string
	// Since is when this holder's interest began; kept across renewals.
	Since time.Time
	// Expires is when the lease lapses unless renewed; the zero time means
	// never (declared interest only; on the wire the largest long).
	Expires time.Time
	// Resume and ResumeAt say where a flow starts when interest returns
	// after a pause; ResumeAt only with ResumeTimestamp.
	Resume   Resume
	ResumeAt time.Time
}

// Limits of a lease's free-text fields.
const (
	maxTopicLen    = 249 // Kafka's limit on topic names
	maxPatternLen  = 1000
	maxSourceIDLen = 1000
)

// neverMillis is Expires on the wire for a lease that never expires.
const neverMillis = math.MaxInt64

// Expired reports whether the lease has lapsed at now.
func (l Lease) Expired(now time.Time) bool {
	return !l.Expires.IsZero() && !now.Before(l.Expires)
}

// ErrInvalidLease is wrapped by every validation error.
var ErrInvalidLease = errors.New("invalid interest lease")

// Validate checks the lease against the contract and this package's rules;
// the error lists every problem found.
func (l Lease) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch {
	case l.Topic == "" && l.Pattern:
		add("pattern is empty")
	case l.Topic == "":
		add("topic is empty")
	case l.Pattern:
		if _, err := CompilePattern(l.Topic); err != nil {
			add("%v", err)
		}
	default:
		if err := validTopic(l.Topic); err != nil {
			add("%v", err)
		}
	}
	if err := envelope.ValidSite(l.Site); err != nil {
		add("site %q: %v", l.Site, err)
	}
	if !l.Kind.valid() {
		add("unknown source kind %d", l.Kind)
	}
	switch {
	case l.SourceID == "":
		add("source id is empty; name the holder (group id, component, webhook id or declaration name)")
	case len(l.SourceID) > maxSourceIDLen:
		add("source id is longer than %d bytes", maxSourceIDLen)
	case !utf8.ValidString(l.SourceID):
		add("source id is not valid UTF-8")
	}
	if l.Since.IsZero() {
		add("since is not set")
	}
	if !l.Expires.IsZero() && !l.Expires.After(l.Since) {
		add("expires %s is not after since %s", l.Expires.UTC().Format(time.RFC3339Nano), l.Since.UTC().Format(time.RFC3339Nano))
	}
	if !l.Resume.valid() {
		add("unknown resume policy %d", l.Resume)
	}
	if l.Resume == ResumeTimestamp && l.ResumeAt.IsZero() {
		add("resume TIMESTAMP needs resume_at, the time to start from")
	}
	if l.Resume != ResumeTimestamp && !l.ResumeAt.IsZero() {
		add("resume_at is set but resume is %s; it is only read with TIMESTAMP", l.Resume)
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w %s: %s", ErrInvalidLease, l.describe(), strings.Join(problems, "; "))
}

// describe names the lease in errors and logs even when it is invalid.
func (l Lease) describe() string {
	what := "topic " + l.Topic
	if l.Pattern {
		what = "pattern " + l.Topic
	}
	return fmt.Sprintf("(%s of %s %q at site %q)", what, l.Kind, l.SourceID, l.Site)
}

// SameInterest reports whether two leases with the same key say the same
// thing but for when they expire.
func (l Lease) SameInterest(o Lease) bool {
	return l.Topic == o.Topic && l.Pattern == o.Pattern && l.Site == o.Site && l.Kind == o.Kind &&
		l.SourceID == o.SourceID && l.Since.Equal(o.Since) && l.Resume == o.Resume && l.ResumeAt.Equal(o.ResumeAt)
}

// CompilePattern compiles a lease's pattern to match whole topic names.
func CompilePattern(p string) (*regexp.Regexp, error) {
	if len(p) > maxPatternLen {
		return nil, fmt.Errorf("pattern is longer than %d bytes", maxPatternLen)
	}
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not an RE2 regular expression: %v", p, err)
	}
	return re, nil
}

// validTopic checks a Kafka topic name.
func validTopic(t string) error {
	if len(t) > maxTopicLen {
		return fmt.Errorf("topic %q is longer than %d characters", t, maxTopicLen)
	}
	if t == "." || t == ".." {
		return fmt.Errorf("topic %q is not a valid name", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic %q: Kafka topic names are letters, digits, '.', '_' and '-'; for a regular expression set pattern", t)
		}
	}
	return nil
}
