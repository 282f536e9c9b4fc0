package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The tests in this file pin behaviour that Confluent Schema Registry's
// own source decides (its resources, KafkaSchemaRegistry and Errors
// classes): clients and their tests rely on it, status, error code and
// message alike.

// wantErr asserts an error answer: status, error_code and the exact
// message.
func wantErr(t *testing.T, r response, status, code int, message string) {
	t.Helper()
	var e APIError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not a JSON error (%d): %s", r.status, r.body)
	}
	if r.status != status || e.Code != code || e.Message != message {
		t.Fatalf("got %d %d %q, want %d %d %q", r.status, e.Code, e.Message, status, code, message)
	}
}

func TestCompatibilityAgainstMissingVersions(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	body := map[string]any{"schema": orderV1}
	// A named version of a subject that does not exist: 40402, not 40401.
	wantErr(t, in.do(t, "POST", "/compatibility/subjects/nope-value/versions/1", body), 404, codeVersionNotFound, "Version 1 not found.")
	// "latest" of no versions, or all versions of none: compatible.
	for _, path := range []string{"/compatibility/subjects/nope-value/versions/latest", "/compatibility/subjects/nope-value/versions"} {
		var res map[string]any
		in.must(t, 200, "POST", path, body).decode(t, &res)
		if res["is_compatible"] != true {
			t.Fatalf("%s: %v", path, res)
		}
	}
	in.register(t, "orders-value", orderV1)
	wantErr(t, in.do(t, "POST", "/compatibility/subjects/orders-value/versions/2", body), 404, codeVersionNotFound, "Version 2 not found.")
	// verbose turns an invalid schema into an incompatible answer.
	var res struct {
		Compatible bool     `json:"is_compatible"`
		Messages   []string `json:"messages"`
	}
	in.must(t, 200, "POST", "/compatibility/subjects/orders-value/versions/latest?verbose=true", map[string]any{"schema": `{"type":"nope"}`}).decode(t, &res)
	if res.Compatible || len(res.Messages) != 1 {
		t.Fatalf("verbose check of an invalid schema: %+v", res)
	}
}

func TestDeleteLatestTakesTheNewestLiveVersion(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "a-value", orderV1)
	in.register(t, "a-value", orderV2)
	in.must(t, 200, "DELETE", "/subjects/a-value/versions/2", nil)
	var v int
	in.must(t, 200, "DELETE", "/subjects/a-value/versions/latest", nil).decode(t, &v)
	if v != 1 {
		t.Fatalf("DELETE latest after version 2 was soft-deleted deleted version %d, want 1", v)
	}
	// Now no live version: latest is not found, named -1 as Confluent does.
	wantErr(t, in.do(t, "DELETE", "/subjects/a-value/versions/latest", nil), 404, codeVersionNotFound, "Version -1 not found.")
	wantErr(t, in.do(t, "DELETE", "/subjects/a-value/versions/2", nil), 404, codeSchemaVersionSoftDeleted,
		"Subject 'a-value' Version 2 was soft deleted.Set permanent=true to delete permanently")
	// GET latest with ?deleted=true is still the newest live version.
	wantErr(t, in.do(t, "GET", "/subjects/a-value/versions/latest?deleted=true", nil), 404, codeVersionNotFound, "Version -1 not found.")
}

