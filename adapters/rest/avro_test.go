package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/registry"
	"github.com/meshwork/meshwork/registry/serde"
)

// startRegistry runs the mesh's schema registry on cluster and returns
// its URL once it takes writes.
func startRegistry(t *testing.T, cluster *kfake.Cluster) string {
	t.Helper()
	cfg := registry.DefaultConfig()
	cfg.Site, cfg.Listen, cfg.Kafka.Brokers = "east", "127.0.0.1:0", cluster.ListenAddrs()
	reg, err := registry.New(cfg, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = reg.Close(cctx)
	})
	for reg.Ready(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatalf("registry not ready: %v", reg.Ready(ctx))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv.URL
}

const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"double"},{"name":"note","type":["null","string"],"default":null}]}`

// Avro records are encoded with the schema the request names, registered
// through the registry, and written in the Confluent wire format; records
// that do not fit are 422 and nothing is written.
func TestV2AvroThroughTheRegistry(t *testing.T) {
	cluster := kafkatest.Cluster(t, kfake.SeedTopics(3, "orders"))
	url := startRegistry(t, cluster)
	e := newEnv(t, cluster, func(c *Config) { c.Registry = Registry{URL: url, AutoRegister: true} })
	schemaJSON, _ := json.Marshal(orderSchema)
	status, _, body := e.do("POST", "/topics/orders", mediaAvroV2, []byte(fmt.Sprintf(
		`{"value_schema":%s,"records":[{"value":{"id":"o1","total":12.5,"note":{"string":"gift"}}},{"value":{"id":"o2","total":3,"note":null}}]}`, schemaJSON)))
	var resp v2Response
	if err := json.Unmarshal(body, &resp); status != 200 || err != nil || resp.ValueSchemaID == nil || resp.KeySchemaID != nil {
		t.Fatalf("%d %s", status, body)
	}
	id := *resp.ValueSchemaID
	status, _, body = e.do("POST", "/topics/orders", mediaAvroV2, []byte(fmt.Sprintf(
		`{"value_schema_id":%d,"records":[{"value":{"id":"o3","total":1}}]}`, id)))
	if status != 200 || !strings.Contains(string(body), fmt.Sprintf(`"value_schema_id":%d`, id)) {
		t.Fatalf("by id: %d %s", status, body)
	}
	cl, _ := sr.NewClient(sr.URLs(url))
	sd, _ := serde.New(cl)
	recs := kafkatest.Read(t, cluster, "orders", 3, 10*time.Second)
	for _, r := range recs {
		doc, gotID, err := sd.DecodeJSON(context.Background(), r.Value)
		if err != nil || gotID != id || !strings.Contains(string(doc), `"id":"o`) {
			t.Fatalf("record not in the wire format with id %d: %v %s", id, err, doc)
		}
		if header(r, "content-type") != "application/vnd.apache.avro+binary" {
			t.Fatalf("content-type %q", header(r, "content-type"))
		}
	}
	cases := []struct {
		name, body string
		code       int
	}{
		{"misfit", fmt.Sprintf(`{"value_schema_id":%d,"records":[{"value":{"id":"o4","total":1}},{"value":{"id":5}}]}`, id), CodeAvroConversion},
		{"no value schema", `{"records":[{"value":{"id":"o4"}}]}`, CodeValueSchemaMiss},
		{"no key schema", fmt.Sprintf(`{"value_schema_id":%d,"records":[{"key":"k","value":{"id":"o4","total":1}}]}`, id), CodeKeySchemaMissing},
		{"invalid schema", `{"value_schema":"{\"type\":\"record\"}","records":[{"value":{}}]}`, CodeInvalidSchema},
		{"unknown id", `{"value_schema_id":999999,"records":[{"value":{}}]}`, CodeInvalidSchema},
	}
	for _, c := range cases {
		status, _, body := e.do("POST", "/topics/orders", mediaAvroV2, []byte(c.body))
		if status != 422 || errorCode(t, body) != c.code {
			t.Errorf("%s: %d %s, want 422 %d", c.name, status, body, c.code)
		}
	}
	if n := e.ends("orders"); n != 3 {
		t.Fatalf("%d records written, want 3", n)
	}
}
