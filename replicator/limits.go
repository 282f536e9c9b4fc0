package replicator

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// maxProduceBytes bounds any topic's limit as the flows use it: the
// producer never writes a request larger than franz-go's
// BrokerMaxWriteBytes (100 MiB), less the request's own overhead.
const maxProduceBytes = 100<<20 - 16<<10

// recordLimits are the max.message.bytes of the topics a flow writes at
// this site, as they were when the flow took them: its producer cuts its
// batches of each topic at that size (ProducerBatchMaxBytesFn, which
// franz-go asks once per partition, so a flow's limits never change while
// it runs), and the flow dead-letters a record larger than that instead of
// writing it. A topic's limit changed at the site applies to the flows
// that start after the change; a limit lowered under a running flow makes
// the brokers refuse a batch, and the flow starts again with the new one.
type recordLimits struct {
	mu sync.Mutex
	m  map[string]int32
}

func newRecordLimits() *recordLimits { return &recordLimits{m: map[string]int32{}} }

// get returns topic's limit: the one looked up, or a little under the
// brokers' default for a topic not looked up (franz-go asks for "" when the client starts).
func (l *recordLimits) get(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.m[topic]; ok {
		return n
	}
	return kafkaclient.DefaultMaxMessageBytes
}

// lookup reads the limits of those of topics it does not know yet, at adm's
// cluster.
func (l *recordLimits) lookup(ctx context.Context, adm *kadm.Client, topics ...string) error {
	var missing []string
	l.mu.Lock()
	for _, t := range topics {
		if _, ok := l.m[t]; !ok {
			missing = append(missing, t)
		}
	}
	l.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	got, err := maxMessageBytes(ctx, adm, missing...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for t, n := range got {
		l.m[t] = n
	}
	return nil
}

// maxMessageBytes returns the max.message.bytes in force for each of topics
// at adm's cluster: the topic's own, or the brokers' (Kafka describes both),
// bounded by maxProduceBytes.
func maxMessageBytes(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]int32, error) {
	got, err := kafkaclient.DescribeMaxMessageBytes(ctx, adm, topics...)
	if err != nil {
		return nil, fmt.Errorf("at this site: %w", err)
	}
	out := make(map[string]int32, len(topics))
	for _, t := range topics {
		n := int64(kafkaclient.DefaultMaxMessageBytes)
		if l, ok := got[t]; ok {
			n = l.Bytes
		}
		out[t] = int32(min(n, maxProduceBytes))
	}
	return out, nil
}
