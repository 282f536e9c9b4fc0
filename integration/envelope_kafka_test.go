package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

func sampleEnvelope(i int) envelope.Envelope {
	e := envelope.Envelope{
		Source:      "mqtt://broker/factory/" + itoa(i) + "/temp",
		Type:        "plant.sensor.temperature",
		Subject:     "sensor-" + itoa(i),
		ContentType: "application/json",
		Extensions:  map[string]string{"tenant": "acme"},
		TraceState:  "vendor=opaque",
	}
	e.Complete("east", time.Now())
	if err := e.AddHop("west"); err != nil {
		panic(err)
	}
	return e
}

// TestIntegrationEnvelopeReadByIndependentClients writes envelopes with the
// mesh's own franz-go producer to real Kafka and reads them back with sarama
// and kcat: every header must arrive intact, next to the application's own.
func TestIntegrationEnvelopeReadByIndependentClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	broker := env(t, "MESH_E2E_KAFKA_EAST")
	topic := uniq("it.envelope")

	cfg := kafkaclient.Defaults()
	cfg.Brokers = []string{broker}
	cl, err := kafkaclient.New(cfg, "integration", "east")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	const n = 6
	sent := map[string]envelope.Envelope{}
	for i := range n {
		env := sampleEnvelope(i)
		r := &kgo.Record{Topic: topic, Key: []byte("factory/" + itoa(i) + "/temp"), Value: []byte(fmt.Sprintf(`{"c":%d}`, i)),
			Headers: []kgo.RecordHeader{{Key: "app-header", Value: []byte("kept")}}}
		env.SetKafka(r)
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		sent[string(r.Key)] = env
	}

	check := func(t *testing.T, who string, key, value string, headers []kgo.RecordHeader) {
		t.Helper()
		want, ok := sent[key]
		if !ok {
			t.Fatalf("%s read an unknown key %q", who, key)
		}
		if !strings.Contains(value, `{"c":`) {
			t.Fatalf("%s read value %q", who, value)
		}
		got, err := envelope.FromKafka(headers)
		if err != nil {
			t.Fatalf("%s: headers do not parse: %v", who, err)
		}
		if !got.Time.Equal(want.Time) {
			t.Fatalf("%s: time %v, want %v", who, got.Time, want.Time)
		}
		got.Time = want.Time
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: envelope differs\n got %+v\nwant %+v", who, got, want)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		if headers[0].Key != "app-header" || string(headers[0].Value) != "kept" {
			t.Fatalf("%s: application header lost or moved: %v", who, headers[0])
		}
	}

	t.Run("sarama", func(t *testing.T) {
		client, err := sarama.NewClient([]string{broker}, saramaConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		consumer, err := sarama.NewConsumerFromClient(client)
		if err != nil {
			t.Fatal(err)
		}
		defer consumer.Close()
		got := 0
		for p := int32(0); p < 3; p++ {
			hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				t.Fatal(err)
			}
			if hw == 0 {
				continue
			}
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			for off := int64(0); off < hw; off++ {
				select {
				case m := <-pc.Messages():
					var hs []kgo.RecordHeader
					for _, h := range m.Headers {
						hs = append(hs, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
					}
					check(t, "sarama", string(m.Key), string(m.Value), hs)
					got++
				case <-ctx.Done():
					t.Fatalf("sarama: partition %d: timed out at offset %d", p, off)
				}
			}
			pc.Close()
		}
		if got != n {
			t.Fatalf("sarama read %d records, want %d", got, n)
		}
	})

	t.Run("kcat", func(t *testing.T) {
		out := run(ctx, t, nil, env(t, "MESH_E2E_KCAT"), "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-J")
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != n {
			t.Fatalf("kcat read %d records, want %d:\n%s", len(lines), n, out)
		}
		for _, l := range lines {
			var m struct {
				Key     string   `json:"key"`
				Payload string   `json:"payload"`
				Headers []string `json:"headers"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("kcat output %q: %v", l, err)
			}
			var hs []kgo.RecordHeader
			for i := 0; i+1 < len(m.Headers); i += 2 {
				hs = append(hs, kgo.RecordHeader{Key: m.Headers[i], Value: []byte(m.Headers[i+1])})
			}
			check(t, "kcat", m.Key, m.Payload, hs)
		}
	})
}

// TestIntegrationEnvelopeWrittenByKcat goes the other way: kcat writes the
// envelope headers as any non-mesh producer would, and the mesh reads them.
func TestIntegrationEnvelopeWrittenByKcat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	broker := env(t, "MESH_E2E_KAFKA_EAST")
	topic := uniq("it.envelope.kcat")
	createTopics(t, broker, 1, topic)
	want := sampleEnvelope(42)
	args := []string{"-P", "-b", broker, "-t", topic, "-k", "k42"}
	for _, h := range want.KafkaHeaders() {
		args = append(args, "-H", h.Key+"="+string(h.Value))
	}
	run(ctx, t, []byte(`{"c":42}`), env(t, "MESH_E2E_KCAT"), args...)

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("read %d records", len(recs))
	}
	got, err := envelope.FromKafka(recs[0].Headers)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || !got.Time.Equal(want.Time) || got.TraceParent != want.TraceParent ||
		!reflect.DeepEqual(got.Path, want.Path) || got.Extensions["tenant"] != "acme" {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
