package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// consumers holds the REST Proxy v2 consumer instances of this replica. An
// instance is a Kafka consumer group member that lives here: its base_uri
// names this replica (base_url), and requests for it must come here (a
// load balancer in front of several replicas needs affinity on the
// instance path, as with REST Proxy). Instances nobody used for
// consumers.idle_timeout are deleted, leaving their group.
type consumers struct {
	a  *Adapter
	mu sync.Mutex
	by map[string]*consumer // group/name
}

type consumer struct {
	mu         sync.Mutex // one request at a time
	group      string
	name       string
	format     string
	reset      string
	autoCommit bool
	timeout    time.Duration
	cl         *kgo.Client // nil until subscribed or assigned
	topics     []string
	pattern    string
	lastUsed   time.Time
	// manual holds, for an instance given partitions by hand
	// (POST .../assignments), the next offset to hand out of each; nil
	// otherwise. uncommitted names those handed out since the last
	// commit.
	manual      map[topicPartition]int64
	uncommitted map[topicPartition]bool
	// assigned is what the group gave a subscribed instance, kept by the
	// rebalance callbacks, which run outside requests: amu, not mu.
	amu      sync.Mutex
	assigned map[topicPartition]bool
}

func (a *Adapter) consumerRoutes(mux *http.ServeMux) {
	c := &consumers{a: a, by: map[string]*consumer{}}
	a.consumers = c
	mux.HandleFunc("POST /consumers/{group}", c.handleCreate)
	mux.HandleFunc("DELETE /consumers/{group}/instances/{name}", c.handleDelete)
	mux.HandleFunc("POST /consumers/{group}/instances/{name}/subscription", c.handleSubscribe)
	mux.HandleFunc("GET /consumers/{group}/instances/{name}/subscription", c.handleSubscription)
	mux.HandleFunc("DELETE /consumers/{group}/instances/{name}/subscription", c.handleUnsubscribe)
	mux.HandleFunc("GET /consumers/{group}/instances/{name}/records", c.handleRecords)
	mux.HandleFunc("POST /consumers/{group}/instances/{name}/offsets", c.handleCommit)
	mux.HandleFunc("GET /consumers/{group}/instances/{name}/offsets", c.handleCommitted)
	mux.HandleFunc("GET /consumers/{group}/instances/{name}/assignments", c.handleAssignments)
	mux.HandleFunc("POST /consumers/{group}/instances/{name}/assignments", c.handleAssign)
	mux.HandleFunc("POST /consumers/{group}/instances/{name}/positions", c.handleSeek)
	mux.HandleFunc("POST /consumers/{group}/instances/{name}/positions/beginning", c.handleSeekEdge(false))
	mux.HandleFunc("POST /consumers/{group}/instances/{name}/positions/end", c.handleSeekEdge(true))
}

type createConsumer struct {
	Name             string  `json:"name"`
	Format           string  `json:"format"`
	AutoOffsetReset  string  `json:"auto.offset.reset"`
	AutoCommitEnable *string `json:"auto.commit.enable"`
	FetchMinBytes    *string `json:"fetch.min.bytes"`
	RequestTimeoutMs *string `json:"consumer.request.timeout.ms"`
}

// validGroup is what a consumer group or instance name may hold.
var validGroup = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

