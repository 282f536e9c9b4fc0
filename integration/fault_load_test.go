package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLoad produces numbered records (value "n=<number>", 11 keys) to a
// topic at a steady rate for a while, counting each record as sent when
// produced and as acknowledged when the cluster acknowledged it (acks=all).
// The producer retries without limit, as an application that must not
// lose a record would, so a record produced while its cluster is down is
// acknowledged when it returns.
type kafkaLoad struct {
	done chan struct{}
	err  error
}

func startKafkaLoad(ctx context.Context, t *testing.T, broker, topic string, perSecond int, d time.Duration, c *tally) *kafkaLoad {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	l := &kafkaLoad{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer cl.Close()
		const tick = 20 * time.Millisecond
		per := max(1, perSecond*int(tick)/int(time.Second))
		tk := time.NewTicker(tick)
		defer tk.Stop()
		end := time.Now().Add(d)
		for time.Now().Before(end) && ctx.Err() == nil {
			<-tk.C
			for range per {
				n := c.send()
				r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", n%11), Value: fmt.Appendf(nil, "n=%d", n)}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err == nil {
						c.ack(n)
					}
				})
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		l.err = cl.Flush(fctx)
	}()
	t.Cleanup(func() { <-l.done })
	return l
}

// wait waits for the load to end and every record to be acknowledged or
// failed.
func (l *kafkaLoad) wait(t *testing.T) {
	t.Helper()
	<-l.done
	if l.err != nil {
		t.Errorf("producing the load: %v (records not acknowledged are counted as sent only)", l.err)
	}
}

// collect reads topic at broker from the start (read_committed) into c
// until every acknowledged record has arrived and two seconds pass with
// nothing new, or until timeout; the report then says what is missing.
// Each record of the log is read once, so what it counts twice is a
// duplicate in the log, not a reader's redelivery.
func collect(ctx context.Context, t *testing.T, broker, topic string, c *tally, timeout time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(timeout)
	quiet := time.Time{}
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			var n int
			if _, err := fmt.Sscanf(string(r.Value), "n=%d", &n); err == nil {
				c.deliver(n)
				got++
			}
		})
		if got > 0 || c.missing() > 0 {
			quiet = time.Time{}
			continue
		}
		if quiet.IsZero() {
			quiet = time.Now()
		} else if time.Since(quiet) > 2*time.Second {
			return
		}
	}
}

// groupWitness runs a sarama consumer group at a site: the reader whose
// interest makes the replicator copy the topic there, and a second,
// independent count of what arrived.
type groupWitness struct {
	mu   sync.Mutex
	seen map[int]bool
}

func startGroupWitness(ctx context.Context, t *testing.T, broker, group, topic string) *groupWitness {
	t.Helper()
	w := &groupWitness{seen: map[int]bool{}}
	msgs := saramaGroup(ctx, t, broker, group, topic)
	go func() {
		for {
			select {
			case m := <-msgs:
				w.add(m)
			case <-ctx.Done():
				return
			}
		}
	}()
	return w
}

func (w *groupWitness) add(m *sarama.ConsumerMessage) {
	var n int
	if _, err := fmt.Sscanf(string(m.Value), "n=%d", &n); err == nil {
		w.mu.Lock()
		w.seen[n] = true
		w.mu.Unlock()
	}
}

// check waits until the group has seen every record the log holds.
func (w *groupWitness) check(t *testing.T, c *tally, timeout time.Duration) {
	t.Helper()
	_, _, delivered, _, _ := c.counts()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		n := len(w.seen)
		w.mu.Unlock()
		if n >= delivered {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the consumer group at the target saw %d distinct records of the %d in the log", n, delivered)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readyzDuring polls a service's /readyz for d and reports how long after
// the start it first answered anything but 200 (or -1 if it never did).
func readyzDuring(url string, d time.Duration) time.Duration {
	start := time.Now()
	cl := &http.Client{Timeout: time.Second}
	for time.Since(start) < d {
		resp, err := cl.Get(url + "/readyz")
		if err != nil {
			return time.Since(start)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return -1
}

// progress waits until topic's end offsets at broker have grown past what
// they were when it was called.
func progress(ctx context.Context, t *testing.T, broker, topic string, timeout time.Duration) {
	t.Helper()
	adm := kadm.NewClient(mustClient(t, broker))
	before, _ := endOffsets(ctx, adm, topic)
	waitFor(t, timeout, "records to arrive at "+broker, func() error {
		if n, _ := endOffsets(ctx, adm, topic); n <= before {
			return fmt.Errorf("end offsets still %d", n)
		}
		return nil
	})
}
