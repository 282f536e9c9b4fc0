package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/registry/serde"
)

// v3Record is one record of a REST Proxy v3 produce request.
type v3Record struct {
	PartitionID *int32     `json:"partition_id"`
	Headers     []v3Header `json:"headers"`
	Key         *v3Data    `json:"key"`
	Value       *v3Data    `json:"value"`
	Timestamp   *time.Time `json:"timestamp"`
}

type v3Header struct {
	Name  string  `json:"name"`
	Value *string `json:"value"` // base64
}

// v3Data is a key or a value: its type (BINARY, JSON, STRING, AVRO) and
// data, with the schema for AVRO given by id, by text, or by subject and
// version.
type v3Data struct {
	Type          string          `json:"type"`
	Data          json.RawMessage `json:"data"`
	SchemaID      *int            `json:"schema_id"`
	Schema        *string         `json:"schema"`
	Subject       *string         `json:"subject"`
	SchemaVersion *int            `json:"schema_version"`
}

// v3Result answers one record: error_code 200 and where it was written,
// or an error code and message.
type v3Result struct {
	ErrorCode   int         `json:"error_code"`
	Message     string      `json:"message,omitempty"`
	ClusterID   string      `json:"cluster_id,omitempty"`
	TopicName   string      `json:"topic_name,omitempty"`
	PartitionID *int32      `json:"partition_id,omitempty"`
	Offset      *int64      `json:"offset,omitempty"`
	Timestamp   *time.Time  `json:"timestamp,omitempty"`
	Key         *v3DataInfo `json:"key,omitempty"`
	Value       *v3DataInfo `json:"value,omitempty"`
	status      int
}

type v3DataInfo struct {
	Type               string `json:"type"`
	Size               int    `json:"size"`
	SchemaID           *int   `json:"schema_id,omitempty"`
	SubjectNameStrateg string `json:"-"`
}

// clusterID returns the Kafka cluster's id, asking Kafka once.
func (a *Adapter) clusterID(ctx context.Context) (string, error) {
	if id := a.cluster.Load(); id != nil {
		return *id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := a.adm.BrokerMetadata(ctx)
	if err != nil {
		return "", kafkaUnavailable(err)
	}
	a.cluster.Store(&m.Cluster)
	return m.Cluster, nil
}

func (a *Adapter) checkCluster(r *http.Request) (string, error) {
	id, err := a.clusterID(r.Context())
	if err != nil {
		return "", err
	}
	if c := r.PathValue("cluster"); c != "" && c != id {
		return "", errorf(http.StatusNotFound, CodeNotFound, "Cluster %s not found: this adapter serves cluster %s (GET /v3/clusters).", c, id)
	}
	return id, nil
}

type v3Cluster struct {
	Kind      string         `json:"kind"`
	Metadata  v3Meta         `json:"metadata"`
	ClusterID string         `json:"cluster_id"`
	Topics    v3Related      `json:"topics"`
	Brokers   v3Related      `json:"brokers"`
	Extra     map[string]any `json:"-"`
}

type v3Meta struct {
	Self         string  `json:"self"`
	ResourceName string  `json:"resource_name,omitempty"`
	Next         *string `json:"next,omitempty"`
}

type v3Related struct {
	Related string `json:"related"`
}

// handleClusters serves GET /v3/clusters and GET /v3/clusters/{cluster}.
func (a *Adapter) handleClusters(w http.ResponseWriter, r *http.Request) {
	id, err := a.checkCluster(r)
	if err != nil {
		writeErrorV3(w, err)
		return
	}
	base := a.baseURL(r) + "/v3/clusters/" + id
	c := v3Cluster{Kind: "KafkaCluster", ClusterID: id, Metadata: v3Meta{Self: base, ResourceName: "crn:///kafka=" + id},
		Topics: v3Related{Related: base + "/topics"}, Brokers: v3Related{Related: base + "/brokers"}}
	if r.PathValue("cluster") != "" {
		writeJSON(w, http.StatusOK, contentTypeJSON, c)
		return
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, map[string]any{
		"kind": "KafkaClusterList", "metadata": v3Meta{Self: a.baseURL(r) + "/v3/clusters"}, "data": []v3Cluster{c},
	})
}

// baseURL is where clients reach this replica.
func (a *Adapter) baseURL(r *http.Request) string {
	if a.cfg.BaseURL != "" {
		return strings.TrimRight(a.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeErrorV3(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(ae.RetryAfter))
	}
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, CodeInternal, "Internal error: %v", err)
	}
	writeJSON(w, ae.Status, contentTypeJSON, ae)
}

