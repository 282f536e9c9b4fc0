package rest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// IdempotencyTopic keeps the answers of produce requests sent with an
// Idempotency-Key, keyed by site, principal and key, for the configured
// window (compacted, and deleted after twice the window).
const IdempotencyTopic = "_mesh.rest.idempotency"

// idemProducers is how many keyed requests run at once per replica: each
// needs a transactional producer of its own.
const idemProducers = 4

// idempotency makes a request sent again with the same Idempotency-Key
// (a client retrying after a timeout, say) get the first answer again
// while nothing is written twice. A keyed request's records and its
// answer are written in one Kafka transaction: either both are in Kafka or
// neither is, also when the adapter dies half-way (the transaction is then
// aborted when the replica's transactional id is next initialised, at its
// restart). Every replica follows the topic, so a retry that reaches
// another replica, or a restarted one, finds the answer too. Consumers
// that read read_committed (the mesh's replicator, most Java clients) see
// the records once; a read_uncommitted consumer may see those of an
// aborted attempt.
type idempotency struct {
	a        *Adapter
	window   time.Duration
	pool     chan *txProducer
	all      []*txProducer
	follower *kgo.Client
	trouble  *adapters.Trouble

	mu       sync.Mutex
	entries  map[string]idemEntry
	inflight map[string]bool
}

// idemEntry is a stored answer.
type idemEntry struct {
	Hash        string    `json:"hash"`
	Status      int       `json:"status"`
	ContentType string    `json:"content_type"`
	Body        []byte    `json:"body"`
	Expires     time.Time `json:"expires"`
}

// maxIdemEntries bounds the answers kept in memory; the oldest expire
// first (they are dropped when the window ends anyway).
const maxIdemEntries = 200000

// txProducer is one transactional producer; a keyed request holds it for
// its transaction.
type txProducer struct {
	cl     *kgo.Client
	limits *kafkaclient.Limits
	failed bool
}

func newIdempotency(a *Adapter) *idempotency {
	return &idempotency{a: a, window: a.cfg.Idempotency.Window, pool: make(chan *txProducer, idemProducers),
		trouble: adapters.NewTrouble(a.cfg.NotReadyAfter), entries: map[string]idemEntry{}, inflight: map[string]bool{}}
}

// instance names this replica in transactional ids: its configured
// instance_id, else the host name and listen address.
func (a *Adapter) instance() string {
	if a.cfg.InstanceID != "" {
		return a.cfg.InstanceID
	}
	host, _ := os.Hostname()
	return adapters.SanitizeTopic(host + "-" + a.cfg.Listen)
}

func (i *idempotency) start(ctx, work context.Context, wg *sync.WaitGroup) error {
	cfg := i.a.cfg
	retention := fmt.Sprint((2 * i.window).Milliseconds())
	if _, err := kafkaclient.EnsureTopic(ctx, i.a.sys, kafkaclient.Topic{Name: i.a.cfg.Idempotency.Topic, Partitions: 1,
		Configs: map[string]string{"cleanup.policy": "compact,delete", "retention.ms": retention}}); err != nil {
		return fmt.Errorf("idempotency: %s: %w", i.a.cfg.Idempotency.Topic, err)
	}
	var err error
	if i.follower, err = kafkaclient.New(cfg.Kafka, "rest", cfg.Site, append(kafkaclient.FollowOptions(i.a.cfg.Idempotency.Topic), i.a.extra...)...); err != nil {
		return err
	}
	if err := kafkaclient.ReadToEnd(ctx, i.follower, i.a.cfg.Idempotency.Topic, i.apply); err != nil {
		return fmt.Errorf("idempotency: reading %s: %w", i.a.cfg.Idempotency.Topic, err)
	}
	for n := range idemProducers {
		id := fmt.Sprintf("meshwork-rest-%s-%s-%d", cfg.Site, i.a.instance(), n)
		cl, err := kafkaclient.New(cfg.Kafka, "rest", cfg.Site, append([]kgo.Opt{
			kgo.TransactionalID(id), kgo.TransactionTimeout(cfg.ProduceTimeout + 30*time.Second),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytesFn(i.a.limits.BatchMaxBytes),
		}, i.a.extra...)...)
		if err != nil {
			return err
		}
		tx := &txProducer{cl: cl, limits: i.a.limits}
		i.all = append(i.all, tx)
		// Initialising the id now fences an earlier holder (this replica
		// before a crash) and aborts its open transaction.
		if _, _, err := cl.ProducerID(ctx); err != nil {
			return fmt.Errorf("idempotency: transactional id %s: %w", id, err)
		}
		i.pool <- tx
	}
	wg.Go(func() { kafkaclient.Follow(work, i.follower, i.a.cfg.Idempotency.Topic, i.a.log, i.apply, func() {}) })
	return nil
}

func (i *idempotency) apply(recs []*kgo.Record) {
	now := time.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, r := range recs {
		if r.Value == nil {
			delete(i.entries, string(r.Key))
			continue
		}
		var e idemEntry
		if json.Unmarshal(r.Value, &e) != nil || e.Expires.Before(now) {
			continue
		}
		i.put(string(r.Key), e)
	}
}

// put stores an entry, dropping expired ones when the map is full.
func (i *idempotency) put(k string, e idemEntry) {
	if len(i.entries) >= maxIdemEntries {
		now := time.Now()
		for key, old := range i.entries {
			if old.Expires.Before(now) {
				delete(i.entries, key)
			}
		}
		if len(i.entries) >= maxIdemEntries {
			clear(i.entries)
		}
	}
	i.entries[k] = e
}

