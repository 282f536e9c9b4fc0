package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIntegrationRESTShutdownAfterChurn makes, changes and deletes webhook
// subscriptions quickly, as schemathesis does (each change replaces the
// subscription's group member), then stops mesh-rest: it must exit well
// within its shutdown timeout, without leaving group leaves behind.
func TestIntegrationRESTShutdownAfterChurn(t *testing.T) {
	kafka := env(t, "MESH_E2E_KAFKA_EAST")
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "it.rest.churn." + suffix
	createTopics(t, kafka, 3, topic)
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(204)
	}))
	defer recv.Close()
	port := freePorts(t, 1)[0]
	p := startREST(t, buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-rest"), port, kafka, "", suffix)
	do := func(method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	subs := map[string]string{}
	for i := range 6 {
		id := fmt.Sprintf("churn-%d", i)
		target := topic
		switch i % 3 {
		case 1:
			target = "it.rest.churn.none." + suffix // no such topic
		case 2:
			target = "it\\.rest\\.churn\\." + suffix + ".*"
		}
		subs[id] = fmt.Sprintf(`{"id":%q,"topic":%q,"pattern":%v,"url":%q}`, id, target, i%3 == 2, recv.URL)
		do("POST", "/v1/subscriptions", subs[id], 201)
	}
	// The groups joined once records produced after the subscriptions
	// reach the receiver (four subscriptions read the topic).
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor(t, 60*time.Second, "deliveries of every subscription of the topic", func() error {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			return err
		}
		if n := got.Load(); n < 8 {
			return fmt.Errorf("%d deliveries", n)
		}
		return nil
	})
	for id, sub := range subs {
		for range 3 {
			do("PUT", "/v1/subscriptions/"+id, sub, 200)
		}
		if strings.HasSuffix(id, "0") || strings.HasSuffix(id, "3") {
			do("DELETE", "/v1/subscriptions/"+id, "", 204)
		}
	}
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	took := time.Since(start)
	log, _ := os.ReadFile(p.log)
	if took > 10*time.Second || strings.Contains(string(log), "still running") || strings.Contains(string(log), "did not finish") {
		t.Fatalf("mesh-rest took %s to stop:\n%s", took, log)
	}
	t.Logf("stopped in %s", took)
}
