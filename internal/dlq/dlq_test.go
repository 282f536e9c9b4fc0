package dlq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestWriteAndRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, cluster)

	w := NewWriter(cl, Retention(time.Hour))
	orig := &kgo.Record{
		Topic: "plant.sensor.temperature", Partition: 2, Offset: 41,
		Key: []byte("factory/1/temp"), Value: []byte("{not json"),
		Timestamp: time.UnixMilli(1_700_000_000_000),
		Headers:   []kgo.RecordHeader{{Key: "ce_id", Value: []byte("e1")}},
	}
	when := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := Failure{Err: errors.New("payload is not valid JSON"), Component: "mqtt-adapter/east",
		Partition: 2, Offset: 41, Attempts: 3, Time: when}
	for range 2 { // the second write must not fail on the existing topic
		if err := w.Write(ctx, orig, f); err != nil {
			t.Fatal(err)
		}
	}
	if len(orig.Headers) != 1 {
		t.Fatal("Write must not modify the original record")
	}

	cfgs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, "_mesh.dlq.plant.sensor.temperature")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("_mesh.dlq.plant.sensor.temperature", nil)
	if err != nil {
		t.Fatal(err)
	}
	var retention string
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			retention = c.MaybeValue()
		}
	}
	if retention != "3600000" {
		t.Fatalf("retention.ms = %q, want 3600000", retention)
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.ConsumeTopics(Topic("plant.sensor.temperature")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	fs := rd.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	l, err := Read(fs.Records()[0])
	if err != nil {
		t.Fatal(err)
	}
	if l.Reason != "payload is not valid JSON" || l.Component != "mqtt-adapter/east" || l.Topic != "plant.sensor.temperature" ||
		l.Partition != 2 || l.Offset != 41 || l.Attempts != 3 || !l.Time.Equal(when) {
		t.Fatalf("unexpected letter %+v", l)
	}
	r := l.Record
	if r.Topic != orig.Topic || string(r.Key) != string(orig.Key) || string(r.Value) != string(orig.Value) ||
		len(r.Headers) != 1 || r.Headers[0].Key != "ce_id" || !r.Timestamp.Equal(orig.Timestamp) {
		t.Fatalf("original record not restored: %+v", r)
	}
}

func TestWriteFailsWhenKafkaIsDown(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1)) // closed at once: a Kafka that is down
	if err != nil {
		t.Fatal(err)
	}
	addrs := cluster.ListenAddrs()
	cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = NewWriter(cl).Write(ctx, &kgo.Record{Topic: "t"}, Failure{Err: errors.New("x")})
	if err == nil {
		t.Fatal("a DLQ write must fail, not pretend, when Kafka is down")
	}
}

func TestReadRejectsOtherTopics(t *testing.T) {
	if _, err := Read(&kgo.Record{Topic: "orders"}); err == nil {
		t.Fatal("want an error")
	}
	_, err := Read(&kgo.Record{Topic: "_mesh.dlq.t", Headers: []kgo.RecordHeader{{Key: HeaderOffset, Value: []byte("x")}}})
	if err == nil {
		t.Fatal("a malformed offset header must be reported")
	}
}

