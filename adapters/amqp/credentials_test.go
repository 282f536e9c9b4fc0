package amqp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// saslFrame is an AMQP 1.0 SASL frame (type 1, channel 0) with body.
func saslFrame(body []byte) []byte {
	f := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(f, uint32(8+len(body)))
	f[4], f[5] = 2, 1 // data offset 2 words, SASL frame
	return append(f, body...)
}

// refusingBroker speaks just enough AMQP 1.0 to offer SASL PLAIN and to
// refuse whatever credentials come (sasl-outcome code auth), counting the
// attempts; with plain false it closes each connection at once instead.
func refusingBroker(t *testing.T, plain bool) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	mechanisms := saslFrame(append([]byte{0x00, 0x53, 0x40, 0xc0, 8, 1, 0xa3, 5}, "PLAIN"...))
	outcome := saslFrame([]byte{0x00, 0x53, 0x44, 0xc0, 3, 1, 0x50, 1})
	serve := func(c net.Conn) {
		defer c.Close()
		n.Add(1)
		if !plain {
			return
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		header := make([]byte, 8)
		if _, err := io.ReadFull(c, header); err != nil {
			return
		}
		if _, err := c.Write(append(header, mechanisms...)); err != nil {
			return
		}
		size := make([]byte, 4)
		if _, err := io.ReadFull(c, size); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size)
		if n < 8 || n > 1<<16 {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(n-4)); err != nil { // the sasl-init, password and all
			return
		}
		_, _ = c.Write(outcome)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), &n
}

// TestFailingConnectionLogsNoSecret runs the adapter against a broker that
// refuses its password, and against one that closes every connection, with
// the password in a file and in the URL, and searches its log and errors
// for the password.
func TestFailingConnectionLogsNoSecret(t *testing.T) {
	const secret = "Amqp-Sup3r-S3cret"
	kafka := kafkatest.Cluster(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []bool{true, false} {
		for _, inURL := range []bool{false, true} {
			t.Run(fmt.Sprintf("sasl %v password in url %v", plain, inURL), func(t *testing.T) {
				addr, tries := refusingBroker(t, plain)
				var logs kafkatest.LogBuffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				cfg := testConfig(kafka)
				cfg.Broker.MaxReconnectInterval = 100 * time.Millisecond
				if inURL {
					cfg.Broker.URL = "amqp://mesh:" + secret + "@" + addr
				} else {
					cfg.Broker.URL = "amqp://" + addr
					cfg.Broker.Username = "mesh"
					cfg.Broker.PasswordFile = pwFile
				}
				cfg.Ingress = []IngressRule{{Address: "in", Topic: "t"}}
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				logger.Info("configuration", "broker", cfg.Broker) // as a service may log it
				a, err := New(cfg, logger, prometheus.NewRegistry(), testKafkaOpts...)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				from := tries.Load()
				deadline := time.Now().Add(testWait)
				for tries.Load() < from+2 { // the first attempt's failure has been handled
					if time.Now().After(deadline) {
						t.Fatal("the adapter did not try twice")
					}
					time.Sleep(10 * time.Millisecond)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				logger.Warn("not ready", "error", a.Ready(ctx))
				cancel()
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := a.Close(ctx); err != nil {
					logger.Warn("close", "error", err)
				}
				out := logs.String()
				if strings.Contains(out, secret) {
					t.Fatalf("the log shows the password:\n%s", out)
				}
				if plain && !strings.Contains(out, "SASL PLAIN auth failed") {
					t.Fatalf("the log does not say the broker refused the credentials:\n%s", out)
				}
				if inURL && !strings.Contains(out, "a secret is written inline in the broker's URL") {
					t.Fatalf("a password in the URL must be warned about at start:\n%s", out)
				}
			})
		}
	}
	b, err := json.Marshal(Broker{Password: secret})
	if err != nil || strings.Contains(string(b), secret) || strings.Contains(fmt.Sprint(Broker{URL: "amqp://u:" + secret + "@h:1", Password: secret}), secret) {
		t.Fatalf("the broker section's JSON or printed form shows the password: %s", b)
	}
	bad := DefaultConfig()
	bad.Broker.URL = "amqp://u:" + secret + "@h"
	if err := bad.Validate(); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("a config error shows the password from the URL: %v", err)
	}
}

func TestSASLExternalNeedsAClientCertificate(t *testing.T) {
	for _, c := range []struct {
		url  string
		tls  tlsconfig.Files
		user string
		want string
	}{
		{"amqp://h:5672", tlsconfig.Files{}, "", "field broker.sasl: external authenticates with the TLS client certificate: the url must be amqps://"},
		{"amqps://h:5671", tlsconfig.Files{CAFile: "/ca.pem"}, "", "field broker.tls.cert_file: required with sasl external"},
		{"amqps://h:5671", tlsconfig.Files{CertFile: "/c.pem", KeyFile: "/k.pem"}, "mesh", "field broker.username: sasl external takes no username"},
		{"amqps://h:5671", tlsconfig.Files{CertFile: "/c.pem", KeyFile: "/k.pem"}, "", ""},
	} {
		doc := fmt.Sprintf("site: east\nkafka: {brokers: [\"k:9092\"]}\nbroker:\n  url: %q\n  sasl: external\n  username: %q\n  tls: {ca_file: %q, cert_file: %q, key_file: %q}\ningress: [{address: a, topic: t}]\n",
			c.url, c.user, c.tls.CAFile, c.tls.CertFile, c.tls.KeyFile)
		err := parse(t, doc)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", doc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s:\n got %v\nwant %s", doc, err, c.want)
		}
	}
}

