package devmesh

import (
	"errors"
	"net"
	"os"
	"time"
)

// stallListener gives every accepted connection a write deadline
// (stallConn).
type stallListener struct {
	net.Listener
	timeout time.Duration
	stalled func(remote string) // called once when a connection is closed for stalling
}

func (l stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, timeout: l.timeout, stalled: l.stalled}, nil
}

// stallConn closes a connection whose peer has read nothing for timeout
// while the broker had something to write: its socket buffers are full
// and a write blocks. mochi writes to a client while holding the client's
// lock, which the path publishing to that client also takes; without a
// deadline one client that never reads would stop every publisher whose
// messages it subscribes to.
//
// mochi sets a deadline for the keep-alive with SetDeadline; it applies to
// reads only here, so that it neither shortens nor lifts the write
// deadline.
type stallConn struct {
	net.Conn
	timeout time.Duration
	stalled func(remote string)
}

func (c *stallConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Part of a packet may be written: the stream is unusable.
		c.Conn.Close()
		c.stalled(c.RemoteAddr().String())
	}
	return n, err
}

func (c *stallConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }
