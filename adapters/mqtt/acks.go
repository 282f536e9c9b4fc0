package mqtt

import (
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// pubackLen is the size of an MQTT 3.1.1 PUBACK: the fixed header (type 4,
// remaining length 2) and the packet identifier.
const pubackLen = 4

// ackWriter gathers the PUBACKs of QoS 1 messages that the ingress releases
// together and writes them to the connection the messages arrived on in one
// write, in arrival order.
//
// Why not paho's Message.Ack: it passes each PUBACK through three goroutines
// over unbuffered channels before one socket write per packet. Under load on
// a busy machine that cost about 48 µs per message, all of it on the one
// goroutine that must release acknowledgements in order, which capped the
// adapter near 20k messages/s whatever Kafka did. Writing the batch directly
// costs one buffered write. paho still owns the connection's reads, its
// keep-alive, and QoS 2 (whose PUBREC, PUBREL, PUBCOMP exchange it tracks):
// those messages still go through Message.Ack, after the batch before them,
// so the broker sees acknowledgements in the order of its PUBLISHes.
type ackWriter struct {
	conn *coalescingConn // of the messages in buf
	buf  []byte
}

// add queues the acknowledgement of msg, received on conn.
func (w *ackWriter) add(conn *coalescingConn, msg paho.Message) {
	if msg.Qos() != 1 || conn == nil {
		w.flush()
		msg.Ack() // QoS 2 (paho tracks its exchange) or a connection paho made itself
		return
	}
	if conn != w.conn {
		w.flush()
		w.conn = conn
	}
	id := msg.MessageID()
	w.buf = append(w.buf, packets.Puback<<4, 2, byte(id>>8), byte(id))
}

// flush writes what add gathered. A connection that has closed since the
// messages arrived refuses the write: the broker redelivers those messages
// on the next connection, as for any unacknowledged QoS 1 message.
func (w *ackWriter) flush() {
	if len(w.buf) > 0 {
		_, _ = w.conn.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// sessionStore is paho's memory store, except that it does not keep
// received QoS 1 PUBLISHes. paho keeps each one until its PUBACK goes out
// through paho; the ackWriter sends those PUBACKs itself, so paho would never
// forget them. Nothing is lost by not keeping them: the broker holds every
// unacknowledged QoS 1 message of the session and redelivers it.
type sessionStore struct {
	*paho.MemoryStore
}

func newSessionStore() sessionStore { return sessionStore{paho.NewMemoryStore()} }

func (s sessionStore) Put(key string, m packets.ControlPacket) {
	if p, ok := m.(*packets.PublishPacket); ok && p.Qos == 1 && strings.HasPrefix(key, "i.") {
		return
	}
	s.MemoryStore.Put(key, m)
}