// A record too large to copy is dead-lettered as a reference: its size,
// digest and beginning, so one oversized message never stops its stream.
func TestTooLargeRecordBecomesAReference(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, cluster)
	big := &kgo.Record{Topic: "plant.image", Key: []byte("cam/1"), Value: bytes.Repeat([]byte{'x'}, 2<<20),
		Headers: []kgo.RecordHeader{{Key: "ce_id", Value: []byte("e9")}}}
	w := NewWriter(cl)
	if err := w.Write(ctx, big, Failure{Err: errors.New("too large"), Component: "test", Offset: -1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("v")},
		Failure{Err: errors.New("unroutable"), Component: "test", Offset: -1, Unroutable: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ topic string }{{Topic("plant.image")}, {UnroutableTopic}} {
		rd, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(c.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		fs := rd.PollFetches(ctx)
		rd.Close()
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		l, err := Read(fs.Records()[0])
		if err != nil {
			t.Fatal(err)
		}
		switch c.topic {
		case UnroutableTopic:
			if !l.Unroutable || l.Topic != "__consumer_offsets" || l.Truncated {
				t.Fatalf("unroutable letter %+v", l)
			}
		default:
			sum := sha256.Sum256(big.Value)
			h := map[string]string{}
			for _, hd := range fs.Records()[0].Headers {
				h[hd.Key] = string(hd.Value)
			}
			if !l.Truncated || len(l.Record.Value) != MaxKeptBytes || h[HeaderSize] != "2097157" ||
				h[HeaderSHA256] != hex.EncodeToString(sum[:]) || len(l.Record.Headers) != 1 {
				t.Fatalf("reference letter: truncated %v, %d value bytes, headers %v", l.Truncated, len(l.Record.Value), h)
			}
		}
	}
}

// A reference stays small whatever the original carries: a 2 MB value and a
// 129 kB header make a letter far below the brokers' default limit.
func TestReferenceIsSmallWhateverTheOriginal(t *testing.T) {
	big := &kgo.Record{Topic: "plant.image", Key: bytes.Repeat([]byte{'k'}, 100<<10), Value: bytes.Repeat([]byte{'x'}, 2<<20),
		Headers: []kgo.RecordHeader{{Key: "mesh_path", Value: bytes.Repeat([]byte{'w'}, 129<<10)}}}
	ref, err := Reference(big, Failure{Err: errors.New("too large"), Component: "test", Offset: 7, Partition: 1}, kafkaclient.DefaultMaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	size := len(ref.Key) + len(ref.Value)
	for _, h := range ref.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if ref.Topic != Topic("plant.image") || size > 2*MaxKeptBytes+4<<10 {
		t.Fatalf("reference to %s of %d bytes", ref.Topic, size)
	}
	whole, err := Record(big, Failure{Err: errors.New("x")})
	if err != nil || len(whole.Value) != len(big.Value) || len(whole.Headers) <= len(big.Headers) {
		t.Fatalf("whole letter: %v", err)
	}
	if _, err := Record(&kgo.Record{}, Failure{}); err == nil {
		t.Fatal("a letter without a topic must be refused")
	}
}

// The reference always fits its DLQ topic, however long the reason, the
// source and the original's headers: one oversized message must never
// stop its stream because its dead letter is refused too.
func TestReferenceFitsTheTopicLimit(t *testing.T) {
	const limit = 8 << 10
	ctx := kafkatest.Context(t, 30*time.Second)
	cluster := kafkatest.Cluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	cl := kafkatest.Client(t, cluster)
	limits := kafkaclient.NewLimits()
	limits.Use(cl)
	w := NewWriter(cl, Limits(limits))
	big := &kgo.Record{Topic: "plant.image", Key: bytes.Repeat([]byte{'k'}, 20<<10), Value: bytes.Repeat([]byte{'v'}, 100<<10),
		Headers: []kgo.RecordHeader{{Key: "h", Value: bytes.Repeat([]byte{'h'}, 6<<10)}}}
	f := Failure{Err: errors.New(strings.Repeat("reason ", 10<<10)), Component: "test", Offset: -1, Source: "mqtt://b/" + strings.Repeat("t", 64<<10)}
	if err := w.Write(ctx, big, f); err != nil {
		t.Fatal(err)
	}
	r := kafkatest.Read(t, cluster, Topic("plant.image"), 1, 30*time.Second)[0]
	if n := kafkaclient.RecordBytes(r); n > limit {
		t.Fatalf("reference of %d bytes, over the limit %d", n, limit)
	}
	l, err := Read(r)
	if err != nil || !l.Truncated || len(l.Record.Value) == 0 || !strings.HasPrefix(l.Source, "mqtt://b/t") {
		t.Fatalf("reference %+v %v", l, err)
	}
}
