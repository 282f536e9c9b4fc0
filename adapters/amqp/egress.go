package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

// sendLink is what egress needs of an AMQP sender link; *amqp.Sender makes
// one (senderLink), and tests fake it.
type sendLink interface {
	// send transfers msg unsettled and returns what waits for the
	// broker's outcome.
	send(ctx context.Context, msg *amqp.Message) (outcome func(context.Context) (amqp.DeliveryState, error), err error)
	// maxMessageSize is the largest message the broker takes on the link
	// (0: no limit announced).
	maxMessageSize() uint64
}

// linkSource gives egress the sender link of an address on the current
// connection, and the connection's address syntax.
type linkSource interface {
	sender(ctx context.Context, address string) (sendLink, dialect, error)
	// forget drops a link that failed, so the next send attaches anew.
	forget(address string, l sendLink)
}

// sender sends the records of one egress rule to AMQP, unsettled: the
// core (adapters.Egress) commits a record only once the broker's outcome
// is Accepted. Rejected is final (the record goes to its dead-letter topic
// with the broker's error condition); Released and Modified, or a link
// lost before the outcome, are tried again with backoff.
type sender struct {
	rule    egressRule
	links   linkSource
	site    string
	id      string // container id: the mark on what this adapter sends
	timeout time.Duration
	m       *linkMetrics
	// waits are the goroutines waiting for outcomes; Close waits for them.
	waits *sync.WaitGroup
}

// Send hands r to the broker. A record this adapter's own ingress produced
// at this site is skipped; one whose address is not valid or not allowed
// by the rule, or is larger than the link takes, is refused before it is
// sent.
func (s *sender) Send(ctx context.Context, r *kgo.Record) adapters.Confirm {
	if adapters.Echo(r, s.site, s.id) {
		return adapters.Confirmed(adapters.ErrSkip)
	}
	addr := s.address(r)
	if err := checkAddress(addr); err != nil {
		return adapters.Confirmed(adapters.Permanent(adapters.ReasonTopic, fmt.Errorf("address %q: %w", s.rule.To, err)))
	}
	if !s.rule.To.Literal() && !allowed(s.rule.allow, addr) {
		return adapters.Confirmed(adapters.Permanent(adapters.ReasonTopic,
			fmt.Errorf("address %q (from %q) matches none of the rule's allow patterns %q", addr, s.rule.To, s.rule.allow)))
	}
	attachCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	l, d, err := s.links.sender(attachCtx, addr)
	if err != nil {
		return adapters.Confirmed(refusal(addr, err))
	}
	msg := s.message(r, d)
	if limit := l.maxMessageSize(); limit > 0 && uint64(len(r.Value)) > limit {
		return adapters.Confirmed(adapters.Permanent(adapters.ReasonTooLarge,
			fmt.Errorf("a %d-byte value is over the %d-byte message limit of %q", len(r.Value), limit, addr)))
	}
	outcome, err := l.send(attachCtx, msg)
	if err != nil {
		s.links.forget(addr, l)
		return adapters.Confirmed(refusal(addr, err))
	}
	c := &confirm{done: make(chan struct{})}
	s.waits.Go(func() {
		wctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		state, err := outcome(wctx)
		if err != nil {
			var le *amqp.LinkError
			if errors.As(err, &le) {
				s.links.forget(addr, l)
			}
		}
		c.err = s.outcome(addr, state, err)
		close(c.done)
	})
	return c
}

// outcome maps the broker's delivery state to the Confirm's error.
func (s *sender) outcome(addr string, state amqp.DeliveryState, err error) error {
	count := func(o string) { s.m.outcomes.WithLabelValues(s.rule.name, o).Inc() }
	switch st := state.(type) {
	case nil:
		count("lost")
		if errors.Is(err, context.DeadlineExceeded) {
			return adapters.ErrNoConfirm
		}
		return fmt.Errorf("no outcome from the broker for %q: %w", addr, err)
	case *amqp.StateAccepted:
		count("accepted")
		return nil
	case *amqp.StateRejected:
		count("rejected")
		cond, desc := amqp.ErrCond(""), ""
		if st.Error != nil {
			cond, desc = st.Error.Condition, st.Error.Description
		}
		return adapters.Permanent(conditionReason(cond), fmt.Errorf("the broker rejected the message to %q: %s %s", addr, cond, desc))
	case *amqp.StateReleased:
		count("released")
		return fmt.Errorf("the broker released the message to %q; sending it again", addr)
	case *amqp.StateModified:
		count("modified")
		return fmt.Errorf("the broker returned the message to %q modified (delivery failed %v, undeliverable here %v); sending it again",
			addr, st.DeliveryFailed, st.UndeliverableHere)
	}
	count("lost")
	return fmt.Errorf("the broker answered the message to %q with %T; sending it again", addr, state)
}

