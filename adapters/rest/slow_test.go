package rest

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that stops sending its body is answered 408 after the read
// timeout, and nothing is written.
func TestSlowClientGets408(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /topics/orders HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 100\r\n\r\n{\"rec", mediaBinaryV2)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(reply), "HTTP/1.1 408") || !strings.Contains(string(reply), `"error_code":408`) {
		t.Fatalf("reply %q", reply)
	}
}
