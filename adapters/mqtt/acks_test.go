package mqtt

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// peer reads what one connection receives until it closes.
func peer(t *testing.T) (*coalescingConn, <-chan []byte) {
	t.Helper()
	client, server := net.Pipe()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	return newCoalescingConn(client), got
}

func TestAckWriterBatchesPubacksPerConnectionInOrder(t *testing.T) {
	a, gotA := peer(t)
	b, gotB := peer(t)
	var order []string
	var w ackWriter
	w.qos1(a, 1)
	w.qos1(a, 0x0102)
	// QoS 2 goes through the client library, after what was gathered
	// before it.
	w.through(func() { order = append(order, "qos2") })
	w.qos1(a, 3)
	w.qos1(b, 4)
	w.flush()
	_ = a.Close()
	_ = b.Close()

	puback := func(ids ...uint16) []byte {
		var out []byte
		for _, id := range ids {
			out = append(out, packets.Puback<<4, 2, byte(id>>8), byte(id))
		}
		return out
	}
	for _, c := range []struct {
		name string
		got  <-chan []byte
		want []byte
	}{{"first connection", gotA, puback(1, 0x0102, 3)}, {"second connection", gotB, puback(4)}} {
		select {
		case g := <-c.got:
			if !bytes.Equal(g, c.want) {
				t.Errorf("%s received % x, want % x", c.name, g, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s received nothing", c.name)
		}
	}
	if len(order) != 1 {
		t.Fatalf("the QoS 2 message was acknowledged %d times, want once through paho", len(order))
	}
	for _, p := range [][]byte{puback(1), puback(0x0102)} {
		if _, err := packets.ReadPacket(bytes.NewReader(p)); err != nil {
			t.Fatalf("% x is not a packet paho can read: %v", p, err)
		}
	}
}

func TestSessionStoreForgetsReceivedQoS1Publishes(t *testing.T) {
	s := newSessionStore()
	s.Open()
	defer s.Close()
	pub := func(qos byte) *packets.PublishPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID = qos, 9
		return p
	}
	s.Put("i.9", pub(1))
	if s.Get("i.9") != nil {
		t.Fatal("a received QoS 1 PUBLISH was kept; its PUBACK bypasses paho, so it would never be deleted")
	}
	s.Put("i.10", pub(2))
	s.Put("o.11", pub(1))
	if s.Get("i.10") == nil || s.Get("o.11") == nil {
		t.Fatal("QoS 2 and outgoing packets must be kept for paho's own flows")
	}
}