func (c *consumers) handleCreate(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	if !validGroup.MatchString(group) {
		writeError(w, errorf(http.StatusUnprocessableEntity, CodeInvalidConsumer, "Invalid consumer configuration: group %q: use letters, digits, '.', '_' and '-'.", group))
		return
	}
	body, err := readBody(w, r, 64<<10, c.a.cfg.ReadTimeout)
	if err != nil {
		writeError(w, err)
		return
	}
	var req createConsumer
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	cs := &consumer{group: group, name: req.Name, format: strings.ToLower(req.Format), reset: req.AutoOffsetReset, autoCommit: true, timeout: time.Second, lastUsed: time.Now()}
	if cs.name == "" {
		cs.name = "rest-consumer-" + envelope.NewID()
	}
	if cs.format == "" {
		cs.format = formatBinary
	}
	var problems []string
	if !validGroup.MatchString(cs.name) {
		problems = append(problems, fmt.Sprintf("name %q: use letters, digits, '.', '_' and '-'", cs.name))
	}
	switch cs.format {
	case formatBinary, formatJSON:
	case formatAvro:
		if c.a.schemas == nil {
			problems = append(problems, "format avro needs a schema registry (registry.url)")
		}
	default:
		problems = append(problems, fmt.Sprintf("format %q: want binary, json or avro", req.Format))
	}
	switch cs.reset {
	case "", "latest", "earliest":
	default:
		problems = append(problems, fmt.Sprintf("auto.offset.reset %q: want earliest or latest", cs.reset))
	}
	if req.AutoCommitEnable != nil {
		v, err := strconv.ParseBool(*req.AutoCommitEnable)
		if err != nil {
			problems = append(problems, fmt.Sprintf("auto.commit.enable %q: want true or false", *req.AutoCommitEnable))
		}
		cs.autoCommit = v
	}
	if req.RequestTimeoutMs != nil {
		ms, err := strconv.Atoi(*req.RequestTimeoutMs)
		if err != nil || ms < 0 || ms > 300000 {
			problems = append(problems, fmt.Sprintf("consumer.request.timeout.ms %q: want 0 to 300000", *req.RequestTimeoutMs))
		}
		cs.timeout = time.Duration(ms) * time.Millisecond
	}
	if len(problems) > 0 {
		writeError(w, errorf(http.StatusUnprocessableEntity, CodeInvalidConsumer, "Invalid consumer configuration: %s.", strings.Join(problems, "; ")))
		return
	}
	c.mu.Lock()
	key := group + "/" + cs.name
	_, exists := c.by[key]
	full := c.a.cfg.Consumers.MaxInstances > 0 && len(c.by) >= c.a.cfg.Consumers.MaxInstances
	if !exists && !full {
		c.by[key] = cs
	}
	c.mu.Unlock()
	switch {
	case exists:
		writeError(w, errorf(http.StatusConflict, CodeConsumerExists, "Consumer with specified consumer ID already exists in the specified consumer group."))
		return
	case full:
		writeError(w, &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests, RetryAfter: c.a.cfg.Consumers.IdleTimeout,
			Message: fmt.Sprintf("This replica holds its limit of %d consumer instances: delete unused ones.", c.a.cfg.Consumers.MaxInstances)})
		return
	}
	writeJSON(w, http.StatusOK, contentTypeV2, map[string]string{"instance_id": cs.name,
		"base_uri": c.a.baseURL(r) + "/consumers/" + group + "/instances/" + cs.name})
}

// get returns the instance of the request, or answers 40403.
func (c *consumers) get(w http.ResponseWriter, r *http.Request) *consumer {
	c.mu.Lock()
	cs := c.by[r.PathValue("group")+"/"+r.PathValue("name")]
	c.mu.Unlock()
	if cs == nil {
		writeError(w, errorf(http.StatusNotFound, CodeConsumerNotFound, "Consumer instance not found: it was deleted, expired after %s idle, or lives in another replica (its base_uri says which).", c.a.cfg.Consumers.IdleTimeout))
		return nil
	}
	cs.mu.Lock()
	cs.lastUsed = time.Now()
	return cs
}

// getWithBody returns the request's instance, locked, and the request's
// body (at most max bytes); nil when it answered instead (404, 408, 413).
func (c *consumers) getWithBody(w http.ResponseWriter, r *http.Request, max int64) (*consumer, []byte) {
	cs := c.get(w, r)
	if cs == nil {
		return nil, nil
	}
	body, err := readBody(w, r, max, c.a.cfg.ReadTimeout)
	if err != nil {
		cs.mu.Unlock()
		writeError(w, err)
		return nil, nil
	}
	return cs, body
}

