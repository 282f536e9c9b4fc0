package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIntegrationRegistryConformance pins Confluent Schema Registry's
// answers, endpoint by endpoint (status, error_code, message, content type
// and body), as its source decides them (its resources and its Errors and
// rest/exceptions classes), against Meshwork's registry on real Kafka:
// once at the primary (east), and once at a follower site (west) whose
// writes are forwarded to east and answered once west has read them back.
//
// Each run has a schema log of its own (a topic named for the run), so
// that ids, versions and global settings start afresh and the shared
// _schemas is left alone; the follower reads the primary's log on east's
// cluster (primary.kafka), which needs no replicator.
func TestIntegrationRegistryConformance(t *testing.T) {
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")

	t.Run("east", func(t *testing.T) {
		topic := uniq("_schemas-conformance-east")
		dropTopicAfter(t, east, topic)
		port := freePorts(t, 1)[0]
		reg := startService(t, bin, "registry-east", fmt.Sprintf(
			"site: east\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\ntopic: %s\ngroup: %s\nreplication_factor: 1\n",
			port, east, topic, topic), port)
		runConformance(t, reg.url)
	})
	t.Run("west-follower", func(t *testing.T) {
		topic := uniq("_schemas-conformance-west")
		dropTopicAfter(t, east, topic)
		ports := freePorts(t, 2)
		startService(t, bin, "registry-east", fmt.Sprintf(
			"site: east\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\ntopic: %s\ngroup: %s\nreplication_factor: 1\n",
			ports[0], east, topic, topic), ports[0])
		follower := startService(t, bin, "registry-west", fmt.Sprintf(
			"site: west\nlisten: 127.0.0.1:%d\nkafka: {brokers: [%q]}\ntopic: %s\nwrite_timeout: 10s\nprimary: {url: \"http://127.0.0.1:%d\", kafka: {brokers: [%q]}}\n",
			ports[1], west, topic, ports[0], east), ports[1])
		runConformance(t, follower.url)
	})
}

// dropTopicAfter deletes the run's schema log once the test is over (its
// cleanups run after the registries', which stop first), so the
// long-lived clusters do not collect them.
func dropTopicAfter(t *testing.T, broker, topic string) {
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
		if err != nil {
			t.Logf("deleting %s: %v", topic, err)
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := kadm.NewClient(cl).DeleteTopics(ctx, topic); err != nil {
			t.Logf("deleting %s: %v", topic, err)
		}
	})
}

// step is one request and the answer Confluent's registry gives to it.
type step struct {
	method, path, body string
	accept, ctype      string // request headers; ctype "" is Confluent's own
	status             int
	// want is the body, compared as JSON; for errors, code and message
	// (a message ending in "…" is a prefix: its details are the parser's
	// own words).
	want    string
	code    int
	message string
	// raw compares the body byte for byte (a schema's text).
	raw string
	// answerType is the Content-Type of the answer; "" is Confluent's
	// application/vnd.schemaregistry.v1+json.
	answerType string
}

const vendorJSON = "application/vnd.schemaregistry.v1+json"

// Schemas of the suite, as authors write them, and as Confluent stores and
// answers them (Avro Java's Schema.toString()).
const (
	confV1       = `{ "namespace": "conf", "name": "Order", "type": "record", "fields": [ {"type": "string", "name": "id"} ] }`
	confV1Java   = `{"type":"record","name":"Order","namespace":"conf","fields":[{"name":"id","type":"string"}]}`
	confV1Doc    = `{"type":"record","name":"Order","namespace":"conf","fields":[{"name":"id","type":"string","doc":"the order's id"}]}`
	confV1DocJ   = `{"type":"record","name":"Order","namespace":"conf","fields":[{"name":"id","type":"string","doc":"the order's id"}]}`
	confBreaking = `{"type":"record","name":"Order","namespace":"conf","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}`
	confMoney    = `{"type":"record","name":"Money","namespace":"conf","fields":[{"name":"cents","type":"long"}]}`
	confInvoice  = `{"type":"record","name":"Invoice","namespace":"conf","fields":[{"name":"total","type":"conf.Money"}]}`
	confInvoiceJ = `{"type":"record","name":"Invoice","namespace":"conf","fields":[{"name":"total","type":"Money"}]}`
)

func schemaBody(schema string, extra ...string) string {
	b, _ := json.Marshal(schema)
	return `{"schema":` + string(b) + strings.Join(extra, "") + `}`
}

