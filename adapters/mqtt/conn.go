package mqtt

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// maxCoalesced bounds the bytes a coalescingConn holds before a Write waits
// for them to reach the socket.
const maxCoalesced = 1 << 20

// readBuffer is the size of a coalescingConn's read buffer.
const readBuffer = 64 << 10

// coalescingConn gathers the small packets an MQTT client writes, above all
// the one PUBACK per message the ingress releases, into fewer socket writes.
// paho writes every packet with its own syscall; at thousands of messages a
// second those syscalls, not Kafka, bounded the adapter. Write appends and
// returns; a flusher writes whatever has gathered as soon as it can, so no
// delay is added, only batching of what arrives while a write is under way.
// An acknowledgement lost with a crashed process is redelivered by the
// broker, as with any unacknowledged QoS 1 message.
//
// Reads are buffered for the same reason: paho reads each packet's fixed
// header a byte at a time, three or four read syscalls per message.
type coalescingConn struct {
	net.Conn
	r *bufio.Reader // used only by the client's one reader goroutine

	mu   sync.Mutex
	buf  []byte
	err  error // the first write error; every later Write returns it
	wake chan struct{}

	wmu  sync.Mutex // orders socket writes between the flusher and Close
	done chan struct{}
	once sync.Once

	broken atomic.Bool // set by Break
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go cc.flusher()
	return cc
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && c.broken.Load() {
		err = errBroken
	}
	return n, err
}

// errBroken is what reads return once Break ended the connection.
var errBroken = errors.New("mqtt: connection ended by the adapter: the broker stopped acknowledging publishes")

// Break ends the connection as a network failure would: paho.mqtt.golang
// reconnects after a read error, but takes the error of a connection
// closed on its side ("use of closed network connection") for a
// deliberate disconnection and stays down.
func (c *coalescingConn) Break() {
	c.broken.Store(true)
	_ = c.Conn.Close()
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, p...)
	full := len(c.buf) >= maxCoalesced
	c.mu.Unlock()
	if full {
		// The socket is slower than the writers: write now, so that what
		// is held stays bounded.
		return len(p), c.flush()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *coalescingConn) flusher() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		if c.flush() != nil {
			return
		}
	}
}

// flush writes what has gathered. A write error closes the connection, so
// that the client's reader notices and reconnects.
func (c *coalescingConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	out := c.buf
	c.buf = nil
	err := c.err
	c.mu.Unlock()
	if err != nil || len(out) == 0 {
		return err
	}
	if _, err := c.Conn.Write(out); err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
		_ = c.Conn.Close()
		return err
	}
	return nil
}

// Close writes what is still held (a DISCONNECT, say) and closes.
func (c *coalescingConn) Close() error {
	_ = c.flush()
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// openConnection dials the broker of a tcp or TLS URL and wraps the
// connection to coalesce writes.
func openConnection(uri *url.URL, tc *tls.Config, timeout time.Duration) (*coalescingConn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	switch uri.Scheme {
	case "ssl", "tls", "mqtts", "tcps":
		conn, err = tls.DialWithDialer(d, "tcp", uri.Host, tc)
	default:
		conn, err = d.Dial("tcp", uri.Host)
	}
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(conn), nil
}
