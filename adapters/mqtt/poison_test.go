package mqtt

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/dlq"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// An MQTT message over Kafka's max.message.bytes is dead-lettered as a
// reference (size, digest, the beginning of it) at once, without a round
// trip to Kafka or a retry, and acknowledged; the 1000 messages behind it
// all reach Kafka and are acknowledged, in batches that fit the topic's
// limit, with the window never over its bound.
func TestOversizeMessageIsDeadLetteredAndTheStreamGoesOn(t *testing.T) {
	const limit, follow = 64 << 10, 1000
	broker, acks := startBrokerCounting(t)
	// The brokers' limit, as Kafka's 1 MB default, applies to the event
	// topic and its dead-letter topic alike: the dead letter must be a
	// reference.
	kafka := kafkatest.Cluster(t, kfake.SeedTopics(1, "plant.image"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	cfg := testConfig(broker, kafka)
	cfg.MaxInFlight = 256
	cfg.Ingress = []IngressRule{{Name: "img", Filter: "cam/#", Topic: "plant.image", QoS: 1}}
	a := startAdapter(t, cfg)

	var peak atomic.Int64 // the in-flight gauge's highest value
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), int64(testutil.ToFloat64(a.m.InFlight()))))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	pub := mqttClient(t, broker, "camera-1")
	big := bytes.Repeat([]byte{'x'}, 100<<10)
	toks := []paho.Token{pub.Publish("cam/1", 1, false, big)}
	for i := range follow {
		toks = append(toks, pub.Publish("cam/1", 1, false, fmt.Sprintf("%04d%s", i, bytes.Repeat([]byte{'y'}, 1000))))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(testWait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	got := map[string]bool{}
	for _, r := range consume(t, kafka, "plant.image", follow) {
		got[string(r.Value[:4])] = true
	}
	if len(got) != follow {
		t.Fatalf("%d distinct messages of %d reached Kafka", len(got), follow)
	}
	d := consume(t, kafka, dlq.Topic("plant.image"), 1)[0]
	l, err := dlq.Read(d)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Truncated || header(d, dlq.HeaderSize) != strconv.Itoa(len(big)+len("cam/1")) ||
		!strings.Contains(l.Reason, "max.message.bytes") || len(l.Record.Value) != dlq.MaxKeptBytes {
		t.Fatalf("dead letter: truncated %v, size %s, reason %q, %d bytes kept", l.Truncated, header(d, dlq.HeaderSize), l.Reason, len(l.Record.Value))
	}
	eventually(t, "every message acknowledged", func() bool { return acks.of(cfg.Broker.ClientID) == follow+1 })
	close(stop)
	<-sampled
	if n := testutil.ToFloat64(a.m.RetryCount("ingress")); n != 0 {
		t.Fatalf("%v produces tried again: the oversize message cost round trips", n)
	}
	if p := peak.Load(); p > int64(cfg.MaxInFlight) {
		t.Fatalf("%d messages in flight, over max_in_flight %d", p, cfg.MaxInFlight)
	}
	if n := testutil.ToFloat64(a.m.DeadLetterCount("ingress", adapters.ReasonTooLarge)); n != 1 {
		t.Fatalf("%v dead letters counted as too large", n)
	}
}
