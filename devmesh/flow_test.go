package devmesh

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// testBroker is a broker alone, whose bridge session is "bridge".
func testBroker(t *testing.T, cfg BrokerConfig) *broker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := startBroker("test", 0, t.TempDir(), cfg, "bridge", nil, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.close() })
	return b
}

// TestHeldPublisherThatReconnectsLosesNothing: a publisher held long
// enough to give up on its connection (its keep-alive) sends again on a new
// one; the bridge gets every message once it returns.
func TestHeldPublisherThatReconnectsLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultBrokerConfig()
	cfg.SessionQueue = 10
	b := testBroker(t, cfg)
	url := "tcp://" + b.addr
	const total = 30

	var mu sync.Mutex
	got := map[string]bool{}
	bridgeOpts := paho.NewClientOptions().AddBroker(url).SetClientID("bridge").SetCleanSession(false).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			mu.Lock()
			got[string(m.Payload())] = true
			mu.Unlock()
		})
	bridge := paho.NewClient(bridgeOpts)
	if tok := bridge.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := bridge.Subscribe("#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	bridge.Disconnect(100)

	var connects atomic.Int32
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("pub").SetCleanSession(false).
		SetKeepAlive(time.Second).SetPingTimeout(time.Second).SetMaxReconnectInterval(100 * time.Millisecond).
		SetOnConnectHandler(func(paho.Client) { connects.Add(1) }))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	toks := make([]paho.Token, total)
	for i := range toks {
		toks[i] = pub.Publish("t/"+strconv.Itoa(i), 1, false, strconv.Itoa(i))
	}
	waitFor(ctx, t, "the publisher to be held", func() bool { return b.flow.held.Load() > 0 })
	// Held past its keep-alive, the publisher reconnects and sends again
	// (and is held again).
	waitFor(ctx, t, "the publisher to reconnect", func() bool { return connects.Load() >= 2 })

	bridge = paho.NewClient(bridgeOpts)
	if tok := bridge.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer bridge.Disconnect(100)
	wait, cancelWait := context.WithTimeout(ctx, 20*time.Second)
	defer cancelWait()
	for wait.Err() == nil {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == total {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var missing []int
	for i := range total {
		if !got[strconv.Itoa(i)] {
			missing = append(missing, i)
		}
	}
	bs, _ := b.srv.Clients.Get("bridge")
	t.Fatalf("the bridge got %d of %d messages; missing %v (publisher connected %d times; bridge session holds %d)", len(got), total, missing, connects.Load(), bs.State.Inflight.Len())
}