func conformanceSteps() []step {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return []step{
		// Root and types.
		{method: "GET", path: "/", status: 200, want: `{}`},
		{method: "GET", path: "/schemas/types", status: 200, want: `["AVRO"]`},
		// Subjects and versions.
		{method: "GET", path: "/subjects", status: 200, want: `[]`},
		{method: "GET", path: "/subjects/", status: 200, want: `[]`},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(confV1), status: 200, want: `{"id":1}`},
		{method: "POST", path: "/subjects/conf-value/versions/", body: schemaBody(confV1Java), status: 200, want: `{"id":1}`},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(confV1Doc), status: 200, want: `{"id":2}`},
		{method: "GET", path: "/subjects", status: 200, want: `["conf-value"]`},
		{method: "GET", path: "/subjects/conf-value/versions", status: 200, want: `[1,2]`},
		{method: "GET", path: "/subjects/conf-value/versions/1", status: 200,
			want: `{"subject":"conf-value","version":1,"id":1,"schema":` + q(confV1Java) + `}`},
		{method: "GET", path: "/subjects/conf-value/versions/latest", status: 200,
			want: `{"subject":"conf-value","version":2,"id":2,"schema":` + q(confV1DocJ) + `}`},
		{method: "GET", path: "/subjects/conf-value/versions/-1", status: 200,
			want: `{"subject":"conf-value","version":2,"id":2,"schema":` + q(confV1DocJ) + `}`},
		{method: "GET", path: "/subjects/conf-value/versions/1/schema", status: 200, raw: confV1Java},
		{method: "GET", path: "/subjects/conf-value/versions/3", status: 404, code: 40402, message: "Version 3 not found."},
		{method: "GET", path: "/subjects/conf-value/versions/abc", status: 422, code: 42202,
			message: `The specified version 'abc' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`},
		{method: "GET", path: "/subjects/nope-value/versions", status: 404, code: 40401, message: "Subject 'nope-value' not found."},
		{method: "GET", path: "/subjects/nope-value/versions/1", status: 404, code: 40401, message: "Subject 'nope-value' not found."},
		{method: "POST", path: "/subjects/conf-value", body: schemaBody(confV1), status: 200,
			want: `{"subject":"conf-value","version":1,"id":1,"schema":` + q(confV1Java) + `}`},
		{method: "POST", path: "/subjects/conf-value", body: schemaBody(confMoney), status: 404, code: 40403, message: "Schema not found"},
		{method: "POST", path: "/subjects/nope-value", body: schemaBody(confMoney), status: 404, code: 40401, message: "Subject 'nope-value' not found."},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(confBreaking), status: 409, code: 40901,
			message: `Schema being registered is incompatible with an earlier schema for subject "conf-value", details: [` +
				`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'total' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'total'}, ` +
				`{oldSchemaVersion: 2}, {oldSchema: '` + confV1DocJ + `'}, {validateFields: 'false', compatibility: 'BACKWARD'}]`},
		{method: "POST", path: "/compatibility/subjects/conf-value/versions/latest?verbose=true", body: schemaBody(confBreaking), status: 200,
			want: `{"is_compatible":false,"messages":["{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'total' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'total'}",` +
				`"{oldSchemaVersion: 2}",` + q("{oldSchema: '"+confV1DocJ+"'}") + `,"{validateFields: 'false', compatibility: 'BACKWARD'}"]}`},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(`{"type":"nope"}`), status: 422, code: 42201,
			message: "Invalid schema of type AVRO, details: …"},
		{method: "POST", path: "/subjects/empty-value/versions", body: `{"schema":""}`, status: 422, code: 42201, message: "Empty schema"},
		{method: "POST", path: "/subjects/%20spaced%20/versions", body: schemaBody(`"int"`), status: 200, want: `{"id":3}`},
		{method: "GET", path: "/subjects/%20spaced%20/versions/1", status: 200, want: `{"subject":" spaced ","version":1,"id":3,"schema":"\"int\""}`},
		{method: "POST", path: "/subjects/%20spaced%20", body: schemaBody(`{"type":"int","name":"x"}`), status: 200,
			want: `{"subject":" spaced ","version":1,"id":3,"schema":"\"int\""}`},

		// Schemas by id.
		{method: "GET", path: "/schemas/ids/1", status: 200, want: `{"schema":` + q(confV1Java) + `}`},
		{method: "GET", path: "/schemas/ids/1/schema", status: 200, raw: confV1Java},
		{method: "GET", path: "/schemas/ids/1/versions", status: 200, want: `[{"subject":"conf-value","version":1}]`},
		{method: "GET", path: "/schemas/ids/1/subjects", status: 200, want: `["conf-value"]`},
		{method: "GET", path: "/schemas/ids/99", status: 404, code: 40403, message: "Schema 99 not found"},
		{method: "GET", path: "/schemas/ids/99/versions", status: 404, code: 40403, message: "Schema not found"},
		{method: "GET", path: "/subjects?subjectPrefix=conf&offset=0&limit=1", status: 200, want: `["conf-value"]`},
		{method: "GET", path: "/schemas?subjectPrefix=conf&latestOnly=true", status: 200,
			want: `[{"subject":"conf-value","version":2,"id":2,"schema":` + q(confV1DocJ) + `}]`},

		// Compatibility.
		{method: "POST", path: "/compatibility/subjects/conf-value/versions/latest", body: schemaBody(confV1), status: 200, want: `{"is_compatible":true}`},
		{method: "POST", path: "/compatibility/subjects/conf-value/versions", body: schemaBody(confBreaking), status: 200, want: `{"is_compatible":false}`},
		{method: "POST", path: "/compatibility/subjects/nope-value/versions/1", body: schemaBody(confV1), status: 404, code: 40402, message: "Version 1 not found."},
		{method: "POST", path: "/compatibility/subjects/nope-value/versions/latest", body: schemaBody(confV1), status: 200, want: `{"is_compatible":true}`},
		{method: "POST", path: "/compatibility/subjects/conf-value/versions/9", body: schemaBody(confV1), status: 404, code: 40402, message: "Version 9 not found."},

		// Config.
		{method: "GET", path: "/config", status: 200, want: `{"compatibilityLevel":"BACKWARD"}`},
		{method: "PUT", path: "/config", body: `{"compatibility":"FULL"}`, status: 200, want: `{"compatibility":"FULL"}`},
		{method: "PUT", path: "/config", body: `{"compatibility":"MOSTLY"}`, status: 422, code: 42203,
			message: "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"},
		{method: "GET", path: "/config/conf-value", status: 404, code: 40408, message: "Subject 'conf-value' does not have subject-level compatibility configured"},
		{method: "GET", path: "/config/conf-value?defaultToGlobal=true", status: 200, want: `{"compatibilityLevel":"FULL"}`},
		{method: "PUT", path: "/config/conf-value", body: `{"compatibility":"NONE"}`, status: 200, want: `{"compatibility":"NONE"}`},
		{method: "GET", path: "/config/conf-value", status: 200, want: `{"compatibilityLevel":"NONE"}`},
		{method: "DELETE", path: "/config/conf-value", status: 200, want: `{"compatibilityLevel":"NONE"}`},
		{method: "DELETE", path: "/config/conf-value", status: 404, code: 40401, message: "Subject 'conf-value' not found."},
		{method: "PUT", path: "/config", body: `{"compatibility":"BACKWARD"}`, status: 200, want: `{"compatibility":"BACKWARD"}`},

		// Mode.
		{method: "GET", path: "/mode", status: 200, want: `{"mode":"READWRITE"}`},
		{method: "PUT", path: "/mode", body: `{"mode":"SOMETIMES"}`, status: 422, code: 42204,
			message: "Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD."},
		{method: "GET", path: "/mode/conf-value", status: 404, code: 40409, message: "Subject 'conf-value' does not have subject-level mode configured"},
		{method: "PUT", path: "/mode/conf-value", body: `{"mode":"READONLY"}`, status: 200, want: `{"mode":"READONLY"}`},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(`"string"`), status: 422, code: 42205,
			message: "Subject conf-value in context . is in read-only mode"},
		{method: "DELETE", path: "/mode/conf-value", status: 200, want: `{"mode":"READONLY"}`},
		{method: "DELETE", path: "/mode/conf-value", status: 404, code: 40401, message: "Subject 'conf-value' not found."},

		// References.
		{method: "POST", path: "/subjects/conf-money/versions", body: schemaBody(confMoney), status: 200, want: `{"id":4}`},
		{method: "POST", path: "/subjects/conf-invoice/versions", body: schemaBody(confInvoice, `,"references":[{"name":"conf.Money","subject":"conf-money","version":1}]`),
			status: 200, want: `{"id":5}`},
		{method: "GET", path: "/subjects/conf-invoice/versions/1", status: 200,
			want: `{"subject":"conf-invoice","version":1,"id":5,"references":[{"name":"conf.Money","subject":"conf-money","version":1}],"schema":` + q(confInvoiceJ) + `}`},
		{method: "GET", path: "/subjects/conf-money/versions/1/referencedby", status: 200, want: `[5]`},
		{method: "DELETE", path: "/subjects/conf-money/versions/1", status: 422, code: 42206,
			message: "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=conf-money,version=1}."},

		// Soft and hard delete.
		{method: "DELETE", path: "/subjects/conf-value/versions/2", status: 200, want: `2`},
		{method: "DELETE", path: "/subjects/conf-value/versions/2", status: 404, code: 40406,
			message: "Subject 'conf-value' Version 2 was soft deleted.Set permanent=true to delete permanently"},
		{method: "GET", path: "/subjects/conf-value/versions", status: 200, want: `[1]`},
		{method: "GET", path: "/subjects/conf-value/versions?deleted=true", status: 200, want: `[1,2]`},
		{method: "GET", path: "/subjects/conf-value/versions/2", status: 404, code: 40402, message: "Version 2 not found."},
		{method: "GET", path: "/subjects/conf-value/versions/2?deleted=true", status: 200,
			want: `{"subject":"conf-value","version":2,"id":2,"schema":` + q(confV1DocJ) + `,"deleted":true}`},
		{method: "DELETE", path: "/subjects/conf-value/versions/latest", status: 200, want: `1`},
		{method: "GET", path: "/subjects/conf-value/versions", status: 404, code: 40401, message: "Subject 'conf-value' not found."},
		{method: "DELETE", path: "/subjects/conf-value", status: 404, code: 40404,
			message: "Subject 'conf-value' was soft deleted.Set permanent=true to delete permanently"},
		{method: "DELETE", path: "/subjects/conf-invoice?permanent=true", status: 404, code: 40405,
			message: "Subject 'conf-invoice' was not deleted first before being permanently deleted"},
		{method: "DELETE", path: "/subjects/conf-value/versions/1?permanent=true", status: 200, want: `1`},
		{method: "DELETE", path: "/subjects/conf-value?permanent=true", status: 200, want: `[2]`},
		{method: "GET", path: "/subjects/conf-value/versions?deleted=true", status: 404, code: 40401, message: "Subject 'conf-value' not found."},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(confV1), status: 200, want: `{"id":1}`},

		// HTTP: unknown paths and methods, content negotiation.
		{method: "GET", path: "/nope", status: 404, code: 404, message: "HTTP 404 Not Found"},
		{method: "GET", path: "/subjects/conf-value/nope", status: 404, code: 404, message: "HTTP 404 Not Found"},
		{method: "PATCH", path: "/subjects", status: 405, code: 405, message: "HTTP 405 Method Not Allowed"},
		{method: "GET", path: "/subjects/conf-value/versions", accept: "application/json", status: 200, want: `[1]`, answerType: "application/json"},
		{method: "GET", path: "/subjects/conf-value/versions", accept: "application/vnd.schemaregistry+json", status: 200, want: `[1]`,
			answerType: "application/vnd.schemaregistry+json"},
		{method: "GET", path: "/subjects/conf-value/versions", accept: "text/plain", status: 406, code: 406, message: "HTTP 406 Not Acceptable"},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(confV1), ctype: "application/json", status: 200, want: `{"id":1}`},
		{method: "POST", path: "/subjects/conf-value/versions", body: schemaBody(confV1), ctype: "text/plain", status: 415, code: 415,
			message: "HTTP 415 Unsupported Media Type"},
	}
}