func TestDocDifferenceIsANewVersion(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	plain := `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
	documented := `{"type":"record","name":"R","fields":[{"name":"a","type":"int","doc":"the a"}]}`
	id1 := in.register(t, "r-value", plain)
	id2 := in.register(t, "r-value", documented)
	if id1 == id2 {
		t.Fatalf("a schema differing only in a field's doc got the old id %d", id1)
	}
	var versions []int
	in.must(t, 200, "GET", "/subjects/r-value/versions", nil).decode(t, &versions)
	if fmt.Sprint(versions) != "[1 2]" {
		t.Fatalf("versions %v, want [1 2]", versions)
	}
	// The same schema written differently is still the same.
	if id := in.register(t, "r-value", `{ "fields": [ {"type": "int", "doc": "the a", "name": "a"} ], "name": "R", "type": "record" }`); id != id2 {
		t.Fatalf("the same schema in another layout got id %d, want %d", id, id2)
	}
}

func TestLookupOfAPrimitiveWrittenDifferently(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	id := in.register(t, "p-value", `{"type":"int","name":"x"}`)
	var sv subjectVersion
	in.must(t, 200, "POST", "/subjects/p-value", map[string]any{"schema": `{"type":"int"}`}).decode(t, &sv)
	if sv.ID != id || sv.Version != 1 || sv.Schema != `"int"` {
		t.Fatalf("lookup: %+v", sv)
	}
	in.must(t, 200, "POST", "/subjects/p-value", map[string]any{"schema": `"int"`})
	wantErr(t, in.do(t, "POST", "/subjects/p-value", map[string]any{"schema": `"long"`}), 404, codeSchemaNotFound, "Schema not found")
	wantErr(t, in.do(t, "POST", "/subjects/none-value", map[string]any{"schema": `"long"`}), 404, codeSubjectNotFound, "Subject 'none-value' not found.")
}

// get sends a GET with the given Accept header.
func (in *instance) get(t *testing.T, path, accept string) response {
	t.Helper()
	req, err := http.NewRequest("GET", in.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b, resp.Header}
}

func TestContentNegotiation(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	for _, tc := range []struct {
		accept string
		status int
		typ    string
	}{
		{"", 200, contentType},
		{"*/*", 200, contentType},
		{"application/json", 200, "application/json"},
		{"application/vnd.schemaregistry+json", 200, "application/vnd.schemaregistry+json"},
		{"application/vnd.schemaregistry.v1+json, application/json", 200, contentType},
		{"application/json; q=0.9, application/vnd.schemaregistry.v1+json; q=0.1", 200, "application/json"},
		{"application/*", 200, contentType},
		{"text/plain", 406, contentType},
		{"text/html, image/png", 406, contentType},
	} {
		r := in.get(t, "/subjects", tc.accept)
		if r.status != tc.status || r.header.Get("Content-Type") != tc.typ {
			t.Errorf("Accept %q: %d %s, want %d %s", tc.accept, r.status, r.header.Get("Content-Type"), tc.status, tc.typ)
		}
		if tc.status == 406 {
			wantErr(t, r, 406, 406, "HTTP 406 Not Acceptable")
		}
	}
	// Errors carry the negotiated type too.
	if r := in.get(t, "/subjects/nope/versions", "application/json"); r.status != 404 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("error with Accept: application/json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	// A body of a type the API does not read: 415 in JSON.
	req, _ := http.NewRequest("POST", in.url+"/subjects/x/versions", strings.NewReader(`{"schema":"\"int\""}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantErr(t, response{resp.StatusCode, b, resp.Header}, 415, 415, "HTTP 415 Unsupported Media Type")
}

func TestTrailingSlashAndJSONErrorsEverywhere(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "s-value", `"string"`)
	var subjects []string
	in.must(t, 200, "GET", "/subjects/", nil).decode(t, &subjects)
	if fmt.Sprint(subjects) != "[s-value]" {
		t.Fatalf("GET /subjects/: %v", subjects)
	}
	in.must(t, 200, "GET", "/subjects/s-value/versions/", nil)
	in.must(t, 200, "GET", "/schemas/ids/1/", nil)
	for _, path := range []string{"/nope", "/subjects/s-value/nope", "/schemas/ids/1/nope/more"} {
		r := in.do(t, "GET", path, nil)
		wantErr(t, r, 404, 404, "HTTP 404 Not Found")
		if r.header.Get("Content-Type") != contentType {
			t.Fatalf("%s: content type %q", path, r.header.Get("Content-Type"))
		}
	}
	wantErr(t, in.do(t, "PATCH", "/subjects", nil), 405, 405, "HTTP 405 Method Not Allowed")
}

