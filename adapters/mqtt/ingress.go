package mqtt

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

// HeaderAdapter names the MQTT adapter (by its client id) that produced a
// record from MQTT. With mesh_origin it lets egress recognise its own
// ingress's records and not publish them back to the broker.
const HeaderAdapter = adapters.HeaderAdapter

// inbound is one PUBLISH received from the broker, as either session hands
// it to the ingress.
type inbound struct {
	topic   string
	payload []byte
	qos     byte
	id      uint16
	// conn is the connection it arrived on: its PUBACK goes there.
	conn *coalescingConn
	// props and contentType are its MQTT 5 user properties and Content
	// Type; none over MQTT 3.1.1.
	props       []envelope.Property
	contentType string
	// responseTopic and correlationData are its MQTT 5 Response Topic and
	// Correlation Data: a request's reply address and the id its reply
	// quotes (mesh_reply_to, mesh_correlation_id).
	responseTopic   string
	correlationData []byte
	// viaLibrary acknowledges it through the client library: QoS 2 (whose
	// exchange the library tracks), or a connection the adapter did not
	// make. nil: the ackWriter writes its PUBACK.
	viaLibrary func()
}

// ingress maps the messages the session receives to the core pipeline's,
// and writes their acknowledgements once the pipeline settles them.
//
// The session calls receive for each PUBLISH, in arrival order, on its one
// reading goroutine; receive must not block, or the client stops reading
// the connection and misses its keep-alive. It only maps the message and
// submits it; the pipeline blocks only beyond max_queued messages (see
// adapters.Ingress), and over MQTT 5 the broker never sends that many.
type ingress struct {
	rules    []ingressRule
	host     string // broker host, for ce_source
	clientID string
	pipe     *adapters.Ingress
	acks     ackWriter // used on the pipeline's release goroutine only
}

// subscriptions returns the filters to subscribe to, with their QoS.
func (in *ingress) subscriptions() map[string]byte {
	subs := make(map[string]byte, len(in.rules))
	for _, r := range in.rules {
		if q, ok := subs[r.filter.subscription]; !ok || r.qos > q {
			subs[r.filter.subscription] = r.qos
		}
	}
	return subs
}

// receive hands one PUBLISH to the pipeline.
func (in *ingress) receive(p inbound) {
	m := &adapters.Message{BestEffort: p.qos == 0, Settle: in.settler(p)}
	for i := range in.rules {
		if vars, ok := in.rules[i].filter.match(p.topic); ok {
			in.record(&in.rules[i], p, vars, m)
			break
		}
	}
	in.pipe.Submit(m) // not taken: the broker delivers it again to the next session
}

// settler returns what acknowledges p once the pipeline settled it.
func (in *ingress) settler(p inbound) func(error) {
	return func(err error) {
		switch {
		case err != nil, p.qos == 0:
		case p.viaLibrary != nil:
			in.acks.through(p.viaLibrary)
		default:
			in.acks.qos1(p.conn, p.id)
		}
	}
}

// record maps a message that rule r took to its Kafka record and envelope.
func (in *ingress) record(r *ingressRule, p inbound, vars map[string]string, m *adapters.Message) {
	lookup := func(name string) string {
		if name == varTopic {
			return p.topic
		}
		return vars[name]
	}
	m.Source = (&url.URL{Scheme: "mqtt", Host: in.host, Path: "/" + p.topic}).String()
	m.Record = &kgo.Record{
		Key:       []byte(r.key.Render(lookup)),
		Value:     p.payload,
		Timestamp: time.Now(),
		Headers:   []kgo.RecordHeader{{Key: HeaderAdapter, Value: []byte(in.clientID)}},
	}
	if !r.Route(m, fmt.Sprintf("MQTT topic %q", p.topic), lookup) {
		return
	}
	env := envelope.Envelope{}
	if len(p.props) > 0 || p.contentType != "" {
		var err error
		if env, err = envelope.FromMQTT(p.props, p.contentType); err != nil {
			env = envelope.Envelope{}
			m.Invalid = fmt.Errorf("the message's MQTT 5 properties: %w", err)
		}
	}
	r.Complete(&env, m, lookup)
	if env.ReplyTo == "" {
		env.ReplyTo = p.responseTopic
	}
	if env.CorrelationID == "" && len(p.correlationData) > 0 {
		env.CorrelationID = correlationText(p.correlationData)
	}
	m.Envelope = env
}

// correlationText is MQTT 5 Correlation Data (binary) as the envelope's
// text: as it is when it is printable UTF-8, else in hex, prefixed 0x.
func correlationText(b []byte) string {
	if utf8.Valid(b) {
		ok := true
		for _, r := range string(b) {
			if r < 0x20 || r == 0x7f {
				ok = false
				break
			}
		}
		if ok {
			return string(b)
		}
	}
	return "0x" + hex.EncodeToString(b)
}
