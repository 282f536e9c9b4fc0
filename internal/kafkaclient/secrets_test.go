package kafkaclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// syncBuffer is a bytes.Buffer safe for franz-go's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mechanismOf builds a client from c's options, as a service does, and
// returns the SASL mechanism wired in.
func mechanismOf(t *testing.T, c kafkaclient.Config) sasl.Mechanism {
	t.Helper()
	opts, err := c.Options("test", "east")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	if len(ms) != 1 {
		t.Fatalf("want one SASL mechanism wired, got %d", len(ms))
	}
	return ms[0]
}

// firstMessage is what the mechanism sends first to the broker.
func firstMessage(t *testing.T, m sasl.Mechanism) string {
	t.Helper()
	_, msg, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

func TestSASLPasswordFromEnvironment(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.EnableSASL(), kfake.Superuser(kafkaclient.MechanismSCRAMSHA512, "mesh", "env-s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	t.Setenv("MESH_KAFKA_PASSWORD", "env-s3cret")
	c := kafkaclient.Defaults()
	c.Brokers = cluster.ListenAddrs()
	c.SASL = kafkaclient.SASL{Mechanism: kafkaclient.MechanismSCRAMSHA512, Username: "mesh", PasswordEnv: "MESH_KAFKA_PASSWORD"}
	if err := roundTrip(t, c); err != nil {
		t.Fatal(err)
	}
	c.SASL.PasswordEnv = "MESH_KAFKA_PASSWORD_UNSET"
	if _, err := c.Options("test", "east"); err == nil || !strings.Contains(err.Error(), "sasl.password_env: environment variable MESH_KAFKA_PASSWORD_UNSET is not set") {
		t.Fatalf("an unset variable must stop the start, naming it; got %v", err)
	}
}

func TestSASLPasswordFileReadAtEachAuthentication(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := kafkaclient.Defaults()
	c.Brokers = []string{"127.0.0.1:9092"}
	c.SASL = kafkaclient.SASL{Mechanism: kafkaclient.MechanismPlain, Username: "mesh", PasswordFile: pw}
	m := mechanismOf(t, c)
	if got := firstMessage(t, m); got != "\x00mesh\x00first" {
		t.Fatalf("first authentication sent %q", got)
	}
	if err := os.WriteFile(pw, []byte("rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := firstMessage(t, m); got != "\x00mesh\x00rotated" {
		t.Fatalf("after rotation sent %q", got)
	}
}

func TestSASLSecretsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		sasl kafkaclient.SASL
		want string
	}{
		{"no password", kafkaclient.SASL{Mechanism: "PLAIN", Username: "u"}, "sasl.password_file: required"},
		{"two forms", kafkaclient.SASL{Mechanism: "PLAIN", Username: "u", Password: "p", PasswordEnv: "P"}, "sasl.password: set one of"},
		{"oauth without token", kafkaclient.SASL{Mechanism: "OAUTHBEARER"}, "sasl.oauth.token_file: OAUTHBEARER needs a token"},
		{"oauth token and url", kafkaclient.SASL{Mechanism: "OAUTHBEARER", OAuth: kafkaclient.OAuth{TokenFile: "t", TokenURL: "https://idp/token"}}, "not both"},
		{"oauth url without client", kafkaclient.SASL{Mechanism: "OAUTHBEARER", OAuth: kafkaclient.OAuth{TokenURL: "https://idp/token"}}, "sasl.oauth.client_id: required"},
		{"oauth url without secret", kafkaclient.SASL{Mechanism: "OAUTHBEARER", OAuth: kafkaclient.OAuth{TokenURL: "https://idp/token", ClientID: "c"}}, "sasl.oauth.client_secret_file: required"},
		{"oauth url with userinfo", kafkaclient.SASL{Mechanism: "OAUTHBEARER", OAuth: kafkaclient.OAuth{TokenURL: "https://c:s@idp/token", ClientID: "c", ClientSecretEnv: "S"}}, "must not hold credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkaclient.Defaults()
			c.Brokers = []string{"127.0.0.1:9092"}
			c.SASL = tc.sasl
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOAuthBearerTokenFileReadAtEachAuthentication(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := kafkaclient.Defaults()
	c.Brokers = []string{"127.0.0.1:9092"}
	c.SASL = kafkaclient.SASL{Mechanism: "oauthbearer", OAuth: kafkaclient.OAuth{TokenFile: tok, Extensions: map[string]string{"logicalCluster": "lkc-1"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m := mechanismOf(t, c)
	if m.Name() != "OAUTHBEARER" {
		t.Fatalf("mechanism %s", m.Name())
	}
	if got, want := firstMessage(t, m), "n,,\x01auth=Bearer tok-1\x01logicalCluster=lkc-1\x01\x01"; got != want {
		t.Fatalf("sent %q, want %q", got, want)
	}
	if err := os.WriteFile(tok, []byte("tok-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := firstMessage(t, m); !strings.Contains(got, "auth=Bearer tok-2\x01") {
		t.Fatalf("a rotated token must be read at the next authentication, sent %q", got)
	}
	c.SASL.OAuth.TokenFile = tok + ".missing"
	if _, err := c.Options("test", "east"); err == nil || !strings.Contains(err.Error(), "sasl.oauth.token_file") {
		t.Fatalf("a missing token file must stop the start, got %v", err)
	}
}

// tokenEndpoint is an OAuth 2 token endpoint granting client-credentials
// tokens to client "mesh" with secret "client-s3cret".
func tokenEndpoint(t *testing.T, requests *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		id, secret, ok := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		if !ok || id != "mesh" || secret != "client-s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			// A careless endpoint echoing what it got must not get the
			// secret into the service's errors.
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`))
			return
		}
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "kafka" {
			t.Errorf("form %v", r.Form)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOAuthBearerClientCredentials(t *testing.T) {
	var requests atomic.Int32
	srv := tokenEndpoint(t, &requests)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("client-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := kafkaclient.Defaults()
	c.Brokers = []string{"127.0.0.1:9092"}
	c.SASL = kafkaclient.SASL{Mechanism: kafkaclient.MechanismOAuthBearer, OAuth: kafkaclient.OAuth{
		TokenURL: srv.URL + "/token", ClientID: "mesh", ClientSecretFile: secret, Scopes: []string{"kafka"},
	}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m := mechanismOf(t, c)
	for range 3 {
		if got := firstMessage(t, m); got != "n,,\x01auth=Bearer access-1\x01\x01" {
			t.Fatalf("sent %q", got)
		}
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("a token valid for an hour must be reused: %d token requests", n)
	}

	if err := os.WriteFile(secret, []byte("wrong-client-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = mechanismOf(t, c)
	_, _, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
	if err == nil || !strings.Contains(err.Error(), "401 (invalid_client)") {
		t.Fatalf("want the endpoint's refusal, got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error shows the client secret: %v", err)
	}
}

// TestFailingConnectionLogsNoSecret connects with secrets the broker
// refuses, or to no broker at all, with franz-go logging at debug level and
// the outcome logged as a service logs it, and finds the secret nowhere.
func TestFailingConnectionLogsNoSecret(t *testing.T) {
	const secret = "Sup3r-S3cret-Value"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.EnableSASL(), kfake.Superuser(kafkaclient.MechanismSCRAMSHA512, "mesh", "the-right-one"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := ln.Addr().String()
	ln.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		brokers []string
		sasl    kafkaclient.SASL
	}{
		{"scram wrong password", cluster.ListenAddrs(), kafkaclient.SASL{Mechanism: kafkaclient.MechanismSCRAMSHA512, Username: "mesh", Password: secret}},
		{"plain refused mechanism", cluster.ListenAddrs(), kafkaclient.SASL{Mechanism: kafkaclient.MechanismPlain, Username: "mesh", Password: secret}},
		{"oauthbearer refused mechanism", cluster.ListenAddrs(), kafkaclient.SASL{Mechanism: kafkaclient.MechanismOAuthBearer, OAuth: kafkaclient.OAuth{TokenFile: tokenFile}}},
		{"plain unreachable", []string{unreachable}, kafkaclient.SASL{Mechanism: kafkaclient.MechanismPlain, Username: "mesh", Password: secret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := kafkaclient.Defaults()
			c.Brokers = tc.brokers
			c.SASL = tc.sasl
			c.DialTimeout = time.Second
			c.Producer.DeliveryTimeout = 2 * time.Second
			logger.Info("kafka client", "config", c) // a service logging its configuration
			if b, err := json.Marshal(c); err != nil || strings.Contains(string(b), secret) {
				t.Fatalf("the JSON form shows the secret (%v): %s", err, b)
			}
			cl, err := kafkaclient.New(c, "test", "east", kgo.WithLogger(kgo.BasicLogger(&logs, kgo.LogLevelDebug, nil)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr()
			cl.Close()
			if err == nil {
				t.Fatal("the produce must fail")
			}
			logger.Error("produce failed", "error", err)
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("the log shows the secret:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "produce failed") || len(logs.String()) < 200 {
				t.Fatalf("the log is not what the test means to search:\n%s", logs.String())
			}
		})
	}
}

func TestInlineSecretsOfTheKafkaSection(t *testing.T) {
	c := kafkaclient.Defaults()
	err := config.Parse("kafka.yaml", []byte("brokers: [\"127.0.0.1:9092\"]\nsasl:\n  mechanism: OAUTHBEARER\n  oauth:\n    token_url: https://idp/token\n    client_id: mesh\n    client_secret: inline\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if got := config.InlineSecrets(&c); len(got) != 1 || got[0] != "sasl.oauth.client_secret" {
		t.Fatalf("got %q", got)
	}
}

func TestPrintedConfigHidesSecrets(t *testing.T) {
	c := kafkaclient.Defaults()
	c.SASL = kafkaclient.SASL{Mechanism: "PLAIN", Username: "mesh", Password: "pw-s3cret",
		OAuth: kafkaclient.OAuth{Token: "tok-s3cret", ClientSecret: "cs-s3cret"}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "kafka", c, "sasl", c.SASL, "oauth", c.SASL.OAuth)
	b, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprintf("%v %+v %s", c, c, c.SASL), logs.String(), string(b)} {
		if strings.Contains(out, "s3cret") {
			t.Fatalf("a secret shows: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "Password:[redacted]") {
		t.Fatalf("the printed form should say a password is set: %v", c)
	}
}
