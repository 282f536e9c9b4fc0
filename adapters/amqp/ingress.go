package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

// receiver is what ingress needs of an AMQP receiver link; *amqp.Receiver
// is one, and tests fake it.
type receiver interface {
	Receive(ctx context.Context, opts *amqp.ReceiveOptions) (*amqp.Message, error)
	AcceptMessage(ctx context.Context, msg *amqp.Message) error
	ReleaseMessage(ctx context.Context, msg *amqp.Message) error
	IssueCredit(credit uint32) error
	Close(ctx context.Context) error
}

// attacher attaches a new receiver link for a rule, under a new random
// link name.
type attacher func(ctx context.Context) (receiver, error)

// creditLink is one receiver link of a rule.
type creditLink struct {
	rcv       receiver
	unsettled atomic.Int64 // received on this link and not yet settled
}

// ruleCredit is the credit of one rule's receiver, kept across the links
// the watchdog attaches anew: out counts the messages received and whose
// credit has not been given back yet (unsettled, or settled and pending),
// so the current link's credit is always credit - out.
type ruleCredit struct {
	cur     *creditLink // guarded by ingress.linksMu
	pending atomic.Uint32
	out     atomic.Int64
}

// ingress maps the messages of each rule's receiver to the core pipeline's
// and settles them once the pipeline released them.
//
// The receiver's link credit is max_in_flight, renewed only for settled
// messages, so the broker never has more unsettled messages out than
// that: a slow Kafka holds settlements back, and with them credit. The
// ingress issues credit itself (go-amqp's manual credit), after each batch
// the pipeline settles: go-amqp's automatic credit, which tops up from the
// receiving side, stalls against RabbitMQ 3.x once settlements lag behind
// deliveries (a receiver that settles later than it receives, as this one
// does, is then never sent another message). A message is settled Accepted once Kafka has it (or its
// dead letter), in the order it arrived, on the pipeline's release
// goroutine; Released only when the adapter stops before Kafka took it, so
// the broker hands it to the next consumer at once. Never Released while
// Kafka is slow: a released message goes to the back of the queue (order
// lost) and comes straight back (a redelivery storm).
//
// A watchdog (stallTimeout) attaches a receiver anew when it got no message
// for that long while it had credit out: RabbitMQ 3.x was seen to stop
// sending to a link that still had credit, with messages in the queue.
type ingress struct {
	rules []ingressRule
	host  string // broker host, for ce_source
	id    string // container id: the adapter's mark on what egress sends
	pipe  *adapters.Ingress
	log   *slog.Logger
	m     *linkMetrics
	// settleTimeout bounds the write of one disposition.
	settleTimeout time.Duration
	// credit is each receiver's link credit (max_in_flight).
	credit uint32
	// stallTimeout is the watchdog's period; 0 turns it off.
	stallTimeout time.Duration

	linksMu sync.Mutex
	links   map[*ruleCredit]struct{} // rules receiving now
}

// flushCredit gives each receiver back the credit of the messages settled
// since it last did, in one flow frame, once that is a quarter of its
// credit: fewer flow frames, and it cannot starve the link, since the
// broker then still holds three quarters of the credit less what is
// unsettled, and what is unsettled settles. (A flow frame per message,
// racing the broker's transfers, once stalled a RabbitMQ 3.10 link.) The
// pipeline calls it after each batch of settlements.
func (in *ingress) flushCredit() {
	batch := max(1, in.credit/4)
	in.linksMu.Lock()
	defer in.linksMu.Unlock()
	for rc := range in.links {
		if n := rc.pending.Load(); n >= batch && rc.pending.CompareAndSwap(n, 0) {
			if err := rc.cur.rcv.IssueCredit(n); err != nil {
				// The link is gone: the next one is given this credit.
				rc.pending.Add(n)
				continue
			}
			rc.out.Add(-int64(n))
		}
	}
}

