package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// secureKafka is a single-node Apache Kafka (KRaft) that a test owns, with
// one client listener, SASL_SSL: TLS with a certificate the test's CA
// issued (a PEM keystore and truststore, as Kafka reads them since 2.7) and
// SASL/SCRAM-SHA-512 with users made when its storage is formatted (and
// SASL/PLAIN with the same users and passwords, see below). The
// broker talks to itself on that listener too, as admin; only the
// controller listener, which serves the controller's own APIs, is plain.
type secureKafka struct {
	*faultKafka
	ca        *tlstest.CA
	passwords map[string]string // by user
	secrets   string            // a password_file per user
}

// startSecureKafka formats and starts a secure broker with the given users
// (admin is always one), each with a random password.
func startSecureKafka(t *testing.T, users ...string) *secureKafka {
	t.Helper()
	cp := kafkaClasspath(t)
	ports := freePorts(t, 2) // SASL_SSL, controller
	dir := t.TempDir()
	k := &secureKafka{
		faultKafka: &faultKafka{name: "kafka-secure", dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", ports[0])},
		ca:         tlstest.NewCA(t, dir, "kafka-secure"),
		passwords:  map[string]string{},
		secrets:    filepath.Join(dir, "secrets"),
	}
	leaf := k.ca.Issue(t, tlstest.Spec{CN: "localhost"})
	// A PEM keystore: the private key (PKCS#8) and the certificate chain.
	tlstest.Write(t, filepath.Join(dir, "keystore.pem"), append(append([]byte{}, leaf.KeyPEM...), leaf.CertPEM...))
	if err := os.MkdirAll(k.secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	format := []string{"kafka.tools.StorageTool", "format", "-t", clusterID(), "-c", filepath.Join(dir, "server.properties"), "--standalone"}
	for _, u := range append([]string{"admin"}, users...) {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		k.passwords[u] = base64.RawURLEncoding.EncodeToString(b)
		if err := os.WriteFile(k.passwordFile(u), []byte(k.passwords[u]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		format = append(format, "--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", u, k.passwords[u]))
	}
	// PLAIN too, over the same TLS listener, for clients whose SCRAM
	// Kafka 4 refuses: librdkafka before 2.6.1 (kcat 1.7 bundles 2.0.2)
	// repeats the client nonce in its final message, which Kafka 4 checks
	// strictly (RFC 5802).
	plainUsers := ""
	for _, u := range slices.Sorted(maps.Keys(k.passwords)) {
		plainUsers += fmt.Sprintf(" user_%s=%q", u, k.passwords[u])
	}
	plainUsers = strings.TrimSpace(plainUsers)
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:%[2]d
listeners=SASL_SSL://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=SASL_SSL://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%[4]s";
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required %[6]s;
ssl.keystore.type=PEM
ssl.keystore.location=%[3]s/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=%[5]s
ssl.client.auth=none
log.dirs=%[3]s/data
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
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=4194304
`, ports[0], ports[1], dir, k.passwords["admin"], k.ca.File, plainUsers)
	if err := os.WriteFile(filepath.Join(dir, "server.properties"), []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "kafka.log"))
	if err != nil {
		t.Fatal(err)
	}
	k.log = logf
	t.Cleanup(func() { logf.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "java", append(k.jvmArgs(cp), format...)...).CombinedOutput(); err != nil {
		t.Fatalf("format the KRaft storage of %s: %v\n%s", k.name, err, out)
	}
	cmd := diesWithTest(exec.Command("java", append(k.jvmArgs(cp), "kafka.Kafka", filepath.Join(dir, "server.properties"))...))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", k.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	k.proc, k.done = cmd, done
	t.Cleanup(func() { k.kill(t) })
	cl := k.client(t, "admin")
	waitFor(t, 2*time.Minute, k.name+" to answer over SASL_SSL", func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited while starting:\n%s", k.name, tail(string(b), 4000))
		default:
		}
		pctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return cl.Ping(pctx)
	})
	return k
}

// clusterID is a KRaft cluster id as Kafka's Uuid.randomUuid makes it:
// never one whose text begins with '-', which the tool's parser takes for
// an option.
func clusterID() string {
	id := "-"
	for strings.HasPrefix(id, "-") {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id = base64.RawURLEncoding.EncodeToString(b)
	}
	return id
}

func (k *secureKafka) passwordFile(user string) string { return filepath.Join(k.secrets, user) }

// kafkaYAML is a service's kafka block for this broker, as user: TLS
// verified by the test's CA, SASL/SCRAM-SHA-512 with the user's password
// file.
func (k *secureKafka) kafkaYAML(user string) string {
	return fmt.Sprintf(`kafka:
  brokers: [%q]
  tls: {enabled: true, ca_file: %q}
  sasl: {mechanism: SCRAM-SHA-512, username: %s, password_file: %q}
`, k.addr, k.ca.File, user, k.passwordFile(user))
}

// client is a franz-go client of the broker as user, closed with the test.
func (k *secureKafka) client(t *testing.T, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.addr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: k.ca.Pool(), MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: user, Pass: k.passwords[user]}.AsSha512Mechanism())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