func (c *consumers) handleDelete(w http.ResponseWriter, r *http.Request) {
	cs := c.get(w, r)
	if cs == nil {
		return
	}
	c.mu.Lock()
	delete(c.by, cs.group+"/"+cs.name)
	c.mu.Unlock()
	c.close(cs)
	cs.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// close commits what the instance handed out (with auto.commit.enable),
// leaves its group and closes its client; cs.mu is held.
func (c *consumers) close(cs *consumer) {
	if cs.cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cs.manual != nil {
		c.commitRead(ctx, cs)
	} else {
		if cs.autoCommit {
			_ = cs.cl.CommitUncommittedOffsets(ctx)
		}
		cs.cl.LeaveGroupContext(ctx)
	}
	cs.cl.Close()
	cs.cl, cs.manual, cs.uncommitted = nil, nil, nil
	cs.amu.Lock()
	cs.assigned = nil
	cs.amu.Unlock()
}

func (c *consumers) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	cs, body := c.getWithBody(w, r, 64<<10)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	var req struct {
		Topics       []string `json:"topics"`
		TopicPattern string   `json:"topic_pattern"`
	}
	if err := decodeJSON(body, &req); err != nil {
		writeError(w, err)
		return
	}
	if (len(req.Topics) == 0) == (req.TopicPattern == "") {
		writeError(w, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: give topics or topic_pattern, one of them."))
		return
	}
	for _, t := range req.Topics {
		if strings.HasPrefix(t, "_") {
			writeError(w, errorf(http.StatusForbidden, CodeForbidden, "Topic %q belongs to the mesh, the registry or Kafka itself.", t))
			return
		}
		if err := c.a.authorize(r, ActionConsume, t); err != nil {
			writeError(w, err)
			return
		}
	}
	if req.TopicPattern != "" {
		if _, err := regexp.Compile(req.TopicPattern); err != nil {
			writeError(w, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "topic_pattern is not a valid regular expression: %v", err))
			return
		}
		if err := c.a.authorize(r, ActionConsume, "*"); err != nil {
			writeError(w, err)
			return
		}
	}
	if cs.manual != nil {
		writeError(w, illegalState("Subscription to topics, partitions and pattern are mutually exclusive: the instance reads partitions assigned by hand; delete the subscription (which ends the assignment) first."))
		return
	}
	if cs.cl != nil {
		writeError(w, errorf(http.StatusConflict, CodeAlreadySubscribed, "Consumer cannot subscribe the the specified target because it has already subscribed to other topics."))
		return
	}
	opts := []kgo.Opt{kgo.ConsumerGroup(cs.group), kgo.FetchMaxWait(500 * time.Millisecond), kgo.ClientID("meshwork-rest-" + c.a.cfg.Site + "-" + cs.name)}
	if req.TopicPattern != "" {
		opts = append(opts, kgo.ConsumeTopics(req.TopicPattern), kgo.ConsumeRegex())
	} else {
		opts = append(opts, kgo.ConsumeTopics(req.Topics...))
	}
	if cs.reset == "earliest" {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	}
	if !cs.autoCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	opts = append(opts, c.groupHooks(cs)...)
	cl, err := kafkaclient.New(c.a.cfg.Kafka, "rest", c.a.cfg.Site, append(opts, c.a.extra...)...)
	if err != nil {
		writeError(w, err)
		return
	}
	cs.cl, cs.topics, cs.pattern = cl, req.Topics, req.TopicPattern
	w.WriteHeader(http.StatusNoContent)
}

func (c *consumers) handleSubscription(w http.ResponseWriter, r *http.Request) {
	cs := c.get(w, r)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	out := map[string]any{"topics": append([]string{}, cs.topics...)}
	if cs.pattern != "" {
		out["topic_pattern"] = cs.pattern
	}
	writeJSON(w, http.StatusOK, contentTypeV2, out)
}

func (c *consumers) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	cs := c.get(w, r)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	c.close(cs)
	cs.topics, cs.pattern = nil, ""
	w.WriteHeader(http.StatusNoContent)
}

// v2Consumed is one record a consumer read.
type v2Consumed struct {
	Topic     string          `json:"topic"`
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
}

// handleRecords serves GET .../records: what the instance's group member
// fetches within the timeout (the query's timeout, at most
// consumer.request.timeout.ms), at most max_bytes of keys and values.
func (c *consumers) handleRecords(w http.ResponseWriter, r *http.Request) {
	cs := c.get(w, r)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, "*/*") && !strings.Contains(accept, "vnd.kafka."+cs.format+".v2") && !strings.Contains(accept, "application/json") {
		writeError(w, errorf(http.StatusNotAcceptable, CodeConsumerFormat, "The requested embedded data format does not match the deserializer for this consumer instance (%s): accept application/vnd.kafka.%s.v2+json.", cs.format, cs.format))
		return
	}
	if cs.cl == nil {
		writeError(w, illegalState("the consumer instance is not subscribed to any topic and has no partitions assigned."))
		return
	}
	if cs.manual != nil {
		// Records handed out before are taken now, as the Java
		// consumer's auto-commit at its next poll.
		c.commitRead(r.Context(), cs)
	}
	timeout := cs.timeout
	if t := r.URL.Query().Get("timeout"); t != "" {
		if ms, err := strconv.Atoi(t); err == nil && ms >= 0 && time.Duration(ms)*time.Millisecond < timeout {
			timeout = time.Duration(ms) * time.Millisecond
		}
	}
	maxBytes := int64(64 << 20)
	if mb := r.URL.Query().Get("max_bytes"); mb != "" {
		if n, err := strconv.ParseInt(mb, 10, 64); err == nil && n > 0 && n < maxBytes {
			maxBytes = n
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	fs := cs.cl.PollRecords(ctx, 10000)
	out := []v2Consumed{}
	var size int64
	var unsent []*kgo.Record
	fs.EachRecord(func(rec *kgo.Record) {
		if size >= maxBytes {
			unsent = append(unsent, rec)
			return
		}
		k, v, err := c.render(r.Context(), cs.format, rec)
		if err != nil {
			unsent = append(unsent, rec)
			return
		}
		size += int64(len(rec.Key) + len(rec.Value))
		out = append(out, v2Consumed{Topic: rec.Topic, Key: k, Value: v, Partition: rec.Partition, Offset: rec.Offset})
		if cs.manual != nil {
			tp := topicPartition{rec.Topic, rec.Partition}
			cs.manual[tp] = rec.Offset + 1
			if cs.uncommitted == nil {
				cs.uncommitted = map[topicPartition]bool{}
			}
			cs.uncommitted[tp] = true
		}
	})
	if len(unsent) > 0 {
		// Read again next time: the group's position goes back to the
		// first record not handed out.
		first := map[string]map[int32]kgo.EpochOffset{}
		for _, rec := range unsent {
			if first[rec.Topic] == nil {
				first[rec.Topic] = map[int32]kgo.EpochOffset{}
			}
			if _, ok := first[rec.Topic][rec.Partition]; !ok {
				first[rec.Topic][rec.Partition] = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset}
			}
		}
		cs.cl.SetOffsets(first)
	}
	writeJSON(w, http.StatusOK, "application/vnd.kafka."+cs.format+".v2+json", out)
}