// use makes l rule rc's current link and gives it the credit the rule has
// not out.
func (in *ingress) use(rc *ruleCredit, l *creditLink) error {
	in.linksMu.Lock()
	defer in.linksMu.Unlock()
	if in.links == nil {
		in.links = map[*ruleCredit]struct{}{}
	}
	rc.cur = l
	in.links[rc] = struct{}{}
	if n := int64(in.credit) - rc.out.Load(); n > 0 {
		if err := l.rcv.IssueCredit(uint32(n)); err != nil {
			return fmt.Errorf("issue link credit: %w", err)
		}
	}
	return nil
}

// run receives from rcv for rule r until ctx ends or the link fails, and
// returns why. When the watchdog finds the link stalled, run detaches it
// and receives on a link from attach.
func (in *ingress) run(ctx context.Context, r *ingressRule, rcv receiver, attach attacher, d dialect) error {
	rc := &ruleCredit{}
	defer func() {
		in.linksMu.Lock()
		delete(in.links, rc)
		in.linksMu.Unlock()
	}()
	w := watchdog{period: in.stallTimeout}
	for {
		l := &creditLink{rcv: rcv}
		if err := in.use(rc, l); err != nil {
			return err
		}
		idle, err := in.receive(ctx, r, rc, l, d, &w)
		if !idle {
			return err
		}
		in.detach(ctx, r, rc, l, &w)
		actx, cancel := context.WithTimeout(ctx, in.settleTimeout)
		rcv, err = attach(actx)
		cancel()
		if err != nil {
			return fmt.Errorf("attach the receiver anew: %w", err)
		}
		w.reattached()
	}
}

// receive hands the messages of link l to the pipeline until ctx ends,
// the link fails, or (idle true) the watchdog finds it stalled.
func (in *ingress) receive(ctx context.Context, r *ingressRule, rc *ruleCredit, l *creditLink, d dialect, w *watchdog) (idle bool, err error) {
	for first := true; ; first = false {
		rctx, cancel := w.receiveContext(ctx)
		msg, err := l.rcv.Receive(rctx, nil)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && rc.out.Load() < int64(in.credit) {
				return true, nil
			}
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				continue // no credit out: Kafka holds the messages, not the broker
			}
			return false, err
		}
		if first {
			w.delivered(in.log, in.m, r.Name)
		}
		rc.out.Add(1)
		l.unsettled.Add(1)
		m := &adapters.Message{}
		in.record(r, msg, d, m)
		m.Settle = in.settler(rc, l, msg)
		in.m.unsettled.Inc()
		if !in.pipe.Submit(m) {
			// Stopping: the next consumer takes it now rather than once the
			// link closes.
			in.settle(rc, l, msg, false)
		}
	}
}

// detach closes a stalled link, once what it delivered is settled (at
// most settleTimeout): what is still unsettled then, the broker delivers
// again.
func (in *ingress) detach(ctx context.Context, r *ingressRule, rc *ruleCredit, l *creditLink, w *watchdog) {
	in.m.reattaches.WithLabelValues(r.Name).Inc()
	in.log.Info("amqp: no message on the receiver while it had credit out; attaching it anew",
		"rule", r.Name, "address", r.address, "idle", w.wait(), "credit_out", int64(in.credit)-rc.out.Load())
	deadline := time.Now().Add(in.settleTimeout)
	for l.unsettled.Load() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, in.settleTimeout)
	defer cancel()
	if err := l.rcv.Close(cctx); err != nil {
		in.log.Debug("amqp: detaching a stalled receiver failed; attaching a new one anyway", "rule", r.Name, "error", err)
	}
}

// settler returns what settles msg once the pipeline released it: Accepted
// when Kafka has it, else (the pipeline stopped first) Released.
func (in *ingress) settler(rc *ruleCredit, l *creditLink, msg *amqp.Message) func(error) {
	return func(err error) { in.settle(rc, l, msg, err == nil) }
}

