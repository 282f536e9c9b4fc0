package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/envelope"
)

// TestIntegrationMQTTAdapter bridges Mosquitto and real Kafka with the MQTT
// adapter, witnessed by mosquitto_pub/mosquitto_sub and kcat: QoS 0 and 1
// messages reach Kafka with the envelope, and Kafka records reach an MQTT
// subscriber.
func TestIntegrationMQTTAdapter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	broker, kafka, kcat := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT")
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	inTopic, outTopic := "it.mqtt.in."+suffix, "it.mqtt.out."+suffix

	cfg := mqtt.DefaultConfig()
	cfg.Site = "east"
	cfg.Broker.URL = broker
	cfg.Broker.ClientID = "meshwork-it-" + suffix
	cfg.Kafka.Brokers = []string{kafka}
	cfg.Ingress = []mqtt.IngressRule{{Filter: "it/" + suffix + "/{device}/temp", QoS: 1, Topic: inTopic, Type: "plant.sensor.temperature"}}
	cfg.Egress = []mqtt.EgressRule{{Topics: []string{outTopic}, QoS: 1, MQTTTopic: "it/" + suffix + "/cmd/{key}"}}
	createTopics(t, kafka, 1, inTopic, outTopic)
	startAdapter(ctx, t, cfg)

	t.Run("ingress", func(t *testing.T) {
		for i, qos := range []string{"1", "0", "1"} {
			run(ctx, t, nil, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", qos,
				"-t", fmt.Sprintf("it/%s/dev%d/temp", suffix, i), "-m", fmt.Sprintf(`{"c":%d}`, 20+i))
		}
		var lines []string
		waitFor(t, 30*time.Second, "3 records in Kafka", func() error {
			out, err := tryRun(ctx, nil, kcat, "-C", "-b", kafka, "-t", inTopic, "-o", "beginning", "-e", "-q", "-J")
			if err != nil {
				return err
			}
			lines = strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) < 3 || lines[0] == "" {
				return fmt.Errorf("%d records", len(lines))
			}
			return nil
		})
		for _, l := range lines {
			var m struct {
				Key     string   `json:"key"`
				Headers []string `json:"headers"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			hs := map[string]string{}
			for i := 0; i+1 < len(m.Headers); i += 2 {
				hs[m.Headers[i]] = m.Headers[i+1]
			}
			if !strings.HasPrefix(m.Key, "it/"+suffix+"/dev") || hs[envelope.HeaderOrigin] != "east" ||
				hs[envelope.HeaderType] != "plant.sensor.temperature" || hs[envelope.HeaderID] == "" ||
				!strings.HasPrefix(hs[envelope.HeaderSource], "mqtt://") || hs[envelope.HeaderTraceParent] == "" {
				t.Fatalf("record %s lacks the envelope: %v", m.Key, hs)
			}
		}
	})

	t.Run("egress", func(t *testing.T) {
		// MQTT 5 (the adapter's default for egress): the record's envelope
		// arrives as user properties named as the CloudEvents MQTT binding
		// names them (no ce_ prefix), its content type as Content Type.
		sub := startWitness(ctx, t, nil, "mosquitto_sub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-V", "5",
			"-F", "%t|%C|%P|%p", "-t", "it/"+suffix+"/cmd/#", "-C", "1", "-i", "meshwork-it-sub-"+suffix)
		// mosquitto_sub has no ready signal: publish until it receives one.
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; ; i++ {
			run(ctx, t, []byte(fmt.Sprintf("valve-%d:open\n", i)), kcat, "-P", "-b", kafka, "-t", outTopic, "-K:",
				"-H", "ce_specversion=1.0", "-H", fmt.Sprintf("ce_id=cmd-%d", i), "-H", "ce_source=/ops/console",
				"-H", "ce_type=plant.valve.command", "-H", "content-type=text/plain", "-H", "mesh_origin=west", "-H", "mesh_path=west,east")
			select {
			case l := <-sub.lines:
				f := strings.Split(l, "|")
				if len(f) != 4 || !strings.HasPrefix(f[0], "it/"+suffix+"/cmd/valve-") || f[3] != "open" || f[1] != "text/plain" {
					t.Fatalf("subscriber got %q, want topic|content type|user properties|payload", l)
				}
				props := strings.Fields(f[2])
				n := strings.TrimPrefix(f[0], "it/"+suffix+"/cmd/valve-")
				for _, want := range []string{"specversion:1.0", "id:cmd-" + n, "type:plant.valve.command", "source:/ops/console", "mesh_origin:west", "mesh_path:west,east"} {
					if !slices.Contains(props, want) {
						t.Fatalf("user properties %q lack %q", f[2], want)
					}
				}
				return
			case <-time.After(time.Second):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no message reached mosquitto_sub: %s", sub.stderr.String())
			}
		}
	})
}

// TestIntegrationMQTTAdapterNoEcho: against Mosquitto, a record that egress
// publishes to a topic the adapter's own ingress filter matches never comes
// back into Kafka over MQTT 5 (one session, No Local). Over MQTT 3.1.1,
// which has no No Local, it does come back, as the README says.
func TestIntegrationMQTTAdapterNoEcho(t *testing.T) {
	for _, c := range []struct {
		protocol string
		echoes   bool
	}{{mqtt.Protocol5, false}, {mqtt.Protocol311, true}} {
		t.Run("mqtt"+c.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			broker, kafka, kcat := env(t, "MESH_E2E_MQTT"), env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KCAT")
			u, err := url.Parse(broker)
			if err != nil {
				t.Fatal(err)
			}
			suffix := uniq("echo")
			inTopic, outTopic := "it.echo.in."+suffix, "it.echo.out."+suffix
			cfg := mqtt.DefaultConfig()
			cfg.Site = "east"
			cfg.Broker.URL = broker
			cfg.Broker.ClientID = "meshwork-it-" + suffix
			cfg.Broker.Protocol = c.protocol
			cfg.Kafka.Brokers = []string{kafka}
			cfg.Ingress = []mqtt.IngressRule{{Filter: "it/" + suffix + "/#", QoS: 1, Topic: inTopic}}
			cfg.Egress = []mqtt.EgressRule{{Topics: []string{outTopic}, QoS: 1, MQTTTopic: "it/" + suffix + "/cmd/{key}"}}
			createTopics(t, kafka, 1, inTopic, outTopic)
			startAdapter(ctx, t, cfg)

			sub := startWitness(ctx, t, nil, "mosquitto_sub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1",
				"-t", "it/"+suffix+"/cmd/#", "-C", "1", "-i", "meshwork-it-sub-"+suffix)
			deadline := time.Now().Add(30 * time.Second)
			for sent := false; !sent; {
				run(ctx, t, []byte("valve:open\n"), kcat, "-P", "-b", kafka, "-t", outTopic, "-K:")
				select {
				case <-sub.lines:
					sent = true
				case <-time.After(time.Second):
				}
				if time.Now().After(deadline) {
					t.Fatalf("no command reached mosquitto_sub: %s", sub.stderr.String())
				}
			}
			// A device's message after the commands: once it is in Kafka,
			// every echo Mosquitto sent before it is too.
			run(ctx, t, nil, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", "it/"+suffix+"/after", "-m", "after")
			var keys []string
			waitFor(t, 30*time.Second, "the device's message in Kafka", func() error {
				out, err := tryRun(ctx, nil, kcat, "-C", "-b", kafka, "-t", inTopic, "-o", "beginning", "-e", "-q", "-f", "%k\n")
				if err != nil {
					return err
				}
				keys = strings.Fields(string(out))
				if !slices.Contains(keys, "it/"+suffix+"/after") {
					return fmt.Errorf("keys %v", keys)
				}
				return nil
			})
			echoed := slices.Contains(keys, "it/"+suffix+"/cmd/valve")
			if echoed != c.echoes {
				t.Fatalf("over MQTT %s the command came back into Kafka: %v, want %v (keys %v)", c.protocol, echoed, c.echoes, keys)
			}
		})
	}
}