// render gives a record's key and value in the instance's format.
func (c *consumers) render(ctx context.Context, format string, rec *kgo.Record) (json.RawMessage, json.RawMessage, error) {
	one := func(b []byte) (json.RawMessage, error) {
		if b == nil {
			return json.RawMessage("null"), nil
		}
		switch format {
		case formatJSON:
			if json.Valid(b) {
				return b, nil
			}
			s, _ := json.Marshal(string(b))
			return s, nil
		case formatAvro:
			doc, _, err := c.a.schemas.values.DecodeJSON(ctx, b)
			return doc, err
		}
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
		return s, nil
	}
	k, err := one(rec.Key)
	if err != nil {
		return nil, nil, err
	}
	v, err := one(rec.Value)
	return k, v, err
}

type offsetRef struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata,omitempty"`
}

// handleCommit serves POST .../offsets: with offsets, commits each
// consumed offset (the next read starts after it, as with REST Proxy);
// without, commits everything the instance has read.
func (c *consumers) handleCommit(w http.ResponseWriter, r *http.Request) {
	cs, body := c.getWithBody(w, r, 1<<20)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	if cs.cl == nil {
		writeError(w, illegalState("the consumer instance is not subscribed to any topic and has no partitions assigned."))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	var req struct {
		Offsets []offsetRef `json:"offsets"`
	}
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	if cs.manual != nil {
		c.commitManual(ctx, w, cs, req.Offsets)
		return
	}
	if len(req.Offsets) == 0 {
		if err := cs.cl.CommitUncommittedOffsets(ctx); err != nil {
			writeError(w, kafkaUnavailable(err))
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	next := map[topicPartition]int64{}
	for _, o := range req.Offsets {
		next[topicPartition{o.Topic, o.Partition}] = o.Offset + 1
	}
	var cerr error
	cs.cl.CommitOffsetsSync(ctx, epochOffsets(next), func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		writeError(w, kafkaUnavailable(cerr))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleCommitted serves GET .../offsets: the group's committed offsets of
// the partitions named in the body.
func (c *consumers) handleCommitted(w http.ResponseWriter, r *http.Request) {
	cs, body := c.getWithBody(w, r, 1<<20)
	if cs == nil {
		return
	}
	defer cs.mu.Unlock()
	var req struct {
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		} `json:"partitions"`
	}
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			writeError(w, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	committed, err := c.committed(ctx, cs.group)
	if err != nil {
		writeError(w, err)
		return
	}
	// The committed offset as Kafka keeps it, the next to read (one past
	// what POST .../offsets named), as REST Proxy answers it.
	out := []offsetRef{}
	for _, p := range req.Partitions {
		if o, ok := committed.Lookup(p.Topic, p.Partition); ok {
			out = append(out, offsetRef{Topic: p.Topic, Partition: p.Partition, Offset: o.At, Metadata: o.Metadata})
		}
	}
	writeJSON(w, http.StatusOK, contentTypeV2, map[string]any{"offsets": out})
}

// expire deletes the instances idle for longer than the idle timeout,
// until ctx ends; then every instance.
func (c *consumers) expire(ctx context.Context) {
	tick := time.NewTicker(min(c.a.cfg.Consumers.IdleTimeout/2, 10*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			c.mu.Lock()
			all := c.by
			c.by = map[string]*consumer{}
			c.mu.Unlock()
			for _, cs := range all {
				cs.mu.Lock()
				c.close(cs)
				cs.mu.Unlock()
			}
			return
		}
		c.mu.Lock()
		var idle []*consumer
		for k, cs := range c.by {
			if cs.mu.TryLock() {
				if time.Since(cs.lastUsed) > c.a.cfg.Consumers.IdleTimeout {
					delete(c.by, k)
					idle = append(idle, cs)
					continue
				}
				cs.mu.Unlock()
			}
		}
		c.mu.Unlock()
		for _, cs := range idle {
			c.close(cs)
			cs.mu.Unlock()
		}
	}
}
