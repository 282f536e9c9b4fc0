package trace

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Action is the kind of step a hop records; the symbols of the contract's
// HopAction enum.
type Action uint8

// Actions, in the causal order of one event's steps: at the same time, a
// hop of an earlier action comes first.
const (
	ActionUnknown      Action = iota
	ActionIngress             // received from a protocol peer
	ActionRejected            // refused at ingress
	ActionProduced            // written to the site's Kafka
	ActionReplicated          // copied from another site's Kafka
	ActionDeadLettered        // written to the dead-letter topic
	ActionDelivered           // confirmed by a protocol peer or webhook
	ActionRedriven            // produced again from the dead-letter topic
)

var actionSymbols = [...]string{"UNKNOWN", "INGRESS", "REJECTED", "PRODUCED", "REPLICATED", "DEAD_LETTERED", "DELIVERED", "REDRIVEN"}

// String is the contract's symbol, like REPLICATED.
func (a Action) String() string {
	if int(a) < len(actionSymbols) {
		return actionSymbols[a]
	}
	return "UNKNOWN"
}

// Protocol is the protocol a step spoke; the contract's HopProtocol enum.
type Protocol uint8

// Protocols.
const (
	ProtocolUnknown Protocol = iota
	ProtocolKafka
	ProtocolMQTT
	ProtocolAMQP
	ProtocolHTTP
)

var protocolSymbols = [...]string{"UNKNOWN", "KAFKA", "MQTT", "AMQP", "HTTP"}

// String is the contract's symbol, like MQTT.
func (p Protocol) String() string {
	if int(p) < len(protocolSymbols) {
		return protocolSymbols[p]
	}
	return "UNKNOWN"
}

// ParseProtocol reads a protocol by name, any case: "mqtt", "AMQP"; an
// unknown name is ProtocolUnknown.
func ParseProtocol(s string) Protocol {
	for i, sym := range protocolSymbols {
		if strings.EqualFold(s, sym) {
			return Protocol(i)
		}
	}
	return ProtocolUnknown
}

// Outcome is how a step ended; the contract's HopOutcome enum.
type Outcome uint8

// Outcomes.
const (
	OutcomeUnknown          Outcome = iota
	OutcomeOK                       // done
	OutcomeDLQ                      // went to the dead-letter topic instead
	OutcomeRetried                  // failed for now, tried again
	OutcomeDroppedDuplicate         // already there; not written again
)

var outcomeSymbols = [...]string{"UNKNOWN", "OK", "DLQ", "RETRIED", "DROPPED_DUPLICATE"}

// outcomeNames are the API's names of the outcomes.
var outcomeNames = [...]string{"unknown", "ok", "dlq", "retried", "dropped-as-duplicate"}

// String is the API's name, like ok or dropped-as-duplicate.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Hop is one step of an event's way through the mesh (the TraceHop
// contract). Partition and Offset are -1 for a step before the event
// reached Kafka.
type Hop struct {
	EventID string // ce_id
	Source  string // ce_source: ids are unique per source
	TraceID string // W3C trace id, 32 hex digits; "" without one
	Topic   string
	// Site and Component took the step; a Recorder fills them in when
	// empty.
	Site, Component string
	Action          Action
	Protocol        Protocol
	Outcome         Outcome
	Time            time.Time
	Partition       int32
	Offset          int64
	// Address is the protocol address the event came from or went to.
	Address     string
	TraceParent string
	// Detail says why, for a dead-lettered or rejected step.
	Detail string
	// Duration is how long the component held the event for this step;
	// 0 when the step has none of its own.
	Duration time.Duration
}

// TraceIDOf returns the trace id of a W3C traceparent
// (version-traceid-spanid-flags), or "" when it is not one.
func TraceIDOf(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 || len(parts[1]) != 32 || !isHex(parts[1]) || parts[1] == strings.Repeat("0", 32) {
		return ""
	}
	return parts[1]
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// jsonHop is a hop as the control plane's API shows it.
type jsonHop struct {
	Site       string  `json:"site"`
	Component  string  `json:"component"`
	Action     string  `json:"action"`
	Protocol   string  `json:"protocol"`
	Topic      string  `json:"topic"`
	Partition  *int32  `json:"partition"`
	Offset     *int64  `json:"offset"`
	Time       string  `json:"time"`
	Outcome    string  `json:"outcome"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	Address    string  `json:"address,omitempty"`
	Detail     string  `json:"detail,omitempty"`
	Source     string  `json:"source,omitempty"`
}

// MarshalJSON writes the hop as the API shows it: protocol and action in
// lower case, time in RFC 3339 with milliseconds, partition and offset
// null before Kafka.
func (h Hop) MarshalJSON() ([]byte, error) {
	j := jsonHop{
		Site: h.Site, Component: h.Component, Action: strings.ToLower(h.Action.String()),
		Protocol: strings.ToLower(h.Protocol.String()), Topic: h.Topic,
		Time: h.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Outcome: h.Outcome.String(),
		DurationMS: float64(h.Duration.Microseconds()) / 1000, Address: h.Address, Detail: h.Detail, Source: h.Source,
	}
	if h.Partition >= 0 {
		p := h.Partition
		j.Partition = &p
	}
	if h.Offset >= 0 {
		o := h.Offset
		j.Offset = &o
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote (meshctl reads the API's
// answers with it).
func (h *Hop) UnmarshalJSON(b []byte) error {
	var j jsonHop
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return fmt.Errorf("trace: hop time: %w", err)
	}
	*h = Hop{Site: j.Site, Component: j.Component, Protocol: ParseProtocol(j.Protocol), Topic: j.Topic, Time: t,
		Partition: -1, Offset: -1, Address: j.Address, Detail: j.Detail, Source: j.Source,
		Duration: time.Duration(j.DurationMS * float64(time.Millisecond))}
	for i, sym := range actionSymbols {
		if strings.EqualFold(sym, j.Action) {
			h.Action = Action(i)
		}
	}
	for i, name := range outcomeNames {
		if name == j.Outcome {
			h.Outcome = Outcome(i)
		}
	}
	if j.Partition != nil {
		h.Partition = *j.Partition
	}
	if j.Offset != nil {
		h.Offset = *j.Offset
	}
	return nil
}

// nowUTC is the time of a hop taken now.
func nowUTC() time.Time { return time.Now().UTC() }
