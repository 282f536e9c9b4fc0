package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters"
	"github.com/meshwork/meshwork/internal/envelope"
)

// CloudEvents HTTP content modes.
const (
	mediaCloudEvent      = "application/cloudevents+json"
	mediaCloudEventBatch = "application/cloudevents-batch+json"
)

// eventRule is an EventRule ready to match.
type eventRule struct {
	typ   string
	topic *adapters.Template
}

func compileEvents(rules []EventRule) ([]eventRule, error) {
	var out []eventRule
	for i, r := range rules {
		t, err := adapters.ParseTemplate(r.Topic, func(n string) bool { return n == "type" })
		if err != nil {
			return nil, fmt.Errorf("events[%d].topic: %w", i, err)
		}
		out = append(out, eventRule{typ: r.Type, topic: t})
	}
	return out, nil
}

// route names the topic of an event type by the first rule that matches
// (422 naming the type when none does).
func (a *Adapter) route(typ string) (string, error) {
	for _, r := range a.events {
		if ok, _ := path.Match(r.typ, typ); ok {
			topic, err := adapters.Topic(r.topic.Render(func(string) string { return typ }))
			if err != nil {
				return "", errorf(http.StatusUnprocessableEntity, CodeNoEventRoute, "Event type %q maps to no valid topic: %v.", typ, err)
			}
			return topic, nil
		}
	}
	if typ == "" {
		return "", errorf(http.StatusUnprocessableEntity, CodeNoEventRoute, "The event has no type: POST /events routes events by type; set one, or POST to /topics/{topic}/events.")
	}
	return "", errorf(http.StatusUnprocessableEntity, CodeNoEventRoute, "No rule maps event type %q to a topic: add one under events in the adapter's configuration, or POST to /topics/{topic}/events.", typ)
}

// event is one CloudEvent received, ready to become a record.
type event struct {
	env  envelope.Envelope
	data []byte
	key  []byte
}

// eventAnswer says where an event went.
type eventAnswer struct {
	ID        string  `json:"id"`
	Topic     string  `json:"topic,omitempty"`
	Partition *int32  `json:"partition,omitempty"`
	Offset    *int64  `json:"offset,omitempty"`
	ErrorCode *int    `json:"error_code,omitempty"`
	Error     *string `json:"error,omitempty"`
}

// handleEvents serves POST /events and POST /topics/{topic}/events in
// the three modes of the CloudEvents HTTP binding: binary (attributes in
// ce- headers, the body is the data), structured (one JSON event) and
// batch (a JSON array of events). Events get an id where they have none
// (the answer says it) and enter the mesh with its envelope.
func (a *Adapter) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, a.cfg.MaxBodyBytes, a.cfg.ReadTimeout)
	if err != nil {
		writeError(w, err)
		return
	}
	var evs []event
	batch := false
	switch mediaType(r) {
	case mediaCloudEvent:
		ev, err := structuredEvent(body)
		if err != nil {
			writeError(w, err)
			return
		}
		evs = []event{ev}
	case mediaCloudEventBatch:
		batch = true
		var raws []json.RawMessage
		if err := decodeJSON(body, &raws); err != nil {
			writeError(w, err)
			return
		}
		if len(raws) == 0 {
			writeError(w, errorf(http.StatusUnprocessableEntity, CodeUnprocessable, "The batch holds no events."))
			return
		}
		for i, raw := range raws {
			ev, err := structuredEvent(raw)
			if err != nil {
				if ae := (*apiError)(nil); asAPI(err, &ae) {
					ae.Message = fmt.Sprintf("events[%d]: %s", i, ae.Message)
				}
				writeError(w, err)
				return
			}
			evs = append(evs, ev)
		}
	default:
		ev, err := binaryEvent(r, body)
		if err != nil {
			writeError(w, err)
			return
		}
		evs = []event{ev}
	}
	// Group by topic, authorize, and write each topic's events together.
	topics := make([]string, len(evs))
	for i, ev := range evs {
		topic := r.PathValue("topic")
		if topic == "" {
			if topic, err = a.route(ev.env.Type); err != nil {
				writeError(w, err)
				return
			}
		}
		if err := a.authorize(r, ActionProduce, topic); err != nil {
			writeError(w, err)
			return
		}
		topics[i] = topic
	}
	a.idempotent(w, r, body, func(ctx context.Context, tx *txProducer) (int, any, error) {
		return a.writeEvents(ctx, tx, evs, topics, batch)
	}, contentTypeJSON)
}

