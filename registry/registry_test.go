package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// instance is one registry instance served over HTTP for a test.
type instance struct {
	t   testing.TB
	reg *Registry
	srv *httptest.Server
	url string
	// client sends the test's requests (a TLS one for an https instance).
	client *http.Client
}

func newCluster(t testing.TB) *kfake.Cluster { return kafkatest.Cluster(t) }

func testLogger() *slog.Logger {
	if os.Getenv("REGISTRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startInstance(t testing.TB, cluster *kfake.Cluster, edit func(*Config)) *instance {
	t.Helper()
	return startInstanceWith(t, cluster, edit, nil)
}

// startInstanceWith is startInstance with options for New and, when wrap
// is set, a handler around the API (authentication, in tests of
// authorization).
func startInstanceWith(t testing.TB, cluster *kfake.Cluster, edit func(*Config), wrap func(http.Handler) http.Handler, opts ...Option) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Site = "east"
	cfg.Listen = ln.Addr().String()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.WriteTimeout = 10 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := New(cfg, testLogger(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(ctx); err != nil {
		_ = reg.Close(ctx)
		t.Fatal(err)
	}
	h := reg.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	// With an auth section, requests are authenticated as mesh-registry's are.
	auth, err := cfg.Common.Authenticator(testLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		t.Cleanup(auth.Close)
		h = auth.Middleware(h, "/healthz", "/readyz")
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	url := ""
	// With a tls section, the listener speaks TLS as mesh-registry's does.
	if ts, err := cfg.Common.ListenerTLS(testLogger()); err != nil {
		t.Fatal(err)
	} else if ts != nil {
		srv.Listener, url = tls.NewListener(ln, ts.Config()), "https://"+ln.Addr().String()
	}
	srv.Start()
	if url == "" {
		url = srv.URL
	}
	in := &instance{t: t, reg: reg, srv: srv, url: url, client: http.DefaultClient}
	t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	if in.srv != nil {
		in.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.reg.Close(ctx); err != nil {
			in.t.Errorf("close registry: %v", err)
		}
		in.srv = nil
	}
}

// waitReady waits for the instance to load the log (and, on the primary
// site, for a leader).
func (in *instance) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := in.reg.Ready(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) errorCode() int {
	var e APIError
	_ = json.Unmarshal(r.body, &e)
	return e.Code
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (in *instance) do(t testing.TB, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, in.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b, resp.Header}
}

// must asserts the status and returns the response.
func (in *instance) must(t testing.TB, status int, method, path string, body any) response {
	t.Helper()
	r := in.do(t, method, path, body)
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

func (in *instance) register(t testing.TB, subject, schema string) int {
	t.Helper()
	var res struct{ ID int }
	in.must(t, 200, "POST", "/subjects/"+subject+"/versions", map[string]any{"schema": schema}).decode(t, &res)
	return res.ID
}

const (
	orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`
	orderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"coupon","type":["null","string"],"default":null}]}`
	orderV3 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}`
)

func TestRegisterAndRead(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)

	id1 := in.register(t, "orders-value", orderV1)
	if id1 != 1 {
		t.Fatalf("first id %d, want 1", id1)
	}
	// Same schema, whitespace and attribute order differ: same id, no new version.
	same := `{ "namespace":"shop", "name":"Order", "type":"record",
	  "fields":[ {"type":"string","name":"id"} ] }`
	if id := in.register(t, "orders-value", same); id != id1 {
		t.Fatalf("equivalent schema got id %d, want %d", id, id1)
	}
	id2 := in.register(t, "orders-value", orderV2)
	if id2 != 2 {
		t.Fatalf("v2 id %d", id2)
	}
	// The same schema under another subject keeps its id.
	if id := in.register(t, "archive-value", orderV1); id != id1 {
		t.Fatalf("same schema in another subject got id %d, want %d", id, id1)
	}

	var versions []int
	in.must(t, 200, "GET", "/subjects/orders-value/versions", nil).decode(t, &versions)
	if fmt.Sprint(versions) != "[1 2]" {
		t.Fatalf("versions %v", versions)
	}
	var sv subjectVersion
	in.must(t, 200, "GET", "/subjects/orders-value/versions/latest", nil).decode(t, &sv)
	if sv.Version != 2 || sv.ID != id2 || sv.Subject != "orders-value" || sv.Schema != orderV2 {
		t.Fatalf("latest %+v", sv)
	}
	in.must(t, 200, "GET", "/subjects/orders-value/versions/-1", nil).decode(t, &sv)
	if sv.Version != 2 {
		t.Fatalf("-1 is latest, got %d", sv.Version)
	}
	if r := in.must(t, 200, "GET", "/subjects/orders-value/versions/1/schema", nil); string(r.body) != orderV1 {
		t.Fatalf("raw schema %s", r.body)
	}
	var byID schemaByID
	in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id1), nil).decode(t, &byID)
	if byID.Schema != orderV1 {
		t.Fatalf("by id %+v", byID)
	}
	in.must(t, 404, "GET", fmt.Sprintf("/schemas/ids/%d?subject=nope", id1), nil)
	var subjects []string
	in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d/subjects", id1), nil).decode(t, &subjects)
	if fmt.Sprint(subjects) != "[archive-value orders-value]" {
		t.Fatalf("subjects of id %v", subjects)
	}
	var uses []subjectVersionRef
	in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d/versions", id1), nil).decode(t, &uses)
	if len(uses) != 2 || uses[1] != (subjectVersionRef{"orders-value", 1}) {
		t.Fatalf("versions of id %v", uses)
	}
	in.must(t, 200, "GET", "/subjects?subjectPrefix=ord", nil).decode(t, &subjects)
	if fmt.Sprint(subjects) != "[orders-value]" {
		t.Fatalf("prefix filter %v", subjects)
	}
	var types []string
	in.must(t, 200, "GET", "/schemas/types", nil).decode(t, &types)
	var all []subjectVersion
	in.must(t, 200, "GET", "/schemas?latestOnly=true", nil).decode(t, &all)
	if len(all) != 2 {
		t.Fatalf("latest schemas %d", len(all))
	}

	// Lookup.
	in.must(t, 200, "POST", "/subjects/orders-value", map[string]any{"schema": same}).decode(t, &sv)
	if sv.Version != 1 || sv.ID != id1 {
		t.Fatalf("lookup %+v", sv)
	}
	if r := in.do(t, "POST", "/subjects/orders-value", map[string]any{"schema": orderV3}); r.errorCode() != codeSchemaNotFound {
		t.Fatalf("lookup of unregistered schema: %d %s", r.status, r.body)
	}
	if r := in.do(t, "POST", "/subjects/nope", map[string]any{"schema": orderV1}); r.errorCode() != codeSubjectNotFound {
		t.Fatalf("lookup in unknown subject: %s", r.body)
	}
}

func TestUnknownFieldsAreKept(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	body := `{"schema": ` + strconvQuote(orderV1) + `, "metadata": {"properties": {"owner": "shop-team"}}, "ruleSet": {"domainRules": []}, "futureField": 1}`
	in.must(t, 200, "POST", "/subjects/orders-value/versions", body)
	var sv subjectVersion
	in.must(t, 200, "GET", "/subjects/orders-value/versions/1", nil).decode(t, &sv)
	if !strings.Contains(string(sv.Metadata), "shop-team") || !strings.Contains(string(sv.RuleSet), "domainRules") {
		t.Fatalf("metadata and ruleSet must be kept: %+v", sv)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCompatibility(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "orders-value", orderV1)

	// BACKWARD by default: a new field without a default breaks it.
	r := in.must(t, 409, "POST", "/subjects/orders-value/versions", map[string]any{"schema": orderV3})
	if r.errorCode() != codeIncompatible || !strings.Contains(string(r.body), "total") {
		t.Fatalf("incompatible registration must name the field: %s", r.body)
	}
	var res struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	in.must(t, 200, "POST", "/compatibility/subjects/orders-value/versions/latest?verbose=true", map[string]any{"schema": orderV3}).decode(t, &res)
	if res.IsCompatible || len(res.Messages) == 0 || !strings.Contains(strings.Join(res.Messages, " "), "total") {
		t.Fatalf("verbose check %+v", res)
	}
	in.must(t, 200, "POST", "/compatibility/subjects/orders-value/versions", map[string]any{"schema": orderV2}).decode(t, &res)
	if !res.IsCompatible {
		t.Fatalf("v2 must be compatible: %+v", res)
	}

	// Config: per subject, global, errors.
	if r := in.do(t, "PUT", "/config/orders-value", map[string]string{"compatibility": "SIDEWAYS"}); r.errorCode() != codeInvalidCompatibilityLevel {
		t.Fatalf("bad level: %s", r.body)
	}
	if r := in.do(t, "GET", "/config/orders-value", nil); r.errorCode() != codeSubjectLevelCompatNotSet {
		t.Fatalf("unset subject config: %s", r.body)
	}
	var cfg map[string]string
	in.must(t, 200, "GET", "/config/orders-value?defaultToGlobal=true", nil).decode(t, &cfg)
	if cfg["compatibilityLevel"] != "BACKWARD" {
		t.Fatalf("default level %v", cfg)
	}
	in.must(t, 200, "PUT", "/config/orders-value", map[string]string{"compatibility": "none"})
	in.must(t, 200, "GET", "/config/orders-value", nil).decode(t, &cfg)
	if cfg["compatibilityLevel"] != "NONE" {
		t.Fatalf("subject level %v", cfg)
	}
	if id := in.register(t, "orders-value", orderV3); id == 0 {
		t.Fatal("NONE accepts anything")
	}
	in.must(t, 200, "DELETE", "/config/orders-value", nil)
	in.must(t, 200, "PUT", "/config", map[string]string{"compatibility": "FULL_TRANSITIVE"})
	in.must(t, 200, "GET", "/config", nil).decode(t, &cfg)
	if cfg["compatibilityLevel"] != "FULL_TRANSITIVE" {
		t.Fatalf("global level %v", cfg)
	}
}

func TestDeleteLifecycleAndIDsNeverReused(t *testing.T) {
	cluster := newCluster(t)
	in := startInstance(t, cluster, nil)
	in.waitReady(t)
	in.register(t, "a-value", orderV1)
	in.register(t, "a-value", orderV2)
	id3 := in.register(t, "b-value", `"string"`)

	// Hard delete before soft delete is refused.
	if r := in.do(t, "DELETE", "/subjects/b-value?permanent=true", nil); r.errorCode() != codeSubjectNotSoftDeleted {
		t.Fatalf("hard before soft: %s", r.body)
	}
	if r := in.do(t, "DELETE", "/subjects/a-value/versions/2?permanent=true", nil); r.errorCode() != codeVersionNotSoftDeleted {
		t.Fatalf("hard before soft (version): %s", r.body)
	}
	var deleted []int
	in.must(t, 200, "DELETE", "/subjects/b-value", nil).decode(t, &deleted)
	if fmt.Sprint(deleted) != "[1]" {
		t.Fatalf("soft delete answered %v", deleted)
	}
	if r := in.do(t, "DELETE", "/subjects/b-value", nil); r.errorCode() != codeSubjectSoftDeleted {
		t.Fatalf("second soft delete: %s", r.body)
	}
	if r := in.do(t, "GET", "/subjects/b-value/versions", nil); r.errorCode() != codeSubjectNotFound {
		t.Fatalf("soft-deleted subject must be hidden: %s", r.body)
	}
	in.must(t, 200, "GET", "/subjects/b-value/versions?deleted=true", nil)
	in.must(t, 200, "DELETE", "/subjects/b-value?permanent=true", nil)
	if r := in.do(t, "GET", fmt.Sprintf("/schemas/ids/%d", id3), nil); r.errorCode() != codeSchemaNotFound {
		t.Fatalf("a hard-deleted schema must be gone: %s", r.body)
	}

	// Version delete.
	in.must(t, 200, "DELETE", "/subjects/a-value/versions/2", nil)
	if r := in.do(t, "DELETE", "/subjects/a-value/versions/2", nil); r.errorCode() != codeSchemaVersionSoftDeleted {
		t.Fatalf("second soft delete of a version: %s", r.body)
	}
	in.must(t, 200, "DELETE", "/subjects/a-value/versions/2?permanent=true", nil)
	if r := in.do(t, "GET", "/subjects/a-value/versions/2", nil); r.errorCode() != codeVersionNotFound {
		t.Fatalf("hard-deleted version: %s", r.body)
	}

	// Restart: state comes back from the log, and the next id is still
	// past the highest ever assigned (3), though id 3 and its record are gone.
	in.stop()
	again := startInstance(t, cluster, nil)
	again.waitReady(t)
	if id := again.register(t, "c-value", `"long"`); id != 4 {
		t.Fatalf("after hard deletes and a restart the next id is %d, want 4", id)
	}
	var versions []int
	again.must(t, 200, "GET", "/subjects/a-value/versions", nil).decode(t, &versions)
	if fmt.Sprint(versions) != "[1]" {
		t.Fatalf("after restart a-value versions %v", versions)
	}
	if r := again.do(t, "GET", fmt.Sprintf("/schemas/ids/%d", id3), nil); r.errorCode() != codeSchemaNotFound {
		t.Fatalf("a hard-deleted schema must not come back after a restart: %s", r.body)
	}
}

func TestReferences(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	money := `{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	in.register(t, "shop.Money", money)
	withRef := map[string]any{
		"schema":     `{"type":"record","name":"Invoice","namespace":"shop","fields":[{"name":"total","type":"shop.Money"}]}`,
		"references": []Reference{{Name: "shop.Money", Subject: "shop.Money", Version: 1}},
	}
	var res struct{ ID int }
	in.must(t, 200, "POST", "/subjects/invoices-value/versions", withRef).decode(t, &res)
	var ids []int
	in.must(t, 200, "GET", "/subjects/shop.Money/versions/1/referencedby", nil).decode(t, &ids)
	if fmt.Sprint(ids) != fmt.Sprint([]int{res.ID}) {
		t.Fatalf("referencedby %v, want [%d]", ids, res.ID)
	}
	if r := in.do(t, "DELETE", "/subjects/shop.Money/versions/1", nil); r.errorCode() != codeReferenceExists {
		t.Fatalf("deleting a referenced schema: %s", r.body)
	}
	// Without the reference, the named type is unknown: invalid schema.
	noRef := map[string]any{"schema": withRef["schema"]}
	if r := in.do(t, "POST", "/subjects/other-value/versions", noRef); r.errorCode() != codeInvalidSchema {
		t.Fatalf("undeclared named type: %d %s", r.status, r.body)
	}
}

func TestModes(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	if r := in.do(t, "PUT", "/mode", map[string]string{"mode": "SIDEWAYS"}); r.errorCode() != codeInvalidMode {
		t.Fatalf("bad mode: %s", r.body)
	}
	in.must(t, 200, "PUT", "/mode", map[string]string{"mode": "IMPORT"})
	in.must(t, 200, "POST", "/subjects/imported-value/versions", map[string]any{"schema": orderV1, "id": 42, "version": 7})
	var sv subjectVersion
	in.must(t, 200, "GET", "/subjects/imported-value/versions/7", nil).decode(t, &sv)
	if sv.ID != 42 {
		t.Fatalf("imported %+v", sv)
	}
	if r := in.do(t, "POST", "/subjects/x-value/versions", map[string]any{"schema": orderV3, "id": 42}); r.errorCode() != codeOperationNotPermitted {
		t.Fatalf("importing another schema under a taken id: %s", r.body)
	}
	in.must(t, 200, "PUT", "/mode", map[string]string{"mode": "READWRITE"})
	if id := in.register(t, "next-value", `"int"`); id != 43 {
		t.Fatalf("after import the next id is %d, want 43", id)
	}
	if r := in.do(t, "POST", "/subjects/y-value/versions", map[string]any{"schema": `"int"`, "id": 99}); r.errorCode() != codeOperationNotPermitted {
		t.Fatalf("an id outside IMPORT mode: %s", r.body)
	}
	in.must(t, 200, "PUT", "/mode/imported-value", map[string]string{"mode": "READONLY"})
	if r := in.do(t, "POST", "/subjects/imported-value/versions", map[string]any{"schema": orderV2}); r.errorCode() != codeOperationNotPermitted {
		t.Fatalf("write to a READONLY subject: %s", r.body)
	}
	var m map[string]string
	in.must(t, 200, "GET", "/mode/imported-value", nil).decode(t, &m)
	if m["mode"] != "READONLY" {
		t.Fatalf("subject mode %v", m)
	}
	in.must(t, 200, "DELETE", "/mode/imported-value", nil)
	if r := in.do(t, "GET", "/mode/imported-value", nil); r.errorCode() != codeSubjectLevelModeNotSet {
		t.Fatalf("deleted subject mode: %s", r.body)
	}
}

func TestBadInput(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "s-value", `"string"`)
	for _, tc := range []struct {
		method, path string
		body         any
		status, code int
		want         string
	}{
		{"POST", "/subjects/s-value/versions", `{"schema": `, 400, 400, "invalid JSON"},
		{"POST", "/subjects/s-value/versions", `{"schema": 5}`, 422, 422, "schema"},
		{"POST", "/subjects/s-value/versions", map[string]any{"schema": `{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}`}, 422, codeInvalidSchema, "Invalid schema"},
		{"POST", "/subjects/s-value/versions", map[string]any{"schema": `"string"`, "schemaType": "PROTOBUF"}, 422, codeInvalidSchema, "AVRO only"},
		{"GET", "/subjects/nope/versions", nil, 404, codeSubjectNotFound, "Subject 'nope' not found"},
		{"GET", "/subjects/s-value/versions/9", nil, 404, codeVersionNotFound, "Version 9 not found"},
		{"GET", "/subjects/s-value/versions/zero", nil, 422, codeInvalidVersion, "not a valid version"},
		{"GET", "/subjects/s-value/versions/0", nil, 422, codeInvalidVersion, "not a valid version"},
		{"GET", "/schemas/ids/999", nil, 404, codeSchemaNotFound, "Schema 999 not found"},
		{"PUT", "/config", map[string]string{"compatibility": "MOSTLY"}, 422, codeInvalidCompatibilityLevel, "Valid values are"},
	} {
		r := in.do(t, tc.method, tc.path, tc.body)
		if r.status != tc.status || r.errorCode() != tc.code || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s %s: got %d %s, want %d error_code %d containing %q", tc.method, tc.path, r.status, r.body, tc.status, tc.code, tc.want)
		}
	}
}

func TestTwoInstancesElectOneWriter(t *testing.T) {
	cluster := newCluster(t)
	a := startInstance(t, cluster, nil)
	b := startInstance(t, cluster, nil)
	a.waitReady(t)
	b.waitReady(t)
	waitUntil(t, "exactly one leader", func() bool { return a.reg.IsLeader() != b.reg.IsLeader() })
	leader, follower := a, b
	if b.reg.IsLeader() {
		leader, follower = b, a
	}
	// A write at the follower is forwarded and readable at once on both.
	id := follower.register(t, "f-value", orderV1)
	for _, in := range []*instance{leader, follower} {
		in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil)
	}
	// The leader goes away: the follower takes over and writes.
	leader.stop()
	waitUntil(t, "the follower to lead", follower.reg.IsLeader)
	if id2 := follower.register(t, "f-value", orderV2); id2 != id+1 {
		t.Fatalf("new leader assigned id %d, want %d", id2, id+1)
	}
}

// TestFollowerSiteOnThePrimarysCluster runs a follower site without a
// replicator: it reads the primary's log on the primary's cluster
// (primary.kafka).
func TestFollowerSiteOnThePrimarysCluster(t *testing.T) {
	east := newCluster(t)
	primary := startInstance(t, east, nil)
	primary.waitReady(t)
	follower := startInstance(t, newCluster(t), func(c *Config) {
		c.Site = "west"
		k := kafkaclient.Defaults()
		k.Brokers = east.ListenAddrs()
		c.Primary = &Primary{URL: primary.url, Kafka: &k}
	})
	follower.waitReady(t)
	// A write at west is served with the same id at east and west.
	id := follower.register(t, "w-value", orderV1)
	for _, in := range []*instance{primary, follower} {
		var byID schemaByID
		in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil).decode(t, &byID)
		if byID.Schema != orderV1 {
			t.Fatalf("id %d differs between sites: %s", id, byID.Schema)
		}
	}
	// The primary is unreachable: west still reads, and writes fail clearly.
	primary.stop()
	follower.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil)
	r := follower.do(t, "POST", "/subjects/w-value/versions", map[string]any{"schema": orderV2})
	if r.status < 500 || r.errorCode() != codeForwardError || !strings.Contains(string(r.body), "leader") {
		t.Fatalf("write with the primary down: %d %s", r.status, r.body)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFencedLeaderStepsDown plays a zombie: another producer takes the
// registry's transactional id, as a newly elected leader would. The old
// leader's next write is refused by Kafka, and it steps down instead of
// writing twice.
func TestFencedLeaderStepsDown(t *testing.T) {
	cluster := newCluster(t)
	in := startInstance(t, cluster, nil)
	in.waitReady(t)
	waitUntil(t, "leadership", in.reg.IsLeader)
	in.register(t, "z-value", orderV1)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	usurper, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.TransactionalID(in.reg.cfg.Group+"-writer"),
		kgo.DefaultProduceTopic(in.reg.cfg.Topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer usurper.Close()
	if err := usurper.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := usurper.ProduceSync(ctx, &kgo.Record{Key: []byte(`{"keytype":"NOOP","magic":0}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := usurper.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	r := in.do(t, "POST", "/subjects/z-value/versions", map[string]any{"schema": orderV2})
	if r.status < 500 {
		t.Fatalf("a fenced leader must not accept the write: %d %s", r.status, r.body)
	}
	if in.reg.IsLeader() {
		t.Fatal("a fenced leader must step down")
	}
	var versions []int
	in.must(t, 200, "GET", "/subjects/z-value/versions", nil).decode(t, &versions)
	if fmt.Sprint(versions) != "[1]" {
		t.Fatalf("versions after the refused write: %v", versions)
	}
}
