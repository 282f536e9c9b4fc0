package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// faultKafka is a single-node Apache Kafka (KRaft) that a fault test owns:
// its own ports and data directory, so the test may stop, kill and restart
// it without disturbing the shared end-to-end clusters, and, through a
// second listener, reachable by the mesh only by way of a proxy the test
// controls.
//
// It has two client listeners. PLAINTEXT (addr) is for the test's own
// producers and witnesses, which a cut must not touch. MESH is advertised at
// the proxy's address (meshAddr): a client that connects there learns from
// the broker's metadata to come back through the proxy, so every byte the
// mesh exchanges with this cluster crosses the proxy.
type faultKafka struct {
	name     string
	dir      string
	addr     string // PLAINTEXT, direct
	meshAddr string // MESH, as advertised: the proxy's address (or the listener itself)
	meshPort int    // where the MESH listener really listens
	proc     *exec.Cmd
	done     chan struct{}
	log      *os.File
}

// startFaultKafka formats and starts a broker named name. With proxied
// true, the MESH listener is advertised at a proxy address the caller must
// serve (meshAddr, forwarding to meshPort); otherwise MESH is advertised as
// itself.
func startFaultKafka(t *testing.T, name string, proxied bool) *faultKafka {
	t.Helper()
	cp := kafkaClasspath(t)
	ports := freePorts(t, 4) // plaintext, mesh, controller, proxy
	k := &faultKafka{
		name:     name,
		dir:      t.TempDir(),
		addr:     fmt.Sprintf("127.0.0.1:%d", ports[0]),
		meshPort: ports[1],
		meshAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
	}
	if proxied {
		k.meshAddr = fmt.Sprintf("127.0.0.1:%d", ports[3])
	}
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:%[3]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,MESH://127.0.0.1:%[2]d,CONTROLLER://127.0.0.1:%[3]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d,MESH://%[4]s,CONTROLLER://127.0.0.1:%[3]d
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,MESH:PLAINTEXT
log.dirs=%[5]s/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=4194304
`, ports[0], ports[1], ports[2], k.meshAddr, k.dir)
	if err := os.WriteFile(filepath.Join(k.dir, "server.properties"), []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(k.dir, "kafka.log"))
	if err != nil {
		t.Fatal(err)
	}
	k.log = logf
	t.Cleanup(func() { logf.Close() })
	// A cluster id as Kafka's Uuid.randomUuid makes it: never one whose
	// text begins with '-', which the tool's parser takes for an option.
	clusterID := "-"
	for strings.HasPrefix(clusterID, "-") {
		id := make([]byte, 16)
		rand.Read(id)
		clusterID = base64.RawURLEncoding.EncodeToString(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	format := exec.CommandContext(ctx, "java", append(k.jvmArgs(cp), "kafka.tools.StorageTool", "format",
		"-t", clusterID, "-c", filepath.Join(k.dir, "server.properties"), "--standalone")...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format the KRaft storage of %s: %v\n%s", name, err, out)
	}
	k.start(t)
	t.Cleanup(func() { k.kill(t) })
	return k
}

// kafkaClasspath reads the Kafka classpath that deploy/dev/install.sh caches.
func kafkaClasspath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(env(t, "MESH_E2E_KAFKA_CLASSPATH"))
	if err != nil {
		t.Fatalf("read the Kafka classpath (run deploy/dev/install.sh): %v", err)
	}
	return strings.TrimSpace(string(b))
}

func (k *faultKafka) jvmArgs(cp string) []string {
	return []string{"-Xms256M", "-Xmx256M", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError",
		"-XX:TieredStopAtLevel=1", "-Xshare:auto", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + deployFile("kafka", "log4j2-server.properties"),
		"-Dmeshwork.log.level=WARN", "-Dkafka.logs.dir=" + k.dir, "-Djava.io.tmpdir=" + k.dir,
		"-cp", cp}
}

func deployFile(parts ...string) string {
	p, _ := filepath.Abs(filepath.Join(append([]string{"..", "deploy", "dev"}, parts...)...))
	return p
}

// start runs the broker and waits until it answers metadata on its direct
// listener.
func (k *faultKafka) start(t *testing.T) {
	t.Helper()
	cmd := diesWithTest(exec.Command("java", append(k.jvmArgs(kafkaClasspath(t)), "kafka.Kafka", filepath.Join(k.dir, "server.properties"))...))
	cmd.Stdout, cmd.Stderr = k.log, k.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", k.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	k.proc, k.done = cmd, done
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor(t, 2*time.Minute, k.name+" to answer", func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(k.log.Name())
			t.Fatalf("%s exited while starting:\n%s", k.name, tail(string(b), 4000))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	})
}

// kill ends the broker with SIGKILL and waits for it to exit.
func (k *faultKafka) kill(t *testing.T) {
	t.Helper()
	k.signal(t, syscall.SIGKILL, 10*time.Second)
}

// stop ends the broker with SIGTERM (a controlled shutdown) and waits.
func (k *faultKafka) stop(t *testing.T) {
	t.Helper()
	k.signal(t, syscall.SIGTERM, time.Minute)
}

func (k *faultKafka) signal(t *testing.T, sig syscall.Signal, wait time.Duration) {
	t.Helper()
	select {
	case <-k.done:
		return
	default:
	}
	_ = k.proc.Process.Signal(sig)
	select {
	case <-k.done:
	case <-time.After(wait):
		_ = k.proc.Process.Kill()
		<-k.done
		if sig != syscall.SIGKILL {
			t.Logf("%s did not stop within %s of %v; killed", k.name, wait, sig)
		}
	}
}