func TestSchemaTextIsJavasAndStoredIDsAreKept(t *testing.T) {
	cluster := newCluster(t)
	in := startInstance(t, cluster, nil)
	in.waitReady(t)
	// A schema registered before texts were printed as Java does: written
	// to the log as submitted, as an older Meshwork registry did.
	old := `{"name": "Legacy", "type": "record", "fields": [{"type": "long", "name": "n"}]}`
	writeLog(t, cluster, schemaKey("legacy-value", 1), schemaValue{Subject: "legacy-value", Version: 1, ID: 7, Schema: old})
	waitUntil(t, "the legacy record applied", func() bool {
		return in.do(t, "GET", "/schemas/ids/7", nil).status == 200
	})
	// Registering the same schema, in any layout, finds id 7 and version 1.
	if id := in.register(t, "legacy-value", `{"type":"record","name":"Legacy","fields":[{"name":"n","type":"long"}]}`); id != 7 {
		t.Fatalf("the stored schema's id was not kept: got %d, want 7", id)
	}
	var versions []int
	in.must(t, 200, "GET", "/subjects/legacy-value/versions", nil).decode(t, &versions)
	if fmt.Sprint(versions) != "[1]" {
		t.Fatalf("versions %v", versions)
	}
	// A new schema is stored, and answered, as Java prints it.
	in.register(t, "new-value", `{ "namespace": "shop", "name": "Order", "type": "record", "doc": "An order",
	  "fields": [ {"type": "string", "name": "id", "default": "x", "doc": "the id"}, {"name": "n", "type": {"type": "int", "logicalType": "date"}} ] }`)
	want := `{"type":"record","name":"Order","namespace":"shop","doc":"An order","fields":[{"name":"id","type":"string","doc":"the id","default":"x"},{"name":"n","type":{"type":"int","logicalType":"date"}}]}`
	var sv subjectVersion
	in.must(t, 200, "GET", "/subjects/new-value/versions/1", nil).decode(t, &sv)
	if sv.Schema != want {
		t.Fatalf("stored text\n got %s\nwant %s", sv.Schema, want)
	}
	if raw := in.must(t, 200, "GET", "/subjects/new-value/versions/1/schema", nil); string(raw.body) != want {
		t.Fatalf("raw schema %s", raw.body)
	}
	// normalize=true registers the normalized form.
	var res struct{ ID int }
	in.must(t, 200, "POST", "/subjects/norm-value/versions?normalize=true", map[string]any{"schema": `{"type":"int","z":1,"a":2}`}).decode(t, &res)
	in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", res.ID), nil).decode(t, &sv)
	if sv.Schema != `{"type":"int","a":2,"z":1}` {
		t.Fatalf("normalized schema %s", sv.Schema)
	}
	in.must(t, 200, "POST", "/subjects/norm-value/versions", map[string]any{"schema": `{"type":"int","z":1,"a":2}`}).decode(t, &res)
	in.must(t, 200, "GET", fmt.Sprintf("/schemas/ids/%d", res.ID), nil).decode(t, &sv)
	if sv.Schema != `{"type":"int","z":1,"a":2}` {
		t.Fatalf("without normalize the properties keep their order: %s", sv.Schema)
	}
}

// writeLog writes one record to the schema log as another registry would.
func writeLog(t *testing.T, cluster interface{ ListenAddrs() []string }, key logKey, value any) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("_schemas"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	k, v, err := logRecord{key: key, value: value}.encode()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: k, Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestConfluentMessages(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "s-value", orderV1)
	wantErr(t, in.do(t, "GET", "/subjects/s-value/versions/9", nil), 404, codeVersionNotFound, "Version 9 not found.")
	wantErr(t, in.do(t, "GET", "/subjects/nope/versions/1", nil), 404, codeSubjectNotFound, "Subject 'nope' not found.")
	wantErr(t, in.do(t, "GET", "/schemas/ids/999", nil), 404, codeSchemaNotFound, "Schema 999 not found")
	wantErr(t, in.do(t, "POST", "/subjects/fresh-value/versions", map[string]any{"schema": ""}), 422, codeInvalidSchema, "Empty schema")
	wantErr(t, in.do(t, "PUT", "/config", map[string]string{"compatibility": "MOSTLY"}), 422, codeInvalidCompatibilityLevel,
		"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	wantErr(t, in.do(t, "PUT", "/mode", map[string]string{"mode": "SOMETIMES"}), 422, codeInvalidMode,
		"Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")
	wantErr(t, in.do(t, "GET", "/subjects/s-value/versions/0", nil), 422, codeInvalidVersion,
		`The specified version '0' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`)
	wantErr(t, in.do(t, "GET", "/config/s-value", nil), 404, codeSubjectLevelCompatNotSet, "Subject 's-value' does not have subject-level compatibility configured")
	wantErr(t, in.do(t, "DELETE", "/config/s-value", nil), 404, codeSubjectNotFound, "Subject 's-value' not found.")
	r := in.must(t, 409, "POST", "/subjects/s-value/versions", map[string]any{"schema": orderV3})
	var e APIError
	r.decode(t, &e)
	if e.Code != codeIncompatible || !strings.HasPrefix(e.Message, `Schema being registered is incompatible with an earlier schema for subject "s-value", details: [`) {
		t.Fatalf("incompatible: %s", r.body)
	}
	// An empty schema re-registers the latest version (Confluent takes it
	// from there).
	if id := in.register(t, "s-value", ""); id != 1 {
		t.Fatalf("empty schema under a subject with versions: id %d", id)
	}
	in.must(t, 200, "DELETE", "/subjects/s-value", nil)
	wantErr(t, in.do(t, "DELETE", "/subjects/s-value", nil), 404, codeSubjectSoftDeleted,
		"Subject 's-value' was soft deleted.Set permanent=true to delete permanently")
	in.register(t, "t-value", `"int"`)
	wantErr(t, in.do(t, "DELETE", "/subjects/t-value?permanent=true", nil), 404, codeSubjectNotSoftDeleted,
		"Subject 't-value' was not deleted first before being permanently deleted")
	wantErr(t, in.do(t, "DELETE", "/subjects/t-value/versions/1?permanent=true", nil), 404, codeVersionNotSoftDeleted,
		"Subject 't-value' Version 1 was not deleted first before being permanently deleted")
}

