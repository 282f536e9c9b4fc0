package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/meshwork/meshwork/devmesh"
)

type devMesh struct {
	cmd       *exec.Cmd
	endpoints devmesh.Endpoints
	log       *os.File
}

// startDevMesh runs `meshd dev` as a user would, on free ports, and waits
// for it to write endpoints.json.
func startDevMesh(t *testing.T, bin, dir string, ports []int, extra ...string) *devMesh {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "meshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "dev", "-dir", dir,
		"-port", fmt.Sprintf("east.kafka=%d", ports[0]), "-port", fmt.Sprintf("east.mqtt=%d", ports[1]),
		"-port", fmt.Sprintf("west.kafka=%d", ports[2]), "-port", fmt.Sprintf("west.mqtt=%d", ports[3]),
		"-admin-port", fmt.Sprint(ports[4]), "-port", "controlplane=0")
	cmd.Args = append(cmd.Args, extra...)
	diesWithTest(cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &devMesh{cmd: cmd, log: logf}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 30*time.Second, "endpoints.json", func() error {
		ep, err := devmesh.ReadEndpoints(filepath.Join(dir, "endpoints.json"))
		if err != nil {
			return err
		}
		m.endpoints = ep
		return nil
	})
	return m
}

// stop interrupts meshd as Ctrl-C would and waits for a clean exit.
func (m *devMesh) stop(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			log, _ := os.ReadFile(m.log.Name())
			t.Fatalf("meshd exited with %v\n%s", err, log)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("meshd did not stop within 30s of SIGINT")
	}
}

// TestIntegrationDevMesh runs `meshd dev` and proves that clients Meshwork
// did not write (sarama, kcat, kafkajs) create topics, produce and consume
// on both sites, and that the events survive a restart.
func TestIntegrationDevMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/meshd")
	dir := t.TempDir()
	ports := freePorts(t, 5)
	m := startDevMesh(t, bin, dir, ports)

	if got := m.endpoints.Sites["east"].MQTT; got != fmt.Sprintf("tcp://127.0.0.1:%d", ports[1]) {
		t.Fatalf("east mqtt endpoint %q", got)
	}
	kcat := env(t, "MESH_E2E_KCAT")
	const n = 20
	for _, site := range []string{"east", "west"} {
		broker := m.endpoints.Sites[site].Kafka
		t.Run(site+"/sarama", func(t *testing.T) {
			// Each site its own topic: the other site holds an empty copy
			// of one created elsewhere (the topic catalog).
			saramaRoundTrip(ctx, t, broker, "devmesh.sarama."+site, n)
		})
		t.Run(site+"/kcat", func(t *testing.T) {
			topic := "devmesh.kcat." + site
			var in strings.Builder
			for i := range n {
				fmt.Fprintf(&in, "k%d:v%d\n", i, i)
			}
			run(ctx, t, []byte(in.String()), kcat, "-P", "-b", broker, "-t", topic, "-K:")
			out := run(ctx, t, nil, kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k=%s\n")
			if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != n || lines[0] != "k0=v0" {
				t.Fatalf("kcat consumed %d lines, first %q", len(lines), lines[0])
			}
		})
		t.Run(site+"/kafkajs", func(t *testing.T) {
			out := run(ctx, t, nil, "node", witnessPath("kafka_roundtrip.js"), broker, "devmesh.kafkajs."+site, itoa(n))
			var res struct{ Produced, Consumed int }
			if err := json.Unmarshal(out, &res); err != nil || res.Consumed != n {
				t.Fatalf("kafkajs: %s (%v)", out, err)
			}
		})
	}
	if t.Failed() {
		return
	}

	m.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "endpoints.json")); !os.IsNotExist(err) {
		t.Fatalf("a stopped mesh must remove its endpoints.json (stat: %v)", err)
	}
	m = startDevMesh(t, bin, dir, ports)
	defer m.stop(t)
	out := run(ctx, t, nil, kcat, "-C", "-b", m.endpoints.Sites["east"].Kafka, "-t", "devmesh.kcat.east", "-o", "beginning", "-e", "-q", "-f", "%k=%s\n")
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != n {
		t.Fatalf("after a restart east holds %d records, want %d", len(lines), n)
	}
}

// saramaRoundTrip creates topic, produces n records and consumes them with a
// sarama consumer group.
func saramaRoundTrip(ctx context.Context, t *testing.T, broker, topic string, n int) {
	t.Helper()
	cfg := saramaConfig()
	admin, err := sarama.NewClusterAdmin([]string{broker}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	producer, err := sarama.NewSyncProducer([]string{broker}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(fmt.Sprint("v", i))}); err != nil {
			t.Fatal(err)
		}
	}
	producer.Close()

	group, err := sarama.NewConsumerGroup([]string{broker}, topic+".group", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	h := &collectHandler{want: n, done: make(chan struct{}), seen: map[string]bool{}}
	gctx, gcancel := context.WithTimeout(ctx, time.Minute)
	defer gcancel()
	go func() {
		for gctx.Err() == nil {
			if err := group.Consume(gctx, []string{topic}, h); err != nil && gctx.Err() == nil {
				t.Errorf("consume: %v", err)
				return
			}
		}
	}()
	select {
	case <-h.done:
	case <-gctx.Done():
		t.Fatalf("sarama group consumed %d of %d records", h.count(), n)
	}
}

// collectHandler records distinct values; sarama calls ConsumeClaim once
// per partition, concurrently.
type collectHandler struct {
	want int
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	seen map[string]bool
}

func (h *collectHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *collectHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *collectHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func (h *collectHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.mu.Lock()
		h.seen[string(msg.Value)] = true
		n := len(h.seen)
		h.mu.Unlock()
		sess.MarkMessage(msg, "")
		if n >= h.want {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}
