package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client's transport may dial a connection it then does not use: net/http
// counts it as in flight until it is five seconds old, which is as long as
// the grace period. The stop must still be clean when no request is in
// progress.
func TestServeHTTPStopsCleanlyWithAnUnusedConnection(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeHTTP(ctx, ln, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(100 * time.Millisecond) // the server has accepted it (no request is ever sent)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop with an unused connection: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ServeHTTP did not return")
	}
}