func TestInvalidUTF8SubjectIsKeyedAsTheLogKeysIt(t *testing.T) {
	cluster := newCluster(t)
	in := startInstance(t, cluster, nil)
	in.waitReady(t)
	id1 := in.register(t, "u%FF", orderV1)
	// An incompatible schema must be refused: the subject has a version.
	if r := in.do(t, "POST", "/subjects/u%FF/versions", map[string]any{"schema": orderV3}); r.status != 409 {
		t.Fatalf("incompatible schema under an invalid UTF-8 subject: %d %s", r.status, r.body)
	}
	in.register(t, "u%FF", orderV2)
	check := func(in *instance) {
		t.Helper()
		var versions []int
		in.must(t, 200, "GET", "/subjects/u%FF/versions", nil).decode(t, &versions)
		if fmt.Sprint(versions) != "[1 2]" {
			t.Fatalf("versions %v, want [1 2]", versions)
		}
		var subjects []string
		in.must(t, 200, "GET", "/subjects", nil).decode(t, &subjects)
		if fmt.Sprint(subjects) != "[u\uFFFD]" {
			t.Fatalf("subjects %q", subjects)
		}
		var sv subjectVersion
		in.must(t, 200, "GET", "/subjects/u%EF%BF%BD/versions/1", nil).decode(t, &sv)
		if sv.ID != id1 {
			t.Fatalf("version 1 has id %d, want %d", sv.ID, id1)
		}
	}
	check(in)
	// Rebuilt from the log, the state is the same.
	in.stop()
	again := startInstance(t, cluster, nil)
	again.waitReady(t)
	check(again)
	// Control characters are refused as Confluent refuses them.
	wantErr(t, again.do(t, "POST", "/subjects/a%01b/versions", map[string]any{"schema": `"int"`}), 422, codeInvalidSubject, "The specified subject 'a\x01b' is not a valid.")
}

func TestSubjectNamesAreNotTrimmed(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "%20padded%20", `"int"`)
	var subjects []string
	in.must(t, 200, "GET", "/subjects", nil).decode(t, &subjects)
	if len(subjects) != 1 || subjects[0] != " padded " {
		t.Fatalf("subjects %q, want [\" padded \"]", subjects)
	}
	wantErr(t, in.do(t, "GET", "/subjects/padded/versions", nil), 404, codeSubjectNotFound, "Subject 'padded' not found.")
}