// externalBroker speaks AMQP 1.0 over TLS up to the end of SASL: it
// requires a client certificate of clients, offers only SASL EXTERNAL, and
// reports the mechanism the client chose and the common name of its
// certificate; then it closes the connection.
func externalBroker(t *testing.T, server *tlstest.Leaf, clients *tlstest.CA) (string, <-chan string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.Pair}, ClientCAs: clients.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	mechanisms := saslFrame(append([]byte{0x00, 0x53, 0x40, 0xc0, 11, 1, 0xa3, 8}, "EXTERNAL"...))
	serve := func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		header := make([]byte, 8)
		if _, err := io.ReadFull(c, header); err != nil {
			return
		}
		if _, err := c.Write(append(header, mechanisms...)); err != nil {
			return
		}
		size := make([]byte, 4)
		if _, err := io.ReadFull(c, size); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size)
		if n < 8 || n > 1<<16 {
			return
		}
		init := make([]byte, n-4)
		if _, err := io.ReadFull(c, init); err != nil {
			return
		}
		cn := ""
		if cs := c.(*tls.Conn).ConnectionState(); len(cs.PeerCertificates) > 0 {
			cn = cs.PeerCertificates[0].Subject.CommonName
		}
		mech := "other"
		if bytes.Contains(init, []byte("\xa3\x08EXTERNAL")) {
			mech = "EXTERNAL"
		}
		select {
		case seen <- mech + " " + cn:
		default:
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), seen
}

// The adapter authenticates with SASL EXTERNAL over TLS, presenting its
// client certificate.
func TestSASLExternalPresentsTheClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "amqp test CA")
	addr, seen := externalBroker(t, ca.Issue(t, tlstest.Spec{CN: "broker"}), ca)
	client := ca.Issue(t, tlstest.Spec{CN: "mesh-amqp", Client: true})
	cfg := testConfig(kafkatest.Cluster(t))
	cfg.Broker.URL = "amqps://" + addr
	cfg.Broker.SASL = SASLExternal
	cfg.Broker.TLS = tlsconfig.Files{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}
	cfg.Ingress = []IngressRule{{Address: "in", Topic: "t"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, quietLog(), prometheus.NewRegistry(), testKafkaOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	select {
	case got := <-seen:
		if got != "EXTERNAL mesh-amqp" {
			t.Fatalf("the broker saw %q, want SASL EXTERNAL with the certificate of mesh-amqp", got)
		}
	case <-time.After(testWait):
		t.Fatal("the adapter never authenticated")
	}
}
