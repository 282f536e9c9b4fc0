package adapters

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/meshwork/meshwork/internal/envelope"
)

// Reasons a message is dead-lettered, as the reason label of the
// dead_letters_total metric. Every failure of every pipeline is either one
// of these (permanent: trying again cannot help, so the message goes to
// its dead-letter topic and the stream goes on) or transient (Kafka or the
// peer down, a leader moving, a timeout, throttling: tried again with
// backoff, and shown by Ready once it lasts).
const (
	ReasonTooLarge     = "too_large"     // over the topic's max.message.bytes, or the peer's packet limit
	ReasonInvalid      = "invalid"       // Kafka or the peer refused the record itself (corrupt, bad timestamp, payload format)
	ReasonUnauthorized = "unauthorized"  // not allowed to write the topic (ACLs) or publish the address
	ReasonTopic        = "invalid_topic" // a topic or address no one may write (invalid name, internal topic)
	ReasonSchema       = "schema"        // the payload does not fit the topic's registered schema
	ReasonEnvelope     = "envelope"      // malformed envelope headers (mesh_origin, mesh_path, CloudEvents attributes)
	ReasonRefused      = "refused"       // any other final refusal
)

type permanentErr struct {
	err    error
	reason string
}

func (p permanentErr) Error() string { return p.err.Error() }
func (p permanentErr) Unwrap() error { return p.err }

// Permanent marks err as a failure that trying again cannot help, for the
// given reason (one of the Reason constants): the message is dead-lettered.
func Permanent(reason string, err error) error { return permanentErr{err: err, reason: reason} }

// Classify says whether err is permanent and, if so, why (a Reason). It is
// the one rule every adapter's pipelines follow:
//   - errors marked with Permanent, and malformed envelopes;
//   - Kafka's final refusals of a record: too large, invalid or corrupt
//     record, invalid topic, not authorized for the topic, a policy
//     violation, an unsupported message format;
//   - everything else is transient: a broker down, a leader moving, not
//     enough replicas, a timeout, throttling, a full buffer, a cancelled
//     request are all tried again.
func Classify(err error) (permanent bool, reason string) {
	if err == nil {
		return false, ""
	}
	var p permanentErr
	if errors.As(err, &p) {
		return true, p.reason
	}
	switch {
	case errors.Is(err, envelope.ErrMalformed):
		return true, ReasonEnvelope
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return true, ReasonTooLarge
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage),
		errors.Is(err, kerr.InvalidTimestamp), errors.Is(err, kerr.UnsupportedForMessageFormat),
		errors.Is(err, kerr.InvalidRequiredAcks):
		return true, ReasonInvalid
	case errors.Is(err, kerr.InvalidTopicException):
		return true, ReasonTopic
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		// Refused for this topic. A client refused the whole cluster
		// (SASL, cluster ACLs) is a configuration to fix: transient, so
		// it shows in /readyz instead of dead-lettering everything.
		return true, ReasonUnauthorized
	case errors.Is(err, kerr.PolicyViolation):
		return true, ReasonRefused
	}
	return false, ""
}