func TestImportIDsStayWithin31Bits(t *testing.T) {
	cluster := newCluster(t)
	in := startInstance(t, cluster, nil)
	in.waitReady(t)
	in.must(t, 200, "PUT", "/mode", map[string]string{"mode": "IMPORT"})
	for _, id := range []int64{4294967296, 2147483648, -5} {
		r := in.do(t, "POST", "/subjects/big-value/versions", map[string]any{"schema": `"int"`, "id": id, "version": 1})
		if id > 0 && (r.status != 422 || r.errorCode() != 422) {
			t.Fatalf("id %d: %d %s", id, r.status, r.body)
		}
		if id < 0 && r.status != 200 { // a negative id asks for one, as in Confluent
			t.Fatalf("id %d: %d %s", id, r.status, r.body)
		}
	}
	in.must(t, 200, "POST", "/subjects/max-value/versions", map[string]any{"schema": `"long"`, "id": 2147483647, "version": 1})
	in.must(t, 200, "PUT", "/mode", map[string]string{"mode": "READWRITE"})
	r := in.do(t, "POST", "/subjects/next-value/versions", map[string]any{"schema": `"string"`})
	if r.status != 500 || r.errorCode() != codeStoreError || !strings.Contains(string(r.body), "2147483647") {
		t.Fatalf("a new id past 2^31-1: %d %s", r.status, r.body)
	}

	// A record with an id past 2^31-1 (written by an older registry) is
	// skipped, and does not move the next id.
	fresh := newCluster(t)
	other := startInstance(t, fresh, nil)
	other.waitReady(t)
	writeLog(t, fresh, schemaKey("old-value", 1), schemaValue{Subject: "old-value", Version: 1, ID: 1 << 32, Schema: `"int"`})
	writeLog(t, fresh, maxIDKey(), maxIDValue{MaxID: 1 << 33})
	writeLog(t, fresh, schemaKey("ok-value", 1), schemaValue{Subject: "ok-value", Version: 1, ID: 5, Schema: `"long"`})
	waitUntil(t, "the records applied", func() bool { return other.do(t, "GET", "/schemas/ids/5", nil).status == 200 })
	if id := other.register(t, "x-value", `"string"`); id != 6 {
		t.Fatalf("after out-of-range records the next id is %d, want 6", id)
	}
	wantErr(t, other.do(t, "GET", "/subjects/old-value/versions", nil), 404, codeSubjectNotFound, "Subject 'old-value' not found.")
}

func TestHardDeletedSchemaGetsItsIDBack(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	id := in.register(t, "a-value", orderV1)
	in.register(t, "b-value", `"int"`)
	in.must(t, 200, "DELETE", "/subjects/a-value", nil)
	in.must(t, 200, "DELETE", "/subjects/a-value?permanent=true", nil)
	wantErr(t, in.do(t, "GET", fmt.Sprintf("/schemas/ids/%d", id), nil), 404, codeSchemaNotFound, fmt.Sprintf("Schema %d not found", id))
	if again := in.register(t, "c-value", orderV1); again != id {
		t.Fatalf("a hard-deleted schema registered again got id %d, want its old id %d", again, id)
	}
	if next := in.register(t, "d-value", `"long"`); next != 3 {
		t.Fatalf("the next new schema got id %d, want 3", next)
	}
}

func TestListsPageAndSchemaUsesParity(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	for _, s := range []string{"a-value", "b-value", "c-value"} {
		in.register(t, s, `"string"`)
	}
	var subjects []string
	in.must(t, 200, "GET", "/subjects?offset=1&limit=1", nil).decode(t, &subjects)
	if fmt.Sprint(subjects) != "[b-value]" {
		t.Fatalf("paged subjects %v", subjects)
	}
	var uses []map[string]any
	in.must(t, 200, "GET", "/schemas/ids/1/versions?limit=2", nil).decode(t, &uses)
	if len(uses) != 2 {
		t.Fatalf("paged versions of id 1: %v", uses)
	}
	in.must(t, 200, "GET", "/schemas/ids/1/subjects?offset=2", nil).decode(t, &subjects)
	if fmt.Sprint(subjects) != "[c-value]" {
		t.Fatalf("paged subjects of id 1: %v", subjects)
	}
	wantErr(t, in.do(t, "GET", "/schemas/ids/9/versions", nil), 404, codeSchemaNotFound, "Schema not found")
	wantErr(t, in.do(t, "GET", "/schemas/ids/9/subjects", nil), 404, codeSchemaNotFound, "Schema not found")

	// referencedby with ?deleted=true also names referrers soft-deleted.
	money := `{"type":"record","name":"Money","fields":[{"name":"c","type":"long"}]}`
	in.register(t, "money", money)
	var res struct{ ID int }
	in.must(t, 200, "POST", "/subjects/inv-value/versions", map[string]any{
		"schema":     `{"type":"record","name":"Inv","fields":[{"name":"m","type":"Money"}]}`,
		"references": []Reference{{Name: "Money", Subject: "money", Version: 1}},
	}).decode(t, &res)
	in.must(t, 200, "DELETE", "/subjects/inv-value", nil)
	var ids []int
	in.must(t, 200, "GET", "/subjects/money/versions/1/referencedby", nil).decode(t, &ids)
	if len(ids) != 0 {
		t.Fatalf("referencedby without deleted: %v", ids)
	}
	in.must(t, 200, "GET", "/subjects/money/versions/1/referencedby?deleted=true", nil).decode(t, &ids)
	if fmt.Sprint(ids) != fmt.Sprintf("[%d]", res.ID) {
		t.Fatalf("referencedby with deleted: %v", ids)
	}
}