func runConformance(t *testing.T, base string) {
	cl := &http.Client{Timeout: 20 * time.Second}
	start := time.Now()
	steps := conformanceSteps()
	for i, s := range steps {
		var rd io.Reader
		if s.body != "" {
			rd = strings.NewReader(s.body)
		}
		req, err := http.NewRequest(s.method, base+s.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		ct := s.ctype
		if ct == "" && s.body != "" {
			ct = vendorJSON
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if s.accept != "" {
			req.Header.Set("Accept", s.accept)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("step %d %s %s: %v", i, s.method, s.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		where := fmt.Sprintf("step %d %s %s", i, s.method, s.path)
		if resp.StatusCode != s.status {
			t.Fatalf("%s: status %d, want %d: %s", where, resp.StatusCode, s.status, body)
		}
		wantType := s.answerType
		if wantType == "" {
			wantType = vendorJSON
		}
		if got := resp.Header.Get("Content-Type"); got != wantType {
			t.Errorf("%s: Content-Type %q, want %q", where, got, wantType)
		}
		switch {
		case s.raw != "":
			if string(body) != s.raw {
				t.Errorf("%s: body\n got %s\nwant %s", where, body, s.raw)
			}
		case s.code != 0:
			var e struct {
				Code    int    `json:"error_code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s: not a JSON error: %s", where, body)
			}
			ok := e.Message == s.message
			if prefix, found := strings.CutSuffix(s.message, "…"); found {
				ok = strings.HasPrefix(e.Message, prefix)
			}
			if e.Code != s.code || !ok {
				t.Errorf("%s: error %d %q, want %d %q", where, e.Code, e.Message, s.code, s.message)
			}
		default:
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: not JSON: %s", where, body)
			}
			if err := json.Unmarshal([]byte(s.want), &want); err != nil {
				t.Fatalf("%s: bad expectation %s: %v", where, s.want, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: body\n got %s\nwant %s", where, body, s.want)
			}
		}
	}
	t.Logf("%d steps at %s in %s", len(steps), base, time.Since(start).Round(time.Millisecond))
}