// handleV3Produce serves POST /v3/clusters/{cluster}/topics/{topic}/records:
// one record, or a stream of records (JSON objects one after another in a
// body the client may still be sending), each answered by one JSON object,
// in order, as soon as Kafka acknowledged it and those before it. The
// HTTP status is the first answer's; later records' outcomes are in their
// objects' error_code.
func (a *Adapter) handleV3Produce(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	cluster, err := a.checkCluster(r)
	if err != nil {
		writeErrorV3(w, err)
		return
	}
	if mt := mediaType(r); mt != contentTypeJSON && mt != "" {
		writeErrorV3(w, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Unsupported media type %q: send application/json.", r.Header.Get("Content-Type")))
		return
	}
	if err := a.authorize(r, ActionProduce, topic); err != nil {
		writeErrorV3(w, err)
		return
	}
	partitions, err := a.prod.checkTopic(r.Context(), topic)
	if err != nil {
		writeErrorV3(w, err)
		return
	}
	if r.Header.Get("Idempotency-Key") != "" && a.idem != nil {
		// A keyed request is one unit: read it whole, answer it whole.
		body, err := readBody(w, r, a.cfg.MaxBodyBytes, a.cfg.ReadTimeout)
		if err != nil {
			writeErrorV3(w, err)
			return
		}
		a.idempotent(w, r, body, func(ctx context.Context, tx *txProducer) (int, any, error) {
			return a.v3Batch(ctx, tx, cluster, topic, partitions, body)
		}, contentTypeJSON)
		return
	}
	a.v3Stream(w, r, cluster, topic, partitions)
}

// v3Pending is a record of a stream on its way: done once answered.
type v3Pending struct {
	done chan struct{}
	res  v3Result
}

// maxStreamPending bounds the records of one stream read ahead of their
// answers.
const maxStreamPending = 1024

func (a *Adapter) v3Stream(w http.ResponseWriter, r *http.Request, cluster, topic string, partitions int32) {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // answer records while the client still sends
	body := &budgetReader{r: r.Body, max: a.cfg.MaxBodyBytes}
	body.reset()
	dec := json.NewDecoder(body)
	pending := make(chan *v3Pending, maxStreamPending)
	ctx := r.Context()
	go func() {
		defer close(pending)
		for {
			_ = rc.SetReadDeadline(time.Now().Add(a.cfg.ReadTimeout))
			var rec v3Record
			err := dec.Decode(&rec)
			if errors.Is(err, io.EOF) {
				return
			}
			p := &v3Pending{done: make(chan struct{})}
			if err != nil {
				err = bodyError(unwrapJSONRead(err), a.cfg.MaxBodyBytes, a.cfg.ReadTimeout)
				if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Code == CodeBadRequest {
					err = jsonError(err)
				}
				p.res = v3Error(err)
				close(p.done)
				select {
				case pending <- p:
				case <-ctx.Done():
				}
				return // the stream cannot be read further
			}
			body.reset()
			select {
			case pending <- p:
			case <-ctx.Done():
				return
			}
			a.v3One(ctx, p, cluster, topic, partitions, rec)
		}
	}()
	first := true
	enc := json.NewEncoder(w)
	for p := range pending {
		select {
		case <-p.done:
		case <-ctx.Done():
			<-p.done
		}
		if first {
			w.Header().Set("Content-Type", contentTypeJSON)
			status := http.StatusOK
			if p.res.ErrorCode != http.StatusOK {
				status = p.res.status
			}
			w.WriteHeader(status)
			first = false
		}
		_ = enc.Encode(p.res)
		if len(pending) == 0 {
			_ = rc.Flush()
		}
	}
	if first {
		writeErrorV3(w, errorf(http.StatusBadRequest, CodeBadRequest, "Request body is empty: send one record as a JSON object, or several one after another."))
	}
}

// unwrapJSONRead recovers the reader's own error from a decoder's.
func unwrapJSONRead(err error) error { return err }

// v3One produces one record of a stream; p is done once Kafka answered.
func (a *Adapter) v3One(ctx context.Context, p *v3Pending, cluster, topic string, partitions int32, rec v3Record) {
	rr, err := a.v3Build(ctx, topic, rec)
	if err == nil {
		var explicit []int32
		if rec.PartitionID != nil {
			explicit = []int32{*rec.PartitionID}
			if *rec.PartitionID < 0 {
				err = partitionNotFound(topic, *rec.PartitionID)
			}
		}
		if err == nil {
			err = place([]*kgo.Record{rr.rec}, explicit, partitions)
		}
	}
	if err == nil {
		err = a.prod.acquire(1)
	}
	if err != nil {
		p.res = v3Error(err)
		close(p.done)
		return
	}
	a.prod.stamp([]*kgo.Record{rr.rec}, []envelope.Envelope{{ContentType: rr.contentType}}, a.now())
	if err := a.prod.limits.Check(ctx, rr.rec); err != nil {
		a.prod.release(1)
		p.res = v3Error(errorf(http.StatusRequestEntityTooLarge, CodeKafka, "Kafka error: %v", err))
		close(p.done)
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ProduceTimeout)
	a.kafka.Produce(pctx, rr.rec, func(r *kgo.Record, err error) {
		defer close(p.done)
		defer cancel()
		defer a.prod.release(1)
		res := produced{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Err: err}
		a.m.countRecords(topic, []produced{res})
		if err != nil {
			if perm, _ := adapters.Classify(err); !perm {
				a.prod.trouble.Failed(err)
			}
			status := http.StatusInternalServerError
			if recordErrorCode(err) == CodeKafkaRetriable {
				status = http.StatusServiceUnavailable
			}
			p.res = v3Result{ErrorCode: status, Message: recordError(err), status: status}
			return
		}
		a.prod.trouble.Succeeded()
		p.res = rr.result(cluster, res)
	})
}

// v3Error is the answer object of a record that was not written.
func v3Error(err error) v3Result {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, CodeInternal, "Internal error: %v", err)
	}
	return v3Result{ErrorCode: ae.Code, Message: ae.Message, status: ae.Status}
}

// v3Built is a v3 record ready to produce.
type v3Built struct {
	rec                *kgo.Record
	contentType        string
	keyInfo, valueInfo *v3DataInfo
}

func (b *v3Built) result(cluster string, res produced) v3Result {
	ts := res.Timestamp.UTC()
	return v3Result{ErrorCode: http.StatusOK, ClusterID: cluster, TopicName: b.rec.Topic, PartitionID: &res.Partition,
		Offset: &res.Offset, Timestamp: &ts, Key: b.keyInfo, Value: b.valueInfo, status: http.StatusOK}
}

// v3Build turns a v3 record into a Kafka record (422 for data that does
// not fit its type or schema).
func (a *Adapter) v3Build(ctx context.Context, topic string, rec v3Record) (*v3Built, error) {
	b := &v3Built{rec: &kgo.Record{Topic: topic}}
	var err error
	if b.rec.Key, b.keyInfo, _, err = a.v3Data(ctx, topic, rec.Key, "key"); err != nil {
		return nil, err
	}
	if b.rec.Value, b.valueInfo, b.contentType, err = a.v3Data(ctx, topic, rec.Value, "value"); err != nil {
		return nil, err
	}
	for i, h := range rec.Headers {
		if h.Name == "" {
			return nil, errorf(http.StatusBadRequest, CodeBadRequest, "headers[%d].name is empty.", i)
		}
		var v []byte
		if h.Value != nil {
			if v, err = base64.StdEncoding.DecodeString(*h.Value); err != nil {
				return nil, errorf(http.StatusBadRequest, CodeBadRequest, "headers[%d].value is not valid base64: %v.", i, err)
			}
		}
		b.rec.Headers = append(b.rec.Headers, kgo.RecordHeader{Key: h.Name, Value: v})
	}
	// Headers of the request that name the envelope are the client's
	// envelope: they go through envelope parsing, not raw.
	if env, err := envelope.FromKafka(b.rec.Headers); err == nil {
		b.rec.Headers = envelope.StripKafka(b.rec.Headers)
		_ = env // completed and written by stamp from the record's own headers below
		b.rec.Headers = append(b.rec.Headers, env.KafkaHeaders()...)
	} else {
		return nil, errorf(http.StatusBadRequest, CodeBadRequest, "Bad envelope header: %v.", err)
	}
	if rec.Timestamp != nil {
		b.rec.Timestamp = *rec.Timestamp
	}
	return b, nil
}

// v3Data encodes a key or value by its type.
func (a *Adapter) v3Data(ctx context.Context, topic string, d *v3Data, role string) ([]byte, *v3DataInfo, string, error) {
	if d == nil {
		return nil, nil, "", nil
	}
	typ := strings.ToUpper(d.Type)
	if typ == "" && (d.SchemaID != nil || d.Schema != nil || d.Subject != nil || d.SchemaVersion != nil) {
		typ = "AVRO"
	}
	var out []byte
	contentType := ""
	switch typ {
	case "BINARY":
		if !isNull(d.Data) {
			var s string
			if err := json.Unmarshal(d.Data, &s); err != nil {
				return nil, nil, "", errorf(http.StatusBadRequest, CodeBadRequest, "%s.data must be a base64 string for type BINARY.", role)
			}
			var err error
			if out, err = base64.StdEncoding.DecodeString(s); err != nil {
				return nil, nil, "", errorf(http.StatusBadRequest, CodeBadRequest, "%s.data is not valid base64: %v.", role, err)
			}
		}
		contentType = "application/octet-stream"
	case "STRING":
		if !isNull(d.Data) {
			var s string
			if err := json.Unmarshal(d.Data, &s); err != nil {
				return nil, nil, "", errorf(http.StatusBadRequest, CodeBadRequest, "%s.data must be a string for type STRING.", role)
			}
			out = []byte(s)
		}
		contentType = "text/plain"
	case "JSON":
		out = jsonField(d.Data)
		contentType = contentTypeJSON
	case "AVRO":
		sch, err := a.v3Schema(ctx, topic, d, role)
		if err != nil {
			return nil, nil, "", err
		}
		if isNull(d.Data) {
			return nil, &v3DataInfo{Type: "AVRO", SchemaID: &sch.ID}, adapters.AvroContentType, nil
		}
		if out, err = sch.EncodeJSON(d.Data); err != nil {
			return nil, nil, "", errorf(http.StatusBadRequest, CodeAvroConversion, "Conversion of JSON to Avro failed: %s: %v", role, err)
		}
		return out, &v3DataInfo{Type: "AVRO", Size: len(out), SchemaID: &sch.ID}, adapters.AvroContentType, nil
	case "":
		return nil, nil, "", errorf(http.StatusBadRequest, CodeBadRequest, "%s.type is missing: give BINARY, JSON, STRING or AVRO (or a schema_id).", role)
	default:
		return nil, nil, "", errorf(http.StatusBadRequest, CodeUnsupportedType, "%s.type %q is not supported: the mesh takes BINARY, JSON, STRING and AVRO.", role, d.Type)
	}
	return out, &v3DataInfo{Type: typ, Size: len(out)}, contentType, nil
}

func (a *Adapter) v3Schema(ctx context.Context, topic string, d *v3Data, role string) (*serde.Schema, error) {
	if a.schemas == nil {
		return nil, errorf(http.StatusBadRequest, CodeUnsupportedType, "AVRO data needs a schema registry, and this adapter has none configured (registry.url).")
	}
	s := a.schemas.values
	if role == "key" {
		s = a.schemas.keys
	}
	switch {
	case d.SchemaID != nil:
		return resolveSchema(ctx, s, topic, nil, d.SchemaID, role)
	case d.Schema != nil:
		return resolveSchema(ctx, s, topic, d.Schema, nil, role)
	}
	subject := topic + "-" + role
	if d.Subject != nil {
		subject = *d.Subject
	}
	version := -1
	if d.SchemaVersion != nil {
		version = *d.SchemaVersion
	}
	ss, err := a.schemas.client.SchemaByVersion(ctx, subject, version)
	if err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, CodeInvalidSchema, "Invalid schema: subject %q version %d: %v", subject, version, err)
	}
	return resolveSchema(ctx, s, topic, nil, &ss.ID, role)
}

// v3Batch produces a whole v3 body (one record or several) as one unit,
// for Idempotency-Key requests: all records are checked before any is
// written.
func (a *Adapter) v3Batch(ctx context.Context, tx *txProducer, cluster, topic string, partitions int32, body []byte) (int, any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var built []*v3Built
	var recs []*kgo.Record
	var explicit []int32
	var envs []envelope.Envelope
	for {
		var rec v3Record
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, nil, jsonError(err)
		}
		b, err := a.v3Build(ctx, topic, rec)
		if err != nil {
			return 0, nil, err
		}
		p := int32(-1)
		if rec.PartitionID != nil {
			if p = *rec.PartitionID; p < 0 {
				return 0, nil, partitionNotFound(topic, p)
			}
		}
		built, recs, explicit = append(built, b), append(recs, b.rec), append(explicit, p)
		envs = append(envs, envelope.Envelope{ContentType: b.contentType})
	}
	if len(recs) == 0 {
		return 0, nil, errorf(http.StatusBadRequest, CodeBadRequest, "Request body is empty: send one record as a JSON object, or several one after another.")
	}
	results, err := a.write(ctx, tx, topic, recs, explicit, envs)
	if err != nil {
		return 0, nil, err
	}
	out := make([]v3Result, len(results))
	for i, res := range results {
		if res.Err != nil {
			out[i] = v3Result{ErrorCode: http.StatusInternalServerError, Message: recordError(res.Err)}
			continue
		}
		out[i] = built[i].result(cluster, res)
	}
	if len(out) == 1 {
		return http.StatusOK, out[0], nil
	}
	return http.StatusOK, ndjson(out), nil
}

// ndjson marshals as JSON objects one after another, as a stream's
// answers are.
type ndjson []v3Result

func (n ndjson) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	for i, r := range n {
		if i > 0 {
			buf.WriteByte('\n')
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// budgetReader bounds the bytes read for one JSON object of a stream:
// reset after each object gives the next one its own budget.
type budgetReader struct {
	r         io.Reader
	max, left int64
}

func (b *budgetReader) reset() { b.left = b.max }

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, &http.MaxBytesError{Limit: b.max}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

var _ = sr.TypeAvro