func TestIncompatibilityMessagesAreConfluents(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "o-value", orderV1)
	r := in.must(t, 409, "POST", "/subjects/o-value/versions", map[string]any{"schema": orderV3})
	var e APIError
	r.decode(t, &e)
	want := `Schema being registered is incompatible with an earlier schema for subject "o-value", details: [` +
		`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'total' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'total'}, ` +
		`{oldSchemaVersion: 1}, {oldSchema: '` + orderV1 + `'}, {validateFields: 'false', compatibility: 'BACKWARD'}]`
	if e.Code != codeIncompatible || e.Message != want {
		t.Fatalf("409 message\n got %s\nwant %s", e.Message, want)
	}
	var res struct {
		Compatible bool     `json:"is_compatible"`
		Messages   []string `json:"messages"`
	}
	in.must(t, 200, "POST", "/compatibility/subjects/o-value/versions/latest?verbose=true", map[string]any{"schema": orderV3}).decode(t, &res)
	if res.Compatible || len(res.Messages) != 4 || res.Messages[1] != "{oldSchemaVersion: 1}" {
		t.Fatalf("verbose messages %q", res.Messages)
	}
}

func TestImportModeClearsSoftDeletedVersions(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	in.register(t, "live-value", `"int"`)
	wantErr(t, in.do(t, "PUT", "/mode", map[string]string{"mode": "IMPORT"}), 422, codeOperationNotPermitted, "Cannot import since found existing subjects")
	in.must(t, 200, "DELETE", "/subjects/live-value", nil)
	// Only soft-deleted versions left: IMPORT is allowed, and hard-deletes them.
	in.must(t, 200, "PUT", "/mode", map[string]string{"mode": "IMPORT"})
	wantErr(t, in.do(t, "GET", "/subjects/live-value/versions?deleted=true", nil), 404, codeSubjectNotFound, "Subject 'live-value' not found.")
	in.must(t, 200, "POST", "/subjects/live-value/versions", map[string]any{"schema": `"long"`, "id": 10, "version": 1})
}

func TestIncompatibilityDetailsOfEachType(t *testing.T) {
	in := startInstance(t, newCluster(t), nil)
	in.waitReady(t)
	for _, tc := range []struct {
		old, new, want string
	}{
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`,
			`{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: INT not compatible with writer type: STRING'}`},
		{`{"type":"enum","name":"E","symbols":["A","B","C"]}`, `{"type":"enum","name":"E","symbols":["A"]}`,
			`{errorType:'MISSING_ENUM_SYMBOLS', description:'The new schema is missing enum symbols '[B, C]' at path '/symbols' in the old schema', additionalInfo:'[B, C]'}`},
		{`{"type":"fixed","name":"F","size":8}`, `{"type":"fixed","name":"F","size":4}`,
			`{errorType:'FIXED_SIZE_MISMATCH', description:'The size of FIXED type field at path '/size' in the new schema does not match with the old schema', additionalInfo:'expected: 8, found: 4'}`},
		{`{"type":"record","name":"R","fields":[]}`, `{"type":"record","name":"S","fields":[]}`,
			`{errorType:'NAME_MISMATCH', description:'The name of the schema has changed (path '/name')', additionalInfo:'expected: R'}`},
		// Avro Java locates this one at the writer's branch ('/1'); avrocompat
		// locates problems in the reader's schema, here the union itself.
		{`["null","string"]`, `["null","int"]`,
			`{errorType:'MISSING_UNION_BRANCH', description:'The new schema is missing a type inside a union field at path '/' in the old schema', additionalInfo:'reader union lacking writer type: STRING'}`},
	} {
		subject := fmt.Sprintf("d%d-value", len(tc.want))
		in.register(t, subject, tc.old)
		var res struct {
			Messages []string `json:"messages"`
		}
		in.must(t, 200, "POST", "/compatibility/subjects/"+subject+"/versions/latest?verbose=true", map[string]any{"schema": tc.new}).decode(t, &res)
		if len(res.Messages) == 0 || res.Messages[0] != tc.want {
			t.Errorf("%s -> %s:\n got %q\nwant %q", tc.old, tc.new, res.Messages, tc.want)
		}
	}
}
