package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

// v2Request is the body of a REST Proxy v2 produce request.
type v2Request struct {
	KeySchema     *string    `json:"key_schema"`
	KeySchemaID   *int       `json:"key_schema_id"`
	ValueSchema   *string    `json:"value_schema"`
	ValueSchemaID *int       `json:"value_schema_id"`
	Records       []v2Record `json:"records"`
}

type v2Record struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition *int32          `json:"partition"`
}

// v2Response answers a v2 produce request: one offset per record, in the
// order of the request.
type v2Response struct {
	KeySchemaID   *int       `json:"key_schema_id"`
	ValueSchemaID *int       `json:"value_schema_id"`
	Offsets       []v2Offset `json:"offsets"`
}

type v2Offset struct {
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
	ErrorCode *int    `json:"error_code"`
	Error     *string `json:"error"`
}

// v2Format reads the embedded format from the Content-Type, as the proxy
// does; a type it does not take is 415.
func v2Format(r *http.Request) (string, error) {
	switch mediaType(r) {
	case mediaBinaryV2:
		return formatBinary, nil
	case mediaJSONV2:
		return formatJSON, nil
	case mediaAvroV2:
		return formatAvro, nil
	case mediaJSONSchemaV2, mediaProtobufV2:
		return "", errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType,
			"Unsupported media type %q: the mesh's schemas are Avro; use %s, %s or %s.", mediaType(r), mediaBinaryV2, mediaJSONV2, mediaAvroV2)
	}
	return "", errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType,
		"Unsupported media type %q: a produce request is %s (base64 keys and values), %s or %s.", r.Header.Get("Content-Type"), mediaBinaryV2, mediaJSONV2, mediaAvroV2)
}

// handleV2Produce serves POST /topics/{topic} and
// POST /topics/{topic}/partitions/{partition}.
func (a *Adapter) handleV2Produce(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	partition := int32(-1)
	if ps := r.PathValue("partition"); ps != "" {
		p, err := strconv.ParseInt(ps, 10, 32)
		if err != nil || p < 0 {
			writeError(w, partitionNotFound(topic, -1))
			return
		}
		partition = int32(p)
	}
	format, err := v2Format(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := a.authorize(r, ActionProduce, topic); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(w, r, a.cfg.MaxBodyBytes, a.cfg.ReadTimeout)
	if err != nil {
		writeError(w, err)
		return
	}
	a.idempotent(w, r, body, func(ctx context.Context, tx *txProducer) (int, any, error) {
		resp, err := a.v2Produce(ctx, tx, topic, partition, format, body)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, resp, nil
	}, contentTypeV2)
}

func (a *Adapter) v2Produce(ctx context.Context, tx *txProducer, topic string, partition int32, format string, body []byte) (*v2Response, error) {
	if format == formatBinary {
		return a.v2ProduceBinary(ctx, tx, topic, partition, body)
	}
	var req v2Request
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if len(req.Records) == 0 {
		return nil, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: records must hold at least one record.")
	}
	recs := make([]*kgo.Record, len(req.Records))
	explicit := make([]int32, len(req.Records))
	resp := &v2Response{Offsets: make([]v2Offset, len(req.Records))}
	var enc *avroRequest
	if format == formatAvro {
		var err error
		if enc, err = a.avroSchemas(ctx, topic, req); err != nil {
			return nil, err
		}
		resp.KeySchemaID, resp.ValueSchemaID = enc.keyID(), enc.valueID()
	}
	contentType := ""
	switch format {
	case formatJSON:
		contentType = contentTypeJSON
	case formatAvro:
		contentType = adapters.AvroContentType
	}
	for i, rec := range req.Records {
		r := &kgo.Record{Topic: topic}
		var err error
		switch format {
		case formatBinary:
			r.Key, err = binaryField(rec.Key, fmt.Sprintf("records[%d].key", i))
			if err == nil {
				r.Value, err = binaryField(rec.Value, fmt.Sprintf("records[%d].value", i))
			}
		case formatJSON:
			r.Key, r.Value = jsonField(rec.Key), jsonField(rec.Value)
		case formatAvro:
			r.Key, r.Value, err = enc.encode(rec, i)
		}
		if err != nil {
			return nil, err
		}
		recs[i] = r
		explicit[i] = -1
		switch {
		case partition >= 0:
			explicit[i] = partition
		case rec.Partition != nil:
			explicit[i] = *rec.Partition
			if explicit[i] < 0 {
				return nil, partitionNotFound(topic, explicit[i])
			}
		}
	}
	return a.v2Write(ctx, tx, topic, recs, explicit, contentType, resp)
}

// v2BinaryRequest is a binary produce request as encoding/json decodes it
// (parseBinary); parseBinaryFast reads the common shape in one pass.
type v2BinaryRequest struct {
	Records []struct {
		Key       *string `json:"key"`
		Value     *string `json:"value"`
		Partition *int32  `json:"partition"`
	} `json:"records"`
}

func (a *Adapter) v2ProduceBinary(ctx context.Context, tx *txProducer, topic string, partition int32, body []byte) (*v2Response, error) {
	in, ok := parseBinaryFast(body)
	if !ok {
		var err error
		if in, err = parseBinary(body); err != nil {
			return nil, err
		}
	}
	if len(in) == 0 {
		return nil, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: records must hold at least one record.")
	}
	recs := make([]*kgo.Record, len(in))
	explicit := make([]int32, len(in))
	for i, rec := range in {
		recs[i], explicit[i] = &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value}, -1
		switch {
		case partition >= 0:
			explicit[i] = partition
		case rec.HasPartition:
			if explicit[i] = rec.Partition; explicit[i] < 0 {
				return nil, partitionNotFound(topic, explicit[i])
			}
		}
	}
	return a.v2Write(ctx, tx, topic, recs, explicit, "", &v2Response{Offsets: make([]v2Offset, len(recs))})
}

