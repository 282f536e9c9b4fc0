package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestFaultProxy checks the proxy's faults on a local echo server, without
// any service: a cut passes nothing either way and heal ends the
// connections it held, after which new ones work; latency delays a round
// trip by about twice its value.
func TestFaultProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	listen := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	p := startFaultProxy(t, "echo", listen, ln.Addr().String())

	roundTrip := func(c net.Conn, timeout time.Duration) (time.Duration, error) {
		start := time.Now()
		_ = c.SetDeadline(start.Add(timeout))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return 0, err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && line != "ping\n" {
			err = fmt.Errorf("echoed %q", line)
		}
		return time.Since(start), err
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	held := dial()
	if _, err := roundTrip(held, 2*time.Second); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	p.cut(t)
	if _, err := roundTrip(held, 500*time.Millisecond); err == nil {
		t.Fatal("an open connection passed data through a cut")
	}
	if _, err := roundTrip(dial(), 500*time.Millisecond); err == nil {
		t.Fatal("a new connection passed data through a cut")
	}
	p.heal()
	_ = held.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection the cut held stayed open after heal")
	}
	if _, err := roundTrip(dial(), 2*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}

	p.latency(t, 100*time.Millisecond)
	d, err := roundTrip(dial(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d < 150*time.Millisecond {
		t.Fatalf("round trip took %s with 100 ms of latency each way", d)
	}
	p.heal()
}
