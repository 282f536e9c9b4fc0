package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/xdg-go/scram"

	"github.com/meshwork/meshwork/adapters/amqp"
	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/adapters/rest"
	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/registry"
	"github.com/meshwork/meshwork/replicator"
)

// TestIntegrationSecureKafka runs the mesh's services against an Apache
// Kafka broker that takes only SASL_SSL (SCRAM-SHA-512, TLS with the test's
// CA), each as its own principal, from the kafka block of its YAML
// configuration: the schema registry (its schema log), the MQTT adapter
// (Mosquitto into Kafka), the AMQP adapter (RabbitMQ into Kafka), the REST
// adapter (HTTP into Kafka) and the
// replicator (the shared plain east cluster into the secure one, with
// transactions) and the control plane (the site's health and catalog). Independent clients read what they wrote with credentials
// and are refused without: kcat, confluent-kafka (Python) and sarama.
func TestIntegrationSecureKafka(t *testing.T) {
	east, mqttURL := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_MQTT")
	kcat, python := env(t, "MESH_E2E_KCAT"), env(t, "MESH_E2E_PYTHON")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rabbit := env(t, "MESH_E2E_RABBITMQ_AMQP")
	k := startSecureKafka(t, "svc-registry", "svc-mqtt", "svc-amqp", "svc-rest", "svc-replicator", "svc-controlplane", "witness")

	suffix := uniq("sec")
	mqttTopic, amqpTopic, restTopic, replTopic := "secure.mqtt."+suffix, "secure.amqp."+suffix, "secure.rest."+suffix, "secure.repl."+suffix
	adm := kadm.NewClient(k.client(t, "admin"))
	if resp, err := adm.CreateTopics(ctx, 1, 1, nil, mqttTopic, amqpTopic, restTopic); err != nil || resp.Error() != nil {
		t.Fatalf("create topics on the secure broker: %v %v", err, resp.Error())
	}
	createTopics(t, east, 1, replTopic)

	// The schema registry: its schema log in the secure cluster. It
	// answers a registration once it has read it back from there.
	regPort := freePorts(t, 1)[0]
	regCfg := registry.DefaultConfig()
	parseConfig(t, "registry.yaml", fmt.Sprintf("site: secure\nlisten: 127.0.0.1:%d\n%s", regPort, k.kafkaYAML("svc-registry")), &regCfg)
	reg, err := registry.New(regCfg, quietLogger(), telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	regURL := runService(ctx, t, "registry", reg, regCfg.Listen)
	resp, err := http.Post(regURL+"/subjects/"+restTopic+"-value/versions", "application/vnd.schemaregistry.v1+json",
		strings.NewReader(`{"schema": "{\"type\":\"string\"}"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id"`) {
		t.Fatalf("register a schema: %s %s", resp.Status, body)
	}

	// The MQTT adapter: Mosquitto's messages into the secure cluster.
	mqttCfg := mqtt.DefaultConfig()
	parseConfig(t, "mqtt.yaml", fmt.Sprintf(`site: secure
listen: 127.0.0.1:0
broker: {url: %q, client_id: %q, connect_timeout: 5s}
ingress:
  - {name: in, filter: %q, qos: 1, topic: %q}
%s`, mqttURL, "secure-adapter-"+suffix, suffix+"/#", mqttTopic, k.kafkaYAML("svc-mqtt")), &mqttCfg)
	startAdapter(ctx, t, mqttCfg)
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mqttURL).SetClientID("secure-pub-" + suffix).SetConnectTimeout(5 * time.Second))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to Mosquitto: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish(suffix+"/sensor", 1, false, "from-mqtt"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}

	// The AMQP adapter: a RabbitMQ queue's messages into the secure cluster.
	amqpCfg := amqp.DefaultConfig()
	parseConfig(t, "amqp.yaml", fmt.Sprintf(`site: secure
listen: 127.0.0.1:0
broker: {url: %q, container_id: %q}
ingress:
  - {name: in, address: %q, topic: %q}
%s`, rabbit, "secure-amqp-"+suffix, suffix+".requests", amqpTopic, k.kafkaYAML("svc-amqp")), &amqpCfg)
	startAMQPAdapter(ctx, t, amqpCfg)
	if l := startWitness(ctx, t, nil, python, witnessPath("amqp_send.py"), rabbit, "/queue/"+suffix+".requests",
		`[{"kind": "data", "body": "from-amqp"}]`).next(t, 30*time.Second); l != "sent 1" {
		t.Fatalf("amqp send: %q", l)
	}

	// The REST adapter: an HTTP produce into the secure cluster.
	restPort := freePorts(t, 1)[0]
	restCfg := rest.DefaultConfig()
	parseConfig(t, "rest.yaml", fmt.Sprintf("site: secure\nlisten: 127.0.0.1:%d\ninstance_id: secure-%s\n%s", restPort, suffix, k.kafkaYAML("svc-rest")), &restCfg)
	ra, err := rest.New(restCfg, quietLogger(), telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	restURL := runService(ctx, t, "rest adapter", ra, restCfg.Listen)
	resp, err = http.Post(restURL+"/topics/"+restTopic, "application/vnd.kafka.binary.v2+json",
		strings.NewReader(`{"records":[{"value":"ZnJvbS1yZXN0"}]}`)) // "from-rest"
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("REST produce: %s %s", resp.Status, body)
	}

	// The control plane: the secure site's cluster, reached as its mesh
	// file says (svc-controlplane), and its registry, healthy.
	dir := t.TempDir()
	meshFile := filepath.Join(dir, "mesh.yaml")
	site := fmt.Sprintf("sites:\n  - name: secure\n    registry: %s\n    %s", regURL, strings.ReplaceAll(strings.TrimSpace(k.kafkaYAML("svc-controlplane")), "\n", "\n    "))
	if err := os.WriteFile(meshFile, []byte(site+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cpCfg := controlplane.DefaultConfig()
	parseConfig(t, "controlplane.yaml", fmt.Sprintf("site: secure\nlisten: 127.0.0.1:%d\nmesh_file: %s\nrefresh_interval: 500ms\ntrace_index: {dir: %s}\n",
		freePorts(t, 1)[0], meshFile, filepath.Join(dir, "traceindex")), &cpCfg)
	cp, err := controlplane.New(cpCfg, quietLogger(), telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cpURL := runService(ctx, t, "control plane", cp, cpCfg.Listen)
	waitFor(t, time.Minute, "the control plane to find the secure site healthy", func() error {
		resp, err := http.Get(cpURL + "/v1/sites")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v struct {
			Sites []struct {
				Healthy bool `json:"healthy"`
			} `json:"sites"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.Sites) != 1 || !v.Sites[0].Healthy {
			return fmt.Errorf("%v: %s", err, b)
		}
		return nil
	})

	// The replicator of the secure site: east's records of replTopic,
	// declared as the site's interest, copied with transactions.
	replCfg := replicator.DefaultConfig()
	parseConfig(t, "replicator.yaml", fmt.Sprintf(`site: secure
listen: 127.0.0.1:%d
%ssites:
  - name: secure
  - name: east
    kafka: {brokers: [%q]}
interest:
  declared:
    - topic: %s
  discovery_interval: 1s
flow: {fetch_max_wait: 50ms, plan_interval: 1s, checkpoint_interval: 1s}
`, freePorts(t, 1)[0], k.kafkaYAML("svc-replicator"), east, replTopic), &replCfg)
	rep, err := replicator.New(replCfg, quietLogger(), telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runService(ctx, t, "replicator", rep, "")
	if err := mustClient(t, east).ProduceSync(ctx, &kgo.Record{Topic: replTopic, Value: []byte("from-east")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The witnesses, with credentials: each reads what a service wrote.
	user, pw := "witness", k.passwords["witness"]
	// kcat 1.7's librdkafka (2.0.2) cannot do SCRAM with Kafka 4 (see
	// startSecureKafka): it authenticates with PLAIN, over the same TLS.
	kcatSASL := []string{"-b", k.addr, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + k.ca.File, "-X", "sasl.mechanisms=PLAIN"}
	t.Run("kcat", func(t *testing.T) {
		args := append(append([]string{}, kcatSASL...), "-X", "sasl.username="+user, "-X", "sasl.password="+pw,
			"-C", "-t", mqttTopic, "-o", "beginning", "-c", "1", "-e", "-q", "-f", "%s\n")
		out := waitOutput(ctx, t, kcat, args, "from-mqtt")
		t.Logf("kcat read %q (MQTT adapter)", out)
		// Without SASL, and with a wrong password: refused.
		for name, extra := range map[string][]string{
			"no SASL":        {"-b", k.addr, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + k.ca.File},
			"wrong password": append(append([]string{}, kcatSASL...), "-X", "sasl.username="+user, "-X", "sasl.password=wrong"),
		} {
			out, err := tryRun(ctx, nil, kcat, append(extra, "-L", "-m", "5")...)
			if err == nil {
				t.Fatalf("kcat %s: want refused, got\n%s", name, out)
			}
			if name == "wrong password" && !strings.Contains(err.Error(), "SASL authentication error") {
				t.Fatalf("kcat %s: want an authentication error, got %v", name, err)
			}
		}
	})
	t.Run("confluent-kafka", func(t *testing.T) {
		out := waitOutput(ctx, t, python, []string{witnessPath("kafka_sasl.py"), "consume", k.addr, k.ca.File, user, pw, restTopic, "1"}, "from-rest")
		t.Logf("confluent-kafka read %q (REST adapter)", out)
		out = waitOutput(ctx, t, python, []string{witnessPath("kafka_sasl.py"), "consume", k.addr, k.ca.File, user, pw, amqpTopic, "1"}, "from-amqp")
		t.Logf("confluent-kafka read %q (AMQP adapter)", out)
		if out, err := tryRun(ctx, nil, python, witnessPath("kafka_sasl.py"), "produce", k.addr, k.ca.File, user, pw, restTopic, "by-python"); err != nil {
			t.Fatalf("confluent-kafka produce: %v\n%s", err, out)
		}
		_, err := tryRun(ctx, nil, python, witnessPath("kafka_sasl.py"), "produce", k.addr, k.ca.File, user, "wrong", restTopic, "refused")
		if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "invalid credentials") {
			t.Fatalf("confluent-kafka with a wrong password: want exit 3 (authentication failed), got %v", err)
		}
	})
	t.Run("sarama", func(t *testing.T) {
		got := saramaSecureRead(ctx, t, k, user, pw, replTopic)
		if got != "from-east" {
			t.Fatalf("sarama read %q from the replicated topic, want from-east", got)
		}
		if _, err := sarama.NewClient([]string{k.addr}, saramaSecure(k, user, "wrong")); err == nil || !errors.Is(err, sarama.ErrSASLAuthenticationFailed) && !strings.Contains(err.Error(), "SASL") {
			t.Fatalf("sarama with a wrong password: want an authentication failure, got %v", err)
		}
	})
	// The broker holds exactly the one record the REST adapter produced
	// and the one confluent-kafka did; the refused produce left nothing.
	hw, err := adm.ListEndOffsets(ctx, restTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := hw.Lookup(restTopic, 0); o.Offset != 2 {
		t.Fatalf("%s holds %d records, want 2", restTopic, o.Offset)
	}
}

// parseConfig reads a service's YAML configuration over its defaults, as
// its command does.
func parseConfig(t *testing.T, name, yaml string, dst interface{ Validate() error }) {
	t.Helper()
	if err := config.Parse(name, []byte(yaml), dst); err != nil {
		t.Fatal(err)
	}
	if err := dst.Validate(); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger {
	if os.Getenv("MESH_E2E_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runService starts svc in this process, serves its API (if it has one) on
// listen, waits until it is ready and stops it when the test ends. It
// returns the API's URL.
func runService(ctx context.Context, t *testing.T, name string, svc service.Service, listen string) string {
	t.Helper()
	if err := svc.Start(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	url := ""
	var stop context.CancelFunc
	served := make(chan error, 1)
	if h, ok := svc.(service.HTTPService); ok && listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		var sctx context.Context
		sctx, stop = context.WithCancel(context.Background())
		go func() { served <- telemetry.ServeHTTP(sctx, ln, h.Handler(), quietLogger()) }()
		url = "http://" + ln.Addr().String()
	}
	t.Cleanup(func() {
		if stop != nil {
			stop()
			<-served
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = svc.Close(cctx)
	})
	waitFor(t, time.Minute, name+" ready", func() error { return svc.Ready(ctx) })
	return url
}

// waitOutput runs name with args until its output holds want (a consumer
// may start before the record is there), within a minute.
func waitOutput(ctx context.Context, t *testing.T, name string, args []string, want string) string {
	t.Helper()
	var out []byte
	waitFor(t, time.Minute, name+" to read "+want, func() error {
		var err error
		out, err = tryRun(ctx, nil, name, args...)
		if err != nil || !strings.Contains(string(out), want) {
			return fmt.Errorf("%v: %s", err, tail(string(out), 2000))
		}
		return nil
	})
	return strings.TrimSpace(string(out))
}

// saramaSecure is sarama's configuration for the secure broker as user:
// SASL/SCRAM-SHA-512 (xdg-go/scram, as sarama's own examples use) over
// TLS verified by the test's CA.
func saramaSecure(k *secureKafka, user, password string) *sarama.Config {
	cfg := saramaConfig()
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = &tls.Config{RootCAs: k.ca.Pool(), MinVersion: tls.VersionTLS12}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, password
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{gen: scram.SHA512} }
	cfg.Metadata.Retry.Max = 1
	return cfg
}

// saramaSecureRead reads the first record of topic's partition 0 with sarama as
// user, waiting for it within a minute.
func saramaSecureRead(ctx context.Context, t *testing.T, k *secureKafka, user, password, topic string) string {
	t.Helper()
	cl, err := sarama.NewClient([]string{k.addr}, saramaSecure(k, user, password))
	if err != nil {
		t.Fatalf("sarama: %v", err)
	}
	defer cl.Close()
	c, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pc sarama.PartitionConsumer
	waitFor(t, time.Minute, "sarama to find "+topic, func() error {
		var err error
		pc, err = c.ConsumePartition(topic, 0, sarama.OffsetOldest)
		return err
	})
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		return string(m.Value)
	case err := <-pc.Errors():
		t.Fatalf("sarama: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("sarama: nothing within a minute")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	return ""
}

// xdgSCRAM is sarama's SCRAM client on xdg-go/scram.
type xdgSCRAM struct {
	gen  scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, password, authzID string) error {
	c, err := x.gen.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }
