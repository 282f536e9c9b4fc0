package rest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestV3ClustersAndSingleRecord(t *testing.T) {
	e := newEnv(t, nil, nil)
	status, _, body := e.do("GET", "/v3/clusters", "", nil)
	var list struct {
		Data []struct {
			ClusterID string `json:"cluster_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); status != 200 || err != nil || len(list.Data) != 1 || list.Data[0].ClusterID == "" {
		t.Fatalf("clusters %d: %s", status, body)
	}
	id := list.Data[0].ClusterID
	path := "/v3/clusters/" + id + "/topics/orders/records"
	status, _, body = e.do("POST", path, "application/json",
		[]byte(`{"partition_id":1,"headers":[{"name":"tenant","value":"YWNtZQ=="}],"key":{"type":"STRING","data":"k1"},"value":{"type":"JSON","data":{"n":1}}}`))
	var res v3Result
	if err := json.Unmarshal(body, &res); status != 200 || err != nil || res.ErrorCode != 200 || *res.PartitionID != 1 || res.Value.Type != "JSON" || res.Value.Size != 7 {
		t.Fatalf("produce %d: %s", status, body)
	}
	r := kafkatest.Read(t, e.kafka, "orders", 1, 10*time.Second)[0]
	if string(r.Key) != "k1" || string(r.Value) != `{"n":1}` || header(r, "tenant") != "acme" || r.Partition != 1 || header(r, "ce_id") == "" {
		t.Fatalf("record %+v", r)
	}
	status, _, body = e.do("POST", "/v3/clusters/other/topics/orders/records", "application/json", []byte(`{"value":{"type":"JSON","data":1}}`))
	if status != 404 {
		t.Fatalf("unknown cluster: %d %s", status, body)
	}
	status, _, body = e.do("POST", "/v3/clusters/"+id+"/topics/nope/records", "application/json", []byte(`{"value":{"type":"JSON","data":1}}`))
	if status != 404 || errorCode(t, body) != CodeTopicNotFound {
		t.Fatalf("unknown topic: %d %s", status, body)
	}
	status, _, body = e.do("POST", path, "application/json", []byte(`{"value":{"type":"BINARY","data":"%%%"}}`))
	if status != 400 {
		t.Fatalf("bad base64: %d %s", status, body)
	}
}

// A stream of records is answered record by record, in order, while the
// client is still sending: the first answer arrives before the second
// record is sent.
func TestV3StreamingProduce(t *testing.T) {
	e := newEnv(t, nil, nil)
	id, err := e.a.clusterID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v3/clusters/"+id+"/topics/orders/records", pr)
	req.Header.Set("Content-Type", "application/json")
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(respc)
			return
		}
		respc <- resp
	}()
	if _, err := fmt.Fprint(pw, `{"key":{"type":"STRING","data":"a"},"value":{"type":"STRING","data":"one"}}`); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	select {
	case resp = <-respc:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the first record of a stream still open")
	}
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	next := func() v3Result {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var r v3Result
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, lines.Bytes())
		}
		return r
	}
	if r := next(); resp.StatusCode != 200 || r.ErrorCode != 200 || r.Offset == nil {
		t.Fatalf("first answer %d %+v", resp.StatusCode, r)
	}
	// A bad record in the middle is answered in its place; the stream goes on.
	fmt.Fprint(pw, `{"value":{"type":"BINARY","data":"!!"}}`+"\n"+`{"key":{"type":"STRING","data":"a"},"value":{"type":"STRING","data":"three"}}`)
	pw.Close()
	if r := next(); r.ErrorCode != 400 || !strings.Contains(r.Message, "base64") {
		t.Fatalf("second answer %+v", r)
	}
	if r := next(); r.ErrorCode != 200 {
		t.Fatalf("third answer %+v", r)
	}
	if lines.Scan() {
		t.Fatalf("an answer too many: %s", lines.Bytes())
	}
	recs := kafkatest.Read(t, e.kafka, "orders", 2, 10*time.Second)
	if string(recs[0].Value) != "one" || string(recs[1].Value) != "three" {
		t.Fatalf("records out of order: %q %q", recs[0].Value, recs[1].Value)
	}
}