// parseBinary decodes a binary produce body with encoding/json: any body
// parseBinaryFast does not take, with errors in the proxy's words.
func parseBinary(body []byte) ([]binaryRecord, error) {
	var req v2BinaryRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	dec := func(s *string, field string, i int) ([]byte, error) {
		if s == nil {
			return nil, nil
		}
		b, err := base64.StdEncoding.DecodeString(*s)
		if err != nil {
			return nil, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: records[%d].%s is not valid base64: %v.", i, field, err)
		}
		return b, nil
	}
	out := make([]binaryRecord, len(req.Records))
	for i, rec := range req.Records {
		var err error
		if out[i].Key, err = dec(rec.Key, "key", i); err != nil {
			return nil, err
		}
		if out[i].Value, err = dec(rec.Value, "value", i); err != nil {
			return nil, err
		}
		if rec.Partition != nil {
			out[i].Partition, out[i].HasPartition = *rec.Partition, true
		}
	}
	return out, nil
}

// v2Write produces a v2 request's records and fills in resp's offsets.
func (a *Adapter) v2Write(ctx context.Context, tx *txProducer, topic string, recs []*kgo.Record, explicit []int32, contentType string, resp *v2Response) (*v2Response, error) {
	envs := make([]envelope.Envelope, len(recs))
	for i := range envs {
		envs[i].ContentType = contentType
	}
	results, err := a.write(ctx, tx, topic, recs, explicit, envs)
	if err != nil {
		return nil, err
	}
	for i, res := range results {
		if res.Err != nil {
			code, msg := recordErrorCode(res.Err), recordError(res.Err)
			resp.Offsets[i] = v2Offset{ErrorCode: &code, Error: &msg}
			continue
		}
		resp.Offsets[i] = v2Offset{Partition: &res.Partition, Offset: &res.Offset}
	}
	return resp, nil
}

func recordError(err error) string {
	if recordErrorCode(err) == CodeKafka {
		return "Kafka error: " + err.Error()
	}
	return "Retriable Kafka error: " + err.Error()
}

// binaryField decodes a base64 key or value; null stays null.
func binaryField(raw json.RawMessage, field string) ([]byte, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: %s must be a base64 string in the binary format.", field)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "Unprocessable entity: %s is not valid base64: %v.", field, err)
	}
	return b, nil
}

// jsonField is a JSON key or value as it is written: compact JSON; null
// stays null (no key, or a tombstone).
func jsonField(raw json.RawMessage) []byte {
	if isNull(raw) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return slices.Clone(raw) // decoded already, so it is valid
	}
	return buf.Bytes()
}

