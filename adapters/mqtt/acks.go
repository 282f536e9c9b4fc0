package mqtt

import (
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ackWriter gathers the PUBACKs of the QoS 1 messages the ingress settles
// together and writes them to the connection the messages arrived on in
// one write, in arrival order. The ingress's release goroutine alone uses
// it.
//
// Why not the client library's acknowledgement: paho.mqtt.golang passes
// each PUBACK through three goroutines before one socket write per packet,
// which capped the adapter near 20k messages/s on the one goroutine that
// must release acknowledgements in order; paho.golang's manual
// acknowledgements are sent by a ticker (50 ms by default) after a scan of
// every unacknowledged message. Writing the batch directly costs one
// buffered write. The library still owns the connection's reads, its
// keep-alive, and QoS 2, whose PUBREC, PUBREL, PUBCOMP exchange it tracks:
// those messages are acknowledged through it, after the batch before them,
// so the broker sees acknowledgements in the order of its PUBLISHes.
type ackWriter struct {
	conn *coalescingConn // of the messages in buf
	buf  []byte
}

// qos1 queues the PUBACK of packet id, received on conn: the fixed header
// (type 4, remaining length 2) and the packet identifier. MQTT 5 allows
// the same short form for success (reason code 0x00 and no properties
// left out).
func (w *ackWriter) qos1(conn *coalescingConn, id uint16) {
	if conn != w.conn {
		w.flush()
		w.conn = conn
	}
	w.buf = append(w.buf, packets.Puback<<4, 2, byte(id>>8), byte(id))
}

// through acknowledges a message through its client library (QoS 2, or a
// connection the adapter did not make), after what was gathered before it.
func (w *ackWriter) through(ack func()) {
	w.flush()
	ack()
}

// flush writes what qos1 gathered. A connection that has closed since the
// messages arrived refuses the write: the broker redelivers those messages
// on the next connection, as for any unacknowledged QoS 1 message.
func (w *ackWriter) flush() {
	if len(w.buf) > 0 && w.conn != nil {
		_, _ = w.conn.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// sessionStore is paho.mqtt.golang's memory store, except that it does
// not keep received QoS 1 PUBLISHes. paho keeps each one until its PUBACK
// goes out through paho; the ackWriter sends those PUBACKs itself, so paho
// would never forget them. Nothing is lost by not keeping them: the broker
// holds every unacknowledged QoS 1 message of the session and redelivers
// it.
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
