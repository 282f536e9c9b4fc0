package amqp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Address forms a rule may use besides a plain queue name.
const (
	queueForm = "queue:"
	topicForm = "topic:"
)

// dialect is a broker's address syntax: how a queue or topic name is
// written as a link address.
type dialect struct {
	kind        string // KindRabbitMQ, KindActiveMQ or KindPlain
	queuePrefix string
	topicPrefix string
}

// detect tells the broker's dialect from the properties of its Open frame,
// unless kind names one. RabbitMQ says product "RabbitMQ" and its version
// (its AMQP 1.0 addresses changed in 4.0); ActiveMQ says "ActiveMQ" and
// announces its prefixes (queue-prefix, topic-prefix). Anything else
// (Artemis, Qpid, Service Bus) takes names as they are.
func detect(kind string, props map[string]any) dialect {
	product, _ := props["product"].(string)
	if kind == KindAuto || kind == "" {
		switch p := strings.ToLower(product); {
		case p == "rabbitmq":
			kind = KindRabbitMQ
		case p == "activemq":
			kind = KindActiveMQ
		default:
			kind = KindPlain
		}
	}
	switch kind {
	case KindRabbitMQ:
		if v, _ := props["version"].(string); major(v) >= 4 {
			return dialect{kind: kind, queuePrefix: "/queues/", topicPrefix: "/exchanges/amq.topic/"}
		}
		return dialect{kind: kind, queuePrefix: "/queue/", topicPrefix: "/topic/"}
	case KindActiveMQ:
		d := dialect{kind: kind, queuePrefix: "queue://", topicPrefix: "topic://"}
		if p, ok := props["queue-prefix"].(string); ok && p != "" {
			d.queuePrefix = p
		}
		if p, ok := props["topic-prefix"].(string); ok && p != "" {
			d.topicPrefix = p
		}
		return d
	}
	return dialect{kind: KindPlain}
}

func major(version string) int {
	n, _ := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	return n
}

// native reports whether addr is already in a broker's own syntax (used
// as is): it begins with / or holds ://.
func native(addr string) bool { return strings.HasPrefix(addr, "/") || strings.Contains(addr, "://") }

// link returns the link address of a rule's address: a queue name (plain
// or queue:NAME) or topic:NAME in the broker's syntax; a native address
// unchanged.
func (d dialect) link(addr string) string {
	switch {
	case native(addr):
		return addr
	case strings.HasPrefix(addr, topicForm):
		return d.topicPrefix + addr[len(topicForm):]
	case strings.HasPrefix(addr, queueForm):
		return d.queuePrefix + addr[len(queueForm):]
	}
	return d.queuePrefix + addr
}

// name returns the plain name of a link address the broker wrote (a
// reply-to, say): the queue name without the broker's prefix, topic:NAME
// for its topics, anything else unchanged. Names are what the mesh passes
// on, so a reply address read at one broker can be written at another.
func (d dialect) name(addr string) string {
	switch {
	case d.queuePrefix != "" && strings.HasPrefix(addr, d.queuePrefix) && len(addr) > len(d.queuePrefix):
		return addr[len(d.queuePrefix):]
	case d.topicPrefix != "" && strings.HasPrefix(addr, d.topicPrefix) && len(addr) > len(d.topicPrefix):
		return topicForm + addr[len(d.topicPrefix):]
	}
	return addr
}

// ErrBadAddress is wrapped by checkAddress's errors.
var ErrBadAddress = errors.New("not an AMQP address the adapter may use")

// maxAddressLen bounds an address: brokers refuse far shorter ones, and a
// record's key or header must not make the adapter attach megabyte links.
const maxAddressLen = 1024

// checkAddress refuses an address that is empty, too long, not UTF-8,
// holds control characters, or names an empty queue or topic.
func checkAddress(addr string) error {
	switch {
	case addr == "":
		return fmt.Errorf("%w: empty", ErrBadAddress)
	case len(addr) > maxAddressLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadAddress, maxAddressLen)
	case !utf8.ValidString(addr):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadAddress, addr)
	case addr == queueForm || addr == topicForm:
		return fmt.Errorf("%w: %q names no queue or topic", ErrBadAddress, addr)
	}
	for _, r := range addr {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q holds a control character", ErrBadAddress, addr)
		}
	}
	return nil
}

// allowed reports whether addr matches one of patterns, where * matches
// any run of characters (also none) and everything else itself.
func allowed(patterns []string, addr string) bool {
	for _, p := range patterns {
		if match(p, addr) {
			return true
		}
	}
	return false
}

// match is the classic two-pointer glob match with only *: linear in
// practice, never exponential, whatever the pattern.
func match(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			starP, starI = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case starP >= 0:
			starI++
			p, i = starP+1, starI
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