func (a *Adapter) writeEvents(ctx context.Context, tx *txProducer, evs []event, topics []string, batch bool) (int, any, error) {
	answers := make([]eventAnswer, len(evs))
	byTopic := map[string][]int{}
	var order []string
	for i, t := range topics {
		if _, ok := byTopic[t]; !ok {
			order = append(order, t)
		}
		byTopic[t] = append(byTopic[t], i)
	}
	// Check every topic before writing anything.
	for _, t := range order {
		if _, err := a.prod.checkTopic(ctx, t); err != nil {
			return 0, nil, err
		}
	}
	failed := false
	for _, t := range order {
		idx := byTopic[t]
		recs := make([]*kgo.Record, len(idx))
		envs := make([]envelope.Envelope, len(idx))
		for j, i := range idx {
			recs[j] = &kgo.Record{Topic: t, Key: evs[i].key, Value: evs[i].data}
			envs[j] = evs[i].env
		}
		results, err := a.write(ctx, tx, t, recs, nil, envs)
		if err != nil {
			return 0, nil, err
		}
		for j, i := range idx {
			ans := eventAnswer{ID: envs[j].ID, Topic: t}
			if res := results[j]; res.Err != nil {
				failed = true
				code, msg := recordErrorCode(res.Err), recordError(res.Err)
				ans.ErrorCode, ans.Error = &code, &msg
			} else {
				ans.Partition, ans.Offset = &res.Partition, &res.Offset
			}
			answers[i] = ans
		}
	}
	if !batch {
		if failed {
			ae := &apiError{Status: http.StatusServiceUnavailable, Code: *answers[0].ErrorCode, Message: *answers[0].Error, RetryAfter: a.cfg.RetryAfter}
			return 0, nil, ae
		}
		return http.StatusOK, answers[0], nil
	}
	return http.StatusOK, map[string]any{"events": answers}, nil
}

func asAPI(err error, target **apiError) bool {
	ae, ok := err.(*apiError)
	if ok {
		*target = ae
	}
	return ok
}

// binaryEvent reads an event in binary mode: attributes from the ce-
// headers, data from the body.
func binaryEvent(r *http.Request, body []byte) (event, error) {
	if r.Header.Get("Ce-Specversion") == "" {
		return event{}, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType,
			"Not a CloudEvent: send ce-specversion, ce-type, ce-source (and ce-id) headers with the data as the body (binary mode), or %s or %s.", mediaCloudEvent, mediaCloudEventBatch)
	}
	h := r.Header.Clone()
	// Where an event entered the mesh is the adapter's to say.
	for _, k := range []string{envelope.HTTPHeaderOrigin, envelope.HTTPHeaderPath} {
		h.Del(k)
	}
	env, err := envelope.FromHTTP(h)
	if err != nil {
		return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "Malformed CloudEvents headers: %v", err)
	}
	ev := event{env: env, data: body}
	if len(body) == 0 {
		ev.data = nil
	}
	if k, ok := env.Extensions["partitionkey"]; ok {
		ev.key = []byte(k)
	}
	return ev, nil
}

// structuredEvent reads one event in structured JSON mode. Its attributes
// go through the same checks as binary mode's headers.
func structuredEvent(raw []byte) (event, error) {
	var obj map[string]json.RawMessage
	if err := decodeJSON(raw, &obj); err != nil {
		return event{}, err
	}
	h := http.Header{}
	var data, data64 json.RawMessage
	for k, v := range obj {
		switch k {
		case "data":
			data = v
			continue
		case "data_base64":
			data64 = v
			continue
		case "datacontenttype":
			k = "content-type"
		}
		if isNull(v) {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			// Extensions may be numbers or booleans; their string form.
			var scalar any
			if json.Unmarshal(v, &scalar) != nil {
				return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "Attribute %q is not a string, number or boolean.", k)
			}
			switch scalar.(type) {
			case float64, bool:
				s = strings.TrimSpace(string(v))
			default:
				return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "Attribute %q is not a string, number or boolean.", k)
			}
		}
		if k == "content-type" {
			h.Set("Content-Type", s)
			continue
		}
		if k == "meshorigin" || k == "meshpath" {
			continue // the adapter's to say
		}
		h.Set("Ce-"+k, strings.ReplaceAll(s, "%", "%25"))
	}
	if h.Get("Ce-Specversion") == "" {
		return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "Not a CloudEvent: specversion is missing (want 1.0).")
	}
	env, err := envelope.FromHTTP(h)
	if err != nil {
		return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "Malformed CloudEvent: %v", err)
	}
	ev := event{env: env}
	switch {
	case !isNull(data64):
		var s string
		if err := json.Unmarshal(data64, &s); err != nil {
			return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "data_base64 must be a base64 string.")
		}
		if ev.data, err = base64.StdEncoding.DecodeString(s); err != nil {
			return event{}, errorf(http.StatusBadRequest, CodeBadRequest, "data_base64 is not valid base64: %v.", err)
		}
	case !isNull(data):
		if jsonMedia(env.ContentType) {
			ev.data = jsonField(data)
			if env.ContentType == "" {
				ev.env.ContentType = contentTypeJSON
			}
		} else {
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				ev.data = jsonField(data) // JSON data of a non-JSON type: kept as JSON
			} else {
				ev.data = []byte(s)
			}
		}
	}
	if k, ok := env.Extensions["partitionkey"]; ok {
		ev.key = []byte(k)
	}
	return ev, nil
}

// jsonMedia reports whether a content type is JSON (absent counts: the
// CloudEvents JSON format says data is then JSON).
func jsonMedia(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}