func (in *ingress) settle(rc *ruleCredit, l *creditLink, msg *amqp.Message, accept bool) {
	defer in.m.unsettled.Dec()
	defer rc.pending.Add(1)
	defer l.unsettled.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), in.settleTimeout)
	defer cancel()
	var err error
	if accept {
		err = l.rcv.AcceptMessage(ctx, msg)
	} else {
		err = l.rcv.ReleaseMessage(ctx, msg)
		in.m.released.Inc()
	}
	if err != nil {
		// The link is gone: the broker delivers the message again on the
		// next one (Kafka may then hold it twice: at least once).
		in.log.Debug("amqp: settling a message failed; the broker delivers it again", "accept", accept, "error", err)
	}
}

// record maps a message that rule r received to its Kafka record and
// envelope.
func (in *ingress) record(r *ingressRule, msg *amqp.Message, d dialect, m *adapters.Message) {
	m.Source = (&url.URL{Scheme: "amqp", Host: in.host, Path: "/" + r.address}).String()
	props := msg.ApplicationProperties
	if mark, ok := props[adapters.HeaderAdapter].(string); ok && mark == in.id {
		// Sent by this adapter's egress: taking it back would carry Kafka's
		// records round in a circle. Accepted in its turn, not written.
		return
	}
	var p amqp.MessageProperties
	if msg.Properties != nil {
		p = *msg.Properties
	}
	lookup := func(name string) string {
		switch name {
		case varAddress:
			return r.address
		case varSubject:
			return deref(p.Subject)
		case varMessageID:
			return idString(p.MessageID)
		case varCorrelationID:
			return idString(p.CorrelationID)
		case varGroupID:
			return deref(p.GroupID)
		case varReplyTo:
			return d.name(deref(p.ReplyTo))
		}
		if strings.HasPrefix(name, propertyPrefix) {
			return string(propertyString(props[name[len(propertyPrefix):]]))
		}
		return ""
	}
	value, section, bodyType := Body(msg)
	rec := &kgo.Record{Value: value, Timestamp: time.Now()}
	m.Record = rec
	switch {
	case r.key != nil:
		rec.Key = []byte(r.key.Render(lookup))
	case p.Subject != nil && *p.Subject != "":
		rec.Key = []byte(*p.Subject)
	case p.MessageID != nil:
		rec.Key = []byte(idString(p.MessageID))
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: adapters.HeaderAdapter, Value: []byte(in.id)})
	if section != "" {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderBody, Value: []byte(section)})
	}
	for _, k := range sortedKeys(props) {
		if passedProperty(k) {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: propertyString(props[k])})
		}
	}
	if !r.Route(m, fmt.Sprintf("AMQP message from %q", r.address), lookup) {
		return
	}
	env, err := envelope.FromAMQP(props, deref(p.ContentType))
	if err != nil {
		env = envelope.Envelope{}
		m.Invalid = fmt.Errorf("the message's application-properties: %w", err)
	}
	r.Complete(&env, m, lookup)
	if env.ID == "" {
		env.ID = idString(p.MessageID)
	}
	if env.Subject == "" {
		env.Subject = deref(p.Subject)
	}
	if env.Time.IsZero() && p.CreationTime != nil && !p.CreationTime.IsZero() {
		env.Time = p.CreationTime.UTC()
	}
	if env.ReplyTo == "" {
		env.ReplyTo = d.name(deref(p.ReplyTo))
	}
	if env.CorrelationID == "" {
		env.CorrelationID = idString(p.CorrelationID)
	}
	if env.ContentType == "" {
		env.ContentType = bodyType
	}
	if m.Invalid == nil {
		// Properties the envelope cannot carry (a message-id with control
		// characters, a content-type that is no media type) make the
		// message malformed: dead-lettered with the reason, not guessed at.
		check := env.Clone()
		check.Complete("check", rec.Timestamp)
		if err := check.Validate(); err != nil {
			m.Invalid = fmt.Errorf("the message's properties: %w", err)
		}
	}
	m.Envelope = env
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
