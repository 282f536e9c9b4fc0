package kafkaclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// A topic's own max.message.bytes wins; a topic that sets none, or does
// not exist yet, takes the brokers' message.max.bytes; the producer's batch
// limit follows what was read, and Check refuses what cannot fit.
func TestLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := kafkatest.Cluster(t, kfake.SeedTopics(1, "plain"), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "200000"}))
	cl := kafkatest.Client(t, c)
	if _, err := kafkaclient.EnsureTopic(ctx, cl, kafkaclient.Topic{Name: "small", Partitions: 1,
		Configs: map[string]string{"max.message.bytes": "4096"}}); err != nil {
		t.Fatal(err)
	}
	l := kafkaclient.NewLimits()
	if n := l.BatchMaxBytes("small"); n != kafkaclient.DefaultMaxMessageBytes {
		t.Fatalf("before any client, %d", n)
	}
	l.Use(cl)
	for topic, want := range map[string]int32{"small": 4096, "plain": 200000, "not.yet": 200000} {
		if n := l.MaxBytes(ctx, topic); n != want {
			t.Errorf("MaxBytes(%s) = %d, want %d", topic, n, want)
		}
		if n := l.BatchMaxBytes(topic); n != want {
			t.Errorf("BatchMaxBytes(%s) = %d, want %d", topic, n, want)
		}
	}
	if err := l.Check(ctx, &kgo.Record{Topic: "small", Value: make([]byte, 4096)}); err == nil || !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("Check of a record over the limit: %v", err)
	}
	if err := l.Check(ctx, &kgo.Record{Topic: "small", Value: make([]byte, 3000)}); err != nil {
		t.Fatalf("Check of a record that fits: %v", err)
	}
}