// refusal classifies an error attaching a link or sending: the broker's
// error conditions that trying again cannot change are final, anything
// else (a connection lost, a time-out) is transient.
func refusal(addr string, err error) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("sending to %q: %w", addr, err)
	}
	switch ae.Condition {
	case amqp.ErrCondNotFound, amqp.ErrCondUnauthorizedAccess, amqp.ErrCondMessageSizeExceeded,
		amqp.ErrCondInvalidField, amqp.ErrCondDecodeError, amqp.ErrCondNotAllowed:
		return adapters.Permanent(conditionReason(ae.Condition), fmt.Errorf("the broker refused %q: %w", addr, err))
	}
	return fmt.Errorf("sending to %q: %w", addr, err)
}

// conditionReason maps an AMQP error condition to the reason a record is
// dead-lettered for.
func conditionReason(c amqp.ErrCond) string {
	switch c {
	case amqp.ErrCondUnauthorizedAccess:
		return adapters.ReasonUnauthorized
	case amqp.ErrCondNotFound:
		return adapters.ReasonTopic
	case amqp.ErrCondMessageSizeExceeded:
		return adapters.ReasonTooLarge
	case amqp.ErrCondDecodeError, amqp.ErrCondInvalidField:
		return adapters.ReasonInvalid
	}
	return adapters.ReasonRefused
}

// address renders the rule's address for r.
func (s *sender) address(r *kgo.Record) string {
	return s.rule.To.Render(adapters.RecordLookup(r))
}

// message builds the AMQP message of r: the envelope as application
// properties and in the message's own properties (message-id from ce_id,
// or <topic>/<partition>/<offset> for a record without one,
// content-type, subject from ce_subject or else the key, creation-time
// from ce_time, reply-to and correlation-id from mesh_reply_to and
// mesh_correlation_id), the record's other text headers as application
// properties, the adapter's mark, and the value as the rule's body.
func (s *sender) message(r *kgo.Record, d dialect) *amqp.Message {
	env, err := envelope.FromKafka(r.Headers)
	if err != nil {
		env = envelope.Envelope{} // malformed: sent without it, as from a plain producer
	}
	if env.ID == "" {
		// From a plain Kafka client: the same id on every try, so that a
		// receiver can drop the duplicates a retry may cause.
		env.ID = fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
	}
	env.Complete(s.site, r.Timestamp)
	props, contentType := env.AMQPProperties()
	for _, h := range r.Headers {
		if sendable(h) {
			if _, taken := props[h.Key]; !taken {
				props[h.Key] = string(h.Value)
			}
		}
	}
	props[adapters.HeaderAdapter] = s.id
	p := &amqp.MessageProperties{MessageID: env.ID}
	if contentType != "" {
		p.ContentType = &contentType
	}
	subject := env.Subject
	if subject == "" && utf8.Valid(r.Key) {
		subject = string(r.Key)
	}
	if subject != "" {
		p.Subject = &subject
	}
	if !env.Time.IsZero() {
		t := env.Time
		p.CreationTime = &t
	}
	if env.ReplyTo != "" {
		rt := d.link(env.ReplyTo)
		p.ReplyTo = &rt
	}
	if env.CorrelationID != "" {
		p.CorrelationID = env.CorrelationID
	}
	msg := &amqp.Message{Properties: p, ApplicationProperties: props, Header: &amqp.MessageHeader{Durable: s.rule.durable}}
	if s.rule.body == BodyValue && utf8.Valid(r.Value) {
		msg.Value = string(r.Value)
	} else {
		msg.Data = [][]byte{r.Value}
	}
	return msg
}

// confirm is the outcome of one send, filled in by the goroutine waiting
// for it.
type confirm struct {
	done chan struct{}
	err  error
}

func (c *confirm) Done() <-chan struct{} { return c.done }
func (c *confirm) Error() error          { return c.err }

// senderLink is a sendLink over a go-amqp sender.
type senderLink struct{ s *amqp.Sender }

func (l senderLink) send(ctx context.Context, msg *amqp.Message) (func(context.Context) (amqp.DeliveryState, error), error) {
	rc, err := l.s.SendWithReceipt(ctx, msg, nil)
	if err != nil {
		return nil, err
	}
	return rc.Wait, nil
}

func (l senderLink) maxMessageSize() uint64 { return l.s.MaxMessageSize() }
