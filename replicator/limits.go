package replicator

import (
	"context"
	"fmt"
	"strconv"
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
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("reading max.message.bytes of %d topics here: %w", len(topics), err)
	}
	out := make(map[string]int32, len(topics))
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("reading max.message.bytes of %s here: %w", rc.Name, rc.Err)
		}
		n := int64(kafkaclient.DefaultMaxMessageBytes)
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			v, err := strconv.ParseInt(*c.Value, 10, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("max.message.bytes of %s here is %q, not a positive number", rc.Name, *c.Value)
			}
			n = v
		}
		out[rc.Name] = int32(min(n, maxProduceBytes))
	}
	for _, t := range topics {
		if _, ok := out[t]; !ok {
			return nil, fmt.Errorf("reading max.message.bytes of %s here: no answer", t)
		}
	}
	return out, nil
}
