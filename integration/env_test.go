package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/adapters/mqtt"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// env returns a required environment variable; the e2e tier fails rather
// than skips when its services are missing, so a broken setup cannot pass.
func env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests with `make e2e`, which starts the services (deploy/dev/up.sh) and loads .e2e/env.sh", name)
	}
	return v
}

// uniq returns a name unique to this run, so reruns against the same
// long-lived services never see each other's data.
func uniq(prefix string) string {
	return fmt.Sprintf("%s.%d", prefix, time.Now().UnixNano())
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// run runs a command to completion and returns its stdout; a failure reports
// the command and its stderr.
func run(ctx context.Context, t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := tryRun(ctx, stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryRun runs a command to completion and returns its stdout, or an error
// naming the command and holding its stderr, for polling a condition that
// may not hold yet.
func tryRun(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// witness starts a long-running witness process and returns a channel of its
// stdout lines; the process is killed when the test ends.
type witness struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedWriter // of a bytes.Buffer
	done   chan error
}

// diesWithTest makes the process cmd starts end when the test process does,
// however it ends: a test that panics (a data race found, a deadline)
// runs no cleanup, and a replicator left running would join the next
// tests' slot groups and take half their work.
func diesWithTest(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func startWitness(ctx context.Context, t *testing.T, extraEnv []string, name string, args ...string) *witness {
	t.Helper()
	cmd := diesWithTest(exec.CommandContext(ctx, name, args...))
	cmd.Env = append(os.Environ(), extraEnv...)
	w := &witness{cmd: cmd, lines: make(chan string, 1024), stderr: &lockedWriter{w: &bytes.Buffer{}}, done: make(chan error, 1)}
	cmd.Stderr = w.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
		w.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return w
}

// next returns the witness's next stdout line, failing the test on timeout
// or if the process ends first.
func (w *witness) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			t.Fatalf("witness %s exited early: %v\nstderr:\n%s", w.cmd.Path, <-w.done, w.stderr.String())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("witness %s said nothing for %s\nstderr:\n%s", w.cmd.Path, timeout, w.stderr.String())
	}
	return ""
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// String returns what was written so far, when the writer is a
// bytes.Buffer.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*bytes.Buffer).String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_6_0_0
	c.ClientID = "meshwork-integration-sarama"
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	return c
}

func witnessPath(name string) string {
	p, _ := filepath.Abs(filepath.Join("witness", name))
	return p
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestMain(m *testing.M) {
	// Node witnesses resolve their packages from the cache that
	// deploy/dev/install.sh fills.
	if p := os.Getenv("MESH_E2E_NODE_PATH"); p != "" && os.Getenv("NODE_PATH") == "" {
		os.Setenv("NODE_PATH", p)
	}
	os.Exit(m.Run())
}

// createTopics creates topics with the given partition count, failing the
// test if any could not be created.
func createTopics(tb testing.TB, kafka string, partitions int32, topics ...string) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).CreateTopics(context.Background(), partitions, 1, nil, topics...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		tb.Fatalf("create topics %v: %v", topics, err)
	}
	// Topics go when the test does, and so do the copies replicators made
	// of them at the other clusters: benchmarks create hundreds, and a
	// broker's heap and metadata grow with every partition it keeps.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, name := range []string{"MESH_E2E_KAFKA_EAST", "MESH_E2E_KAFKA_WEST", "MESH_E2E_KAFKA_NORTH"} {
			broker := os.Getenv(name)
			if broker == "" {
				continue
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
			if err != nil {
				tb.Error(err)
				return
			}
			deleteTopics(ctx, tb, kadm.NewClient(cl), topics...)
			cl.Close()
		}
	})
}

// startAdapter runs an MQTT adapter in this process until the test ends
// and waits until it is ready.
func startAdapter(ctx context.Context, tb testing.TB, cfg mqtt.Config) *mqtt.Adapter {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	a, err := mqtt.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close(context.Background()) })
	waitFor(tb, 30*time.Second, "adapter ready", func() error { return a.Ready(ctx) })
	return a
}
