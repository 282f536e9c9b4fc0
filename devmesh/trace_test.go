package devmesh

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/controlplane/traceindex"
	"github.com/meshwork/meshwork/internal/kafkatest"
	"github.com/meshwork/meshwork/trace"
)

// A message published at east's broker and read by a group at west is
// traced by the dev mesh's control plane: mqtt@east -> kafka@east ->
// replicator -> kafka@west, in order, through its API.
func TestControlPlaneTracesAnEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := Start(ctx, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ep := m.Endpoints()
	pub := connect(t, ep.Sites["east"].MQTT, "trace-pub")
	defer pub.Disconnect(100)
	if tok := pub.Publish("factory/1/temp", 1, false, "21.5"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	group, err := kgo.NewClient(kgo.SeedBrokers(ep.Sites["west"].Kafka), kgo.ConsumerGroup("west-trace"),
		kgo.ConsumeTopics(MQTTIngressTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	var rec *kgo.Record
	for rec == nil && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if recs := group.PollFetches(pctx).Records(); len(recs) > 0 {
			rec = recs[0]
		}
		pcancel()
	}
	if rec == nil {
		t.Fatal("the message never reached the group at west")
	}
	id := trace.EventOf(rec.Headers).ID
	var got traceindex.EventTrace
	kafkatest.Wait(t, 30*time.Second, func() error {
		resp, err := http.Get(ep.ControlPlane + "/v1/events/" + id + "/trace")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got = traceindex.EventTrace{}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return err
		}
		if len(got.Hops) < 3 {
			return fmt.Errorf("%d hops", len(got.Hops))
		}
		return nil
	})
	var steps []string
	for _, h := range got.Hops {
		steps = append(steps, strings.ToLower(h.Action.String())+"@"+h.Site)
	}
	if s := strings.Join(steps, " "); s != "ingress@east produced@east replicated@west" {
		t.Fatalf("hops: %s", s)
	}
}
