package mqtt

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func TestCoalescingConnKeepsOrderAndFlushesOnClose(t *testing.T) {
	client, server := net.Pipe()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	c := newCoalescingConn(client)
	var want bytes.Buffer
	for i := range 2000 {
		p := []byte(fmt.Sprintf("<%d>", i))
		want.Write(p)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("bytes differ: got %d bytes, want %d", len(b), want.Len())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("peer did not receive everything")
	}
}

func TestCoalescingConnReportsWriteErrors(t *testing.T) {
	client, server := net.Pipe()
	server.Close()
	c := newCoalescingConn(client)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write([]byte("x")); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a write to a closed peer never failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
