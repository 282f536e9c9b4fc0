package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// tlsTerminator accepts TLS connections on a loopback port of its own and
// relays each to plain, as a TLS-terminating load balancer in front of a
// broker does (the shared test brokers have no TLS listener). handshakes
// counts the TLS handshakes that completed.
type tlsTerminator struct {
	addr       string
	handshakes atomic.Int64
}

func startTLSTerminator(t *testing.T, cert tls.Certificate, plain string) *tlsTerminator {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	term := &tlsTerminator{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := c.(*tls.Conn).HandshakeContext(hctx)
				cancel()
				if err != nil {
					return
				}
				term.handshakes.Add(1)
				up, err := net.DialTimeout("tcp", plain, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			})
		}
	})
	return term
}

// TestIntegrationAMQPAdapterTLS connects the adapter to each broker over
// TLS (amqps://, the broker's certificate verified against the CA of
// broker.tls.ca_file) and carries a message into Kafka; with a CA that did
// not sign the broker's certificate the adapter is not ready and says why.
func TestIntegrationAMQPAdapterTLS(t *testing.T) {
	kafka := env(t, "MESH_E2E_KAFKA_EAST")
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "broker-ca")
	server := ca.Issue(t, tlstest.Spec{CN: "broker"})
	other := tlstest.NewCA(t, t.TempDir(), "other-ca")
	for _, b := range amqpBrokers(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			u, err := url.Parse(b.url)
			if err != nil {
				t.Fatal(err)
			}
			term := startTLSTerminator(t, server.Pair, u.Host)
			u.Scheme, u.Host = "amqps", term.addr
			topic := uniq("it.amqp.tls." + b.name)
			createTopics(t, kafka, 1, topic)
			cfg := amqp.DefaultConfig()
			cfg.Site = "east"
			cfg.Listen = "127.0.0.1:0"
			cfg.Broker.URL = u.String()
			cfg.Broker.TLS.CAFile = ca.File
			cfg.Broker.ContainerID = "meshwork-it-" + topic
			cfg.Kafka.Brokers = []string{kafka}
			cfg.Ingress = []amqp.IngressRule{{Address: topic, Topic: topic}}
			startAMQPAdapter(ctx, t, cfg)
			if term.handshakes.Load() == 0 {
				t.Fatal("the adapter is ready but made no TLS connection")
			}
			snd := amqpSender(ctx, t, b, topic)
			if err := snd.Send(ctx, goamqp.NewMessage([]byte("over tls")), nil); err != nil {
				t.Fatal(err)
			}
			if got := consumeN(ctx, t, kafka, topic, 1)[0]; string(got.Value) != "over tls" {
				t.Fatalf("record value %q", got.Value)
			}

			// A CA that did not sign the broker's certificate: never ready.
			cfg.Broker.TLS.CAFile = other.File
			cfg.Broker.ContainerID += "-untrusted"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			a, err := amqp.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = a.Close(cctx)
			}()
			waitFor(t, 20*time.Second, "readiness to name the untrusted certificate", func() error {
				err := a.Ready(ctx)
				if err != nil && strings.Contains(err.Error(), "certificate") {
					return nil
				}
				return fmt.Errorf("readiness says %v", err)
			})
		})
	}
}
