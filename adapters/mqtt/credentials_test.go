package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// attempts counts the CONNECTs a broker authenticated, granting none (the
// ledger grants).
type attempts struct {
	mochi.HookBase
	n atomic.Int32
}

func (h *attempts) ID() string { return "attempts" }

func (h *attempts) Provides(b byte) bool { return b == mochi.OnConnectAuthenticate }

func (h *attempts) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool {
	h.n.Add(1)
	return false
}

// closingListener accepts connections and closes them at once, counting
// them: a broker that refuses every connection.
func closingListener(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "tcp://" + ln.Addr().String(), &n
}

// startAuthBroker runs an embedded broker that admits only user mesh with
// password, over TLS when tc is set, and returns its URL.
func startAuthBroker(t *testing.T, password string, tc *tls.Config) string {
	url, _ := startCountingAuthBroker(t, password, tc)
	return url
}

func startCountingAuthBroker(t *testing.T, password string, tc *tls.Config) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := mochi.New(&mochi.Options{InlineClient: true, Logger: quiet})
	ledger := &auth.Ledger{Auth: auth.AuthRules{{Username: "mesh", Password: auth.RString(password), Allow: true}}}
	if err := s.AddHook(new(auth.Hook), &auth.Options{Ledger: ledger}); err != nil {
		t.Fatal(err)
	}
	counter := new(attempts)
	if err := s.AddHook(counter, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr, TLSConfig: tc})); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if tc != nil {
		return "ssl://" + addr, &counter.n
	}
	return "tcp://" + addr, &counter.n
}

// TestFailingConnectionLogsNoSecret runs the adapter against a broker that
// refuses its password, and against no broker at all, over both MQTT
// versions, and searches its log and errors for the password.
func TestFailingConnectionLogsNoSecret(t *testing.T) {
	const secret = "Mqtt-Sup3r-S3cret"
	kafka := startKafka(t, "t")
	refusing, refused := startCountingAuthBroker(t, "the-right-one", nil)
	closing, closed := closingListener(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{Protocol5, Protocol311} {
		for _, tc := range []struct {
			name  string
			url   string
			tries *atomic.Int32
		}{{"wrong password", refusing, refused}, {"connection closed", closing, closed}} {
			name, url := tc.name, tc.url
			t.Run(proto+" "+name, func(t *testing.T) {
				var logs kafkatest.LogBuffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				cfg := testConfig(url, kafka)
				cfg.Broker.Protocol = proto
				cfg.Broker.Username = "mesh"
				cfg.Broker.PasswordFile = pwFile
				cfg.Broker.MaxReconnectInterval = 200 * time.Millisecond
				cfg.Ingress = []IngressRule{{Filter: "in/#", QoS: 1, Topic: "t"}}
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				logger.Info("configuration", "broker", cfg.Broker) // as a service may log it
				a, err := New(cfg, logger, prometheus.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				// Two attempts: the first one's failure has been handled.
				from := tc.tries.Load()
				eventually(t, "two connection attempts", func() bool { return tc.tries.Load() >= from+2 })
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				logger.Warn("not ready", "error", a.Ready(ctx))
				cancel()
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := a.Close(ctx); err != nil {
					logger.Warn("close", "error", err)
				}
				if strings.Contains(logs.String(), secret) {
					t.Fatalf("the log shows the password:\n%s", logs.String())
				}
			})
		}
	}
	b, err := json.Marshal(Broker{Password: secret})
	if err != nil || strings.Contains(string(b), secret) || strings.Contains(fmt.Sprint(Broker{Password: secret}), secret) {
		t.Fatalf("the broker section's JSON or printed form shows the password: %s", b)
	}
}

// TestTLSClientCertificateAndPassword connects over TLS to a broker that
// requires a client certificate from its CA and a password (from an
// environment variable), over both MQTT versions.
func TestTLSClientCertificateAndPassword(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "mqtt test CA")
	server := ca.Issue(t, tlstest.Spec{CN: "broker"})
	client := ca.Issue(t, tlstest.Spec{CN: "mesh-mqtt", Client: true})
	url := startAuthBroker(t, "env-s3cret", &tls.Config{
		Certificates: []tls.Certificate{server.Pair}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	t.Setenv("MESH_MQTT_PASSWORD", "env-s3cret")
	kafka := startKafka(t, "t")
	for _, proto := range []string{Protocol5, Protocol311} {
		t.Run(proto, func(t *testing.T) {
			cfg := testConfig(url, kafka)
			cfg.Broker.ClientID = "tls-" + strings.ReplaceAll(proto, ".", "")
			cfg.Broker.Protocol = proto
			cfg.Broker.Username = "mesh"
			cfg.Broker.PasswordEnv = "MESH_MQTT_PASSWORD"
			cfg.Broker.TLS = tlsconfig.Files{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}
			cfg.Ingress = []IngressRule{{Filter: "in/#", QoS: 1, Topic: "t"}}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			startAdapter(t, cfg) // waits until ready: connected and subscribed
		})
	}
}