func (i *idempotency) ready() error { return i.trouble.Err("kafka: idempotent produces") }

func (i *idempotency) close() {
	for _, tx := range i.all {
		tx.cl.Close()
	}
	if i.follower != nil {
		i.follower.Close()
	}
}

// produce writes recs in the producer's open transaction and waits for
// them; a failure dooms the transaction.
func (t *txProducer) produce(ctx context.Context, recs []*kgo.Record) []produced {
	out := make([]produced, len(recs))
	var wg sync.WaitGroup
	for n, r := range recs {
		if err := t.limits.Check(ctx, r); err != nil {
			out[n].Err, t.failed = err, true
			continue
		}
		wg.Add(1)
		t.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				out[n].Err = err
				return
			}
			out[n] = produced{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
		})
	}
	wg.Wait()
	for _, o := range out {
		if o.Err != nil {
			t.failed = true
		}
	}
	return out
}

// idempotent runs a produce request: plainly, or with an Idempotency-Key
// as one transaction whose answer is stored with its records, answering a
// repeated key with the stored answer.
func (a *Adapter) idempotent(w http.ResponseWriter, r *http.Request, body []byte, fn func(context.Context, *txProducer) (int, any, error), contentType string) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || a.idem == nil {
		status, resp, err := fn(r.Context(), nil)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, contentType, resp)
		return
	}
	status, ct, out, replayed, err := a.idem.run(r, key, body, fn, contentType)
	if err != nil {
		writeError(w, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (i *idempotency) run(r *http.Request, key string, body []byte, fn func(context.Context, *txProducer) (int, any, error), contentType string) (int, string, []byte, bool, error) {
	if len(key) > 255 {
		return 0, "", nil, false, errorf(http.StatusBadRequest, CodeBadRequest, "Idempotency-Key is %d bytes long; at most 255.", len(key))
	}
	id := i.a.cfg.Site + "/" + principalOf(r).Name + "/" + key
	sum := sha256.New()
	fmt.Fprintf(sum, "%s %s\n%s\n", r.Method, r.URL.Path, mediaType(r))
	sum.Write(body)
	hash := hex.EncodeToString(sum.Sum(nil))
	i.mu.Lock()
	e, found := i.entries[id]
	if found && e.Expires.Before(time.Now()) {
		delete(i.entries, id)
		found = false
	}
	busy := i.inflight[id]
	if !found && !busy {
		i.inflight[id] = true
	}
	i.mu.Unlock()
	switch {
	case found && e.Hash != hash:
		return 0, "", nil, false, errorf(http.StatusUnprocessableEntity, CodeIdempotencyReuse,
			"Idempotency-Key %q was used for another request within the last %s: use a new key for a new request.", key, i.window)
	case found:
		return e.Status, e.ContentType, e.Body, true, nil
	case busy:
		return 0, "", nil, false, &apiError{Status: http.StatusConflict, Code: CodeIdempotencyBusy, RetryAfter: time.Second,
			Message: fmt.Sprintf("A request with Idempotency-Key %q is in progress: retry after it was answered.", key)}
	}
	defer func() {
		i.mu.Lock()
		delete(i.inflight, id)
		i.mu.Unlock()
	}()
	var tx *txProducer
	select {
	case tx = <-i.pool:
	case <-time.After(i.a.cfg.ProduceTimeout):
		return 0, "", nil, false, &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests, RetryAfter: i.a.cfg.RetryAfter,
			Message: "Too many Idempotency-Key requests in progress: retry after the time in Retry-After."}
	case <-r.Context().Done():
		return 0, "", nil, false, r.Context().Err()
	}
	defer func() { i.pool <- tx }()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), i.a.cfg.ProduceTimeout)
	defer cancel()
	tx.failed = false
	if err := tx.cl.BeginTransaction(); err != nil {
		return 0, "", nil, false, kafkaUnavailable(err)
	}
	status, resp, err := fn(ctx, tx)
	abort := func(cause error) (int, string, []byte, bool, error) {
		if aerr := tx.cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			i.a.log.Warn("idempotency: abort failed", "error", aerr)
		}
		return 0, "", nil, false, cause
	}
	if err != nil {
		return abort(err)
	}
	if tx.failed {
		i.trouble.Failed(errors.New("a record of a transaction was refused"))
		return abort(&apiError{Status: http.StatusServiceUnavailable, Code: CodeKafkaRetriable, RetryAfter: i.a.cfg.RetryAfter,
			Message: "Kafka did not take every record of the request, so none was written: retry with the same Idempotency-Key."})
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return abort(err)
	}
	out = append(out, '\n')
	entry := idemEntry{Hash: hash, Status: status, ContentType: contentType, Body: out, Expires: time.Now().Add(i.window)}
	val, _ := json.Marshal(entry)
	if res := tx.produce(ctx, []*kgo.Record{{Topic: i.a.cfg.Idempotency.Topic, Partition: 0, Key: []byte(id), Value: val}}); res[0].Err != nil {
		return abort(kafkaUnavailable(res[0].Err))
	}
	if err := tx.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		i.trouble.Failed(err)
		return abort(&apiError{Status: http.StatusServiceUnavailable, Code: CodeKafkaRetriable, RetryAfter: i.a.cfg.RetryAfter,
			Message: fmt.Sprintf("Kafka did not commit the request's transaction (%v), so nothing was written: retry with the same Idempotency-Key.", err)})
	}
	i.trouble.Succeeded()
	i.mu.Lock()
	i.put(id, entry)
	i.mu.Unlock()
	return status, contentType, out, false, nil
}
