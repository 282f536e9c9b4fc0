package devmesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// secureClient is a Kafka client of the secure dev mesh's Kafka at addr,
// trusting caFile, as user (no SASL when user is empty).
func secureClient(t *testing.T, addr, caFile, user, password string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append(opts, kgo.SeedBrokers(addr), kgo.DialTLSConfig(&tls.Config{RootCAs: caPool(t, caFile), MinVersion: tls.VersionTLS12}),
		kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5*time.Second))
	if user != "" {
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func caPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return pool
}

func produceOne(ctx context.Context, cl *kgo.Client, topic, value string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr()
}

// TestSecureMesh runs meshd dev -secure: every service of two sites starts
// (each one's Kafka client authenticated as its principal, the MQTT
// adapters with their credentials, the registries and control plane over
// https), and every surface refuses what has no credentials or no grant.
func TestSecureMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testConfig(t)
	cfg.Secure = true
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep, err := ReadEndpoints(m.EndpointsFile())
	if err != nil {
		t.Fatal(err)
	}
	if ep.TLSCA != filepath.Join(cfg.Dir, "tls", "ca.pem") || ep.SASLMechanism != "SCRAM-SHA-512" {
		t.Fatalf("endpoints.json: tls_ca %q, sasl_mechanism %q", ep.TLSCA, ep.SASLMechanism)
	}
	for name, s := range ep.Sites {
		for _, u := range []string{s.Registry, s.HTTP} {
			if !strings.HasPrefix(u, "https://") {
				t.Fatalf("site %s: want https URLs, got %s", name, u)
			}
		}
	}
	if !strings.HasPrefix(ep.ControlPlane, "https://") || !strings.HasPrefix(ep.Admin, "https://") {
		t.Fatalf("want https control plane and admin, got %s, %s", ep.ControlPlane, ep.Admin)
	}

	// credentials.json: private, in the documented shape.
	credFile := filepath.Join(cfg.Dir, "credentials.json")
	fi, err := os.Stat(credFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json has mode %v, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatal(err)
	}
	var shape map[string]map[string]string
	if err := json.Unmarshal(raw, &shape); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"admin", "viewer"} {
		if len(shape[user]) != 2 || shape[user]["username"] != user || len(shape[user]["password"]) < 24 {
			t.Fatalf("credentials.json: want %s with username and a long password, got %s", user, raw)
		}
	}
	if len(shape) != 2 {
		t.Fatalf("credentials.json: want admin and viewer only, got %s", raw)
	}
	creds, err := ReadCredentials(credFile)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Dir, "policy.yaml")); err != nil || !strings.Contains(string(b), "svc-replicator") || !strings.Contains(string(b), "viewer") {
		t.Fatalf("policy.yaml: %v\n%s", err, b)
	}

	east := ep.Sites["east"]
	t.Run("kafka", func(t *testing.T) {
		// Without SASL: the broker answers nothing but the SASL
		// handshake, and closes the connection.
		anon := secureClient(t, east.Kafka, ep.TLSCA, "", "")
		if err := ping(ctx, anon); !errors.Is(err, io.EOF) {
			t.Fatalf("a client without SASL: want the connection closed (EOF), got %v", err)
		}
		wrong := secureClient(t, east.Kafka, ep.TLSCA, creds.Admin.Username, creds.Admin.Password+"x")
		// kfake ends the connection where Kafka answers
		// SASL_AUTHENTICATION_FAILED first (the e2e tests see that).
		if err := ping(ctx, wrong); !errors.Is(err, kerr.SaslAuthenticationFailed) && !errors.Is(err, io.EOF) {
			t.Fatalf("a wrong password: want the connection refused, got %v", err)
		}
		admin := secureClient(t, east.Kafka, ep.TLSCA, creds.Admin.Username, creds.Admin.Password)
		if err := produceOne(ctx, admin, "secure.orders", "by-admin"); err != nil {
			t.Fatalf("admin produce: %v", err)
		}
		viewer := secureClient(t, east.Kafka, ep.TLSCA, creds.Viewer.Username, creds.Viewer.Password, kgo.DisableIdempotentWrite())
		if err := produceOne(ctx, viewer, "secure.orders", "by-viewer"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("viewer produce: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
		}
		// The viewer consumes, in a group of its own: one record, the
		// admin's, nothing of its own attempt.
		reader := secureClient(t, east.Kafka, ep.TLSCA, creds.Viewer.Username, creds.Viewer.Password,
			kgo.ConsumeTopics("secure.orders"), kgo.ConsumerGroup("viewer-reads"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := pollValues(ctx, t, reader, 1)
		if len(got) != 1 || got[0] != "by-admin" {
			t.Fatalf("viewer read %q, want [by-admin]", got)
		}
	})

	t.Run("mqtt", func(t *testing.T) {
		if !strings.HasPrefix(east.MQTT, "mqtts://") {
			t.Fatalf("want an mqtts:// broker, got %s", east.MQTT)
		}
		mqttTLS := &tls.Config{RootCAs: caPool(t, ep.TLSCA), MinVersion: tls.VersionTLS12}
		// Plain MQTT, even with the admin's credentials, gets no session.
		plain := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + strings.TrimPrefix(east.MQTT, "mqtts://")).SetClientID("secure-plain").
			SetUsername(creds.Admin.Username).SetPassword(creds.Admin.Password).SetConnectTimeout(3 * time.Second).SetAutoReconnect(false))
		if tok := plain.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
			plain.Disconnect(0)
			t.Fatalf("plain MQTT to the TLS port: want refused, got %v", tok.Error())
		}
		for _, c := range []struct{ name, user, pass string }{
			{"no credentials", "", ""},
			{"wrong password", creds.Admin.Username, "nope"},
			// The adapter's session is its principal's only.
			{"bridge taken", creds.Admin.Username, creds.Admin.Password},
		} {
			id := "secure-refused"
			if c.name == "bridge taken" {
				id = adapterClientID("east")
			}
			opts := paho.NewClientOptions().AddBroker(east.MQTT).SetClientID(id).SetUsername(c.user).SetPassword(c.pass).
				SetConnectTimeout(5 * time.Second).SetAutoReconnect(false).SetConnectRetry(false).SetTLSConfig(mqttTLS)
			cl := paho.NewClient(opts)
			tok := cl.Connect()
			// CONNACK "not authorized" (MQTT 3.1.1 return code 5).
			if !tok.WaitTimeout(10*time.Second) || tok.Error() == nil || !strings.Contains(tok.Error().Error(), "not Authorized") {
				cl.Disconnect(0)
				t.Fatalf("%s: want the connection refused as not authorized, got %v", c.name, tok.Error())
			}
		}
		// The viewer may subscribe, and receive, but not publish: its
		// message is refused before anything reaches Kafka.
		viewer := paho.NewClient(paho.NewClientOptions().AddBroker(east.MQTT).SetClientID("secure-viewer").SetUsername(creds.Viewer.Username).
			SetPassword(creds.Viewer.Password).SetConnectTimeout(5 * time.Second).SetTLSConfig(mqttTLS).SetAutoReconnect(false))
		if tok := viewer.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("viewer connect: %v", tok.Error())
		}
		received := make(chan string, 4)
		if tok := viewer.Subscribe("secure/#", 1, func(_ paho.Client, m paho.Message) { received <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("viewer subscribe: %v", tok.Error())
		}
		viewer.Publish("secure/sensor", 1, false, "by-viewer").WaitTimeout(5 * time.Second) // refused: mochi ends the connection
		viewer.Disconnect(0)
		viewer = paho.NewClient(paho.NewClientOptions().AddBroker(east.MQTT).SetClientID("secure-viewer").SetUsername(creds.Viewer.Username).
			SetPassword(creds.Viewer.Password).SetConnectTimeout(5 * time.Second).SetTLSConfig(mqttTLS).SetCleanSession(false))
		if tok := viewer.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("viewer reconnect: %v", tok.Error())
		}
		defer viewer.Disconnect(100)
		if tok := viewer.Subscribe("secure/#", 1, func(_ paho.Client, m paho.Message) { received <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("viewer subscribe: %v", tok.Error())
		}

		// The admin publishes; the site's MQTT adapter, authenticated as
		// svc-mqtt, brings it into Kafka, where the viewer reads it first:
		// the viewer's refused message is not there.
		opts := paho.NewClientOptions().AddBroker(east.MQTT).SetClientID("secure-admin").SetUsername(creds.Admin.Username).SetPassword(creds.Admin.Password).
			SetConnectTimeout(5 * time.Second).SetTLSConfig(mqttTLS)
		pub := paho.NewClient(opts)
		if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("admin connect: %v", tok.Error())
		}
		defer pub.Disconnect(100)
		if tok := pub.Publish("secure/sensor", 1, false, "reading"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("admin publish: %v", tok.Error())
		}
		reader := secureClient(t, east.Kafka, ep.TLSCA, creds.Viewer.Username, creds.Viewer.Password,
			kgo.ConsumeTopics(MQTTIngressTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if got := pollValues(ctx, t, reader, 1); len(got) != 1 || got[0] != "reading" {
			t.Fatalf("mqtt.ingress holds %q, want [reading]", got)
		}
		select {
		case got := <-received:
			if got != "reading" {
				t.Fatalf("the viewer's subscription got %q, want reading", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the viewer's subscription got nothing within 10s")
		}
	})

	t.Run("https", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, ep.TLSCA), MinVersion: tls.VersionTLS12}}}
		do := func(method, u, user, password, body string) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, u, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			}
			if user != "" {
				req.SetBasicAuth(user, password)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s with the CA: %v", method, u, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		admin, viewer := creds.Admin, creds.Viewer
		for _, u := range []string{east.Registry + "/subjects", ep.Sites["west"].Registry + "/subjects", ep.ControlPlane + "/v1/sites", ep.Admin + "/metrics", east.HTTP + "/topics"} {
			if code, body := do("GET", u, admin.Username, admin.Password, ""); code != http.StatusOK {
				t.Fatalf("GET %s as admin: %d %s", u, code, body)
			}
			if code, body := do("GET", u, viewer.Username, viewer.Password, ""); code != http.StatusOK {
				t.Fatalf("GET %s as viewer: %d %s", u, code, body)
			}
			// No credentials, or a wrong password: refused.
			if code, body := do("GET", u, "", "", ""); code != http.StatusUnauthorized {
				t.Fatalf("GET %s without credentials: want 401, got %d %s", u, code, body)
			}
			if code, body := do("GET", u, admin.Username, "wrong", ""); code != http.StatusUnauthorized {
				t.Fatalf("GET %s with a wrong password: want 401, got %d %s", u, code, body)
			}
			plain := "http://" + strings.TrimPrefix(u, "https://")
			resp, err := http.Get(plain)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
					t.Fatalf("plain GET %s: want it refused, got %s %s", plain, resp.Status, body)
				}
			}
			// A client without the mesh's CA is refused too.
			if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u); err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s without the mesh's CA succeeded", u)
			}
		}
		// Probes stay open.
		if code, body := do("GET", ep.Admin+"/readyz", "", "", ""); code != http.StatusOK {
			t.Fatalf("GET /readyz without credentials: %d %s", code, body)
		}
		// The policy: the viewer may read schemas, not register one; the
		// admin may. The viewer's refusal changes nothing.
		schema := `{"schema":"{\"type\":\"record\",\"name\":\"S\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}`
		versions := east.Registry + "/subjects/secure-value/versions"
		if code, body := do("POST", versions, viewer.Username, viewer.Password, schema); code != http.StatusForbidden || !strings.Contains(body, `"error_code":40301`) {
			t.Fatalf("viewer registers a schema: want 403 40301, got %d %s", code, body)
		}
		if code, body := do("GET", versions, admin.Username, admin.Password, ""); code != http.StatusNotFound {
			t.Fatalf("after the viewer's refused write, the subject exists: %d %s", code, body)
		}
		if code, body := do("POST", versions, admin.Username, admin.Password, schema); code != http.StatusOK {
			t.Fatalf("admin registers a schema: %d %s", code, body)
		}
	})

	// The control plane reaches every site's registry, adapters and
	// replicator over https, with the mesh's CA: every site healthy.
	t.Run("control plane", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, ep.TLSCA), MinVersion: tls.VersionTLS12}}}
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, err := http.NewRequest("GET", ep.ControlPlane+"/v1/sites", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(creds.Viewer.Username, creds.Viewer.Password)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var sites struct {
				Sites []struct {
					Name    string `json:"name"`
					Healthy bool   `json:"healthy"`
				} `json:"sites"`
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(body, &sites); err != nil {
				t.Fatalf("/v1/sites: %v: %s", err, body)
			}
			healthy := len(sites.Sites) == 2
			for _, s := range sites.Sites {
				healthy = healthy && s.Healthy
			}
			if healthy {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("sites not healthy within 30s: %s", body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// A restart keeps the CA and the users' passwords (and so what clients
	// were given), and Kafka takes them again.
	ca, err := os.ReadFile(ep.TLSCA)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	ca2, _ := os.ReadFile(ep.TLSCA)
	creds2, err := ReadCredentials(credFile)
	if err != nil || string(ca2) != string(ca) || creds2 != creds {
		t.Fatalf("restart: the CA or the credentials changed (%v)", err)
	}
	admin := secureClient(t, m2.Endpoints().Sites["east"].Kafka, ep.TLSCA, creds.Admin.Username, creds.Admin.Password)
	if err := produceOne(ctx, admin, "secure.orders", "after-restart"); err != nil {
		t.Fatalf("admin produce after a restart: %v", err)
	}

	// Without -secure the same directory runs open again, its data kept.
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	open := cfg
	open.Secure = false
	m3, err := Start(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	if u := m3.Endpoints().Sites["east"].Registry; !strings.HasPrefix(u, "http://") {
		t.Fatalf("open again: registry at %s", u)
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(m3.Endpoints().Sites["east"].Kafka), kgo.ConsumeTopics("secure.orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := pollValues(ctx, t, plain, 2); len(got) != 2 || got[0] != "by-admin" || got[1] != "after-restart" {
		t.Fatalf("open again: secure.orders holds %q, want [by-admin after-restart]", got)
	}
}

// ping asks the cluster for its metadata once.
func ping(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// pollValues polls cl until it has n records' values or ctx's end.
func pollValues(ctx context.Context, t *testing.T, cl *kgo.Client, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var out []string
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("fetch %s: %v", topic, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

// TestOpenMeshHasNoSecurityFiles keeps the dev mesh without -secure as it
// was: no credentials, CA or policy made, plain URLs.
func TestOpenMeshHasNoSecurityFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := oneSite(t)
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep := m.Endpoints()
	if ep.TLSCA != "" || ep.SASLMechanism != "" || !strings.HasPrefix(ep.Sites["east"].Registry, "http://") {
		t.Fatalf("open mesh endpoints: %+v", ep)
	}
	for _, f := range []string{"credentials.json", "policy.yaml", "tls"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("open mesh made %s (%v)", f, err)
		}
	}
}