// write checks topic and the records' partitions, takes places in the
// window, stamps the envelopes and produces: with tx, in its transaction.
// An error means nothing was written; otherwise each record has its own
// outcome.
func (a *Adapter) write(ctx context.Context, tx *txProducer, topic string, recs []*kgo.Record, explicit []int32, envs []envelope.Envelope) ([]produced, error) {
	n, err := a.prod.checkTopic(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := place(recs, explicit, n); err != nil {
		return nil, err
	}
	if err := a.prod.acquire(len(recs)); err != nil {
		return nil, err
	}
	defer a.prod.release(len(recs))
	a.prod.stamp(recs, envs, a.now())
	var out []produced
	if tx != nil {
		out = tx.produce(ctx, recs)
	} else {
		out = a.prod.produce(ctx, recs)
	}
	a.m.countRecords(topic, out)
	return out, nil
}

// handleTopics serves GET /topics: the event topics of the site (the
// mesh's, the registry's and Kafka's own, beginning with _, are left out).
func (a *Adapter) handleTopics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ProduceTimeout)
	defer cancel()
	td, err := a.adm.ListTopics(ctx)
	if err != nil {
		writeError(w, kafkaUnavailable(err))
		return
	}
	names := []string{}
	for _, n := range td.Names() {
		if !strings.HasPrefix(n, "_") && a.visible(r, ActionDescribe, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	writeJSON(w, http.StatusOK, contentTypeV2, names)
}

type v2Topic struct {
	Name       string            `json:"name"`
	Configs    map[string]string `json:"configs"`
	Partitions []v2Partition     `json:"partitions"`
}

type v2Partition struct {
	Partition int32       `json:"partition"`
	Leader    int32       `json:"leader"`
	Replicas  []v2Replica `json:"replicas"`
}

type v2Replica struct {
	Broker int32 `json:"broker"`
	Leader bool  `json:"leader"`
	InSync bool  `json:"in_sync"`
}

// topicDetail describes one topic, or answers 404 40401.
func (a *Adapter) topicDetail(ctx context.Context, topic string) (kadm.TopicDetail, error) {
	if strings.HasPrefix(topic, "_") {
		return kadm.TopicDetail{}, topicNotFound(topic)
	}
	td, err := a.adm.ListTopics(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, kafkaUnavailable(err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return kadm.TopicDetail{}, topicNotFound(topic)
	}
	return d, nil
}

func v2Partitions(d kadm.TopicDetail) []v2Partition {
	var out []v2Partition
	for _, p := range d.Partitions.Sorted() {
		vp := v2Partition{Partition: p.Partition, Leader: p.Leader, Replicas: []v2Replica{}}
		for _, b := range p.Replicas {
			vp.Replicas = append(vp.Replicas, v2Replica{Broker: b, Leader: b == p.Leader, InSync: slices.Contains(p.ISR, b)})
		}
		out = append(out, vp)
	}
	return out
}

// describeTopic reads the detail of the request's topic if its principal
// may describe it; false when it answered instead (403, 404, 503).
func (a *Adapter) describeTopic(ctx context.Context, w http.ResponseWriter, r *http.Request) (string, kadm.TopicDetail, bool) {
	topic := r.PathValue("topic")
	if err := a.authorize(r, ActionDescribe, topic); err != nil {
		writeError(w, err)
		return topic, kadm.TopicDetail{}, false
	}
	d, err := a.topicDetail(ctx, topic)
	if err != nil {
		writeError(w, err)
		return topic, kadm.TopicDetail{}, false
	}
	return topic, d, true
}

// handleTopic serves GET /topics/{topic}.
func (a *Adapter) handleTopic(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ProduceTimeout)
	defer cancel()
	topic, d, ok := a.describeTopic(ctx, w, r)
	if !ok {
		return
	}
	configs := map[string]string{}
	if rc, err := a.adm.DescribeTopicConfigs(ctx, topic); err == nil {
		if c, err := rc.On(topic, nil); err == nil {
			for _, kv := range c.Configs {
				if kv.Value != nil {
					configs[kv.Key] = *kv.Value
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, contentTypeV2, v2Topic{Name: topic, Configs: configs, Partitions: v2Partitions(d)})
}

// handlePartitions serves GET /topics/{topic}/partitions and
// GET /topics/{topic}/partitions/{partition}.
func (a *Adapter) handlePartitions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ProduceTimeout)
	defer cancel()
	topic, d, ok := a.describeTopic(ctx, w, r)
	if !ok {
		return
	}
	ps := v2Partitions(d)
	if s := r.PathValue("partition"); s != "" {
		p, err := strconv.ParseInt(s, 10, 32)
		if err != nil || p < 0 || int(p) >= len(ps) {
			writeError(w, partitionNotFound(topic, int32(p)))
			return
		}
		writeJSON(w, http.StatusOK, contentTypeV2, ps[p])
		return
	}
	writeJSON(w, http.StatusOK, contentTypeV2, ps)
}

func kafkaUnavailable(err error) error {
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		return ae
	}
	return errorf(http.StatusServiceUnavailable, CodeUnavailable, "Kafka did not answer: %v; try again.", err)
}
