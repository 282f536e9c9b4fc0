package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/registry/serde"
)

// serviceProc is a service process (mesh-registry, mesh-mqtt) started for a test.
type serviceProc struct {
	cmd  *exec.Cmd
	url  string
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func buildBinary(tb testing.TB, pkg string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run(ctx, tb, nil, "go", "build", "-o", bin, pkg)
	return bin
}

// startService writes cfg to a file, runs the service binary on it and waits
// for /readyz.
func startService(t *testing.T, bin, name, cfg string, port int) *serviceProc {
	t.Helper()
	p := launchService(t, bin, name, cfg, port)
	p.waitReady(t, name, 60*time.Second)
	return p
}

// launchService writes cfg to a file and runs the service binary on it,
// stopped when the test ends.
func launchService(t testing.TB, bin, name, cfg string, port int) *serviceProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := diesWithTest(exec.Command(bin, "-config", path))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serviceProc{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitReady waits up to timeout for the service's /readyz to answer 200,
// and fails t if the process exits first.
func (p *serviceProc) waitReady(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, name+" /readyz", func() error {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited: %v\n%s", name, p.err, b)
		default:
		}
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %s", resp.Status)
		}
		return nil
	})
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *serviceProc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			b, _ := os.ReadFile(p.log)
			t.Errorf("%s exited with %v:\n%s", filepath.Base(p.cmd.Path), p.err, b)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 30s of SIGTERM", filepath.Base(p.cmd.Path))
	}
}

// TestIntegrationRegistry runs the registry as two sites on real Kafka,
// east primary and west follower (reading east's log on east's cluster,
// primary.kafka, the option for a mesh without a replicator; the
// replicator's path is TestIntegrationRegistryFollowerReadsItsWrites), and
// drives it with clients Meshwork did not write: franz-go's sr, @kafkajs/confluent-schema-registry and
// confluent-kafka for Python, crossing serializers between Python and Go.
func TestIntegrationRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	east, west := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_KAFKA_WEST")
	python := env(t, "MESH_E2E_PYTHON")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	suffix := uniq("it")
	topic := "_schemas." + suffix // a fresh schema log per run of the suite
	ports := freePorts(t, 2)
	eastCfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: %s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\nlog: {level: debug}\n", ports[0], topic, suffix, east)
	westCfg := fmt.Sprintf("site: west\nlisten: 127.0.0.1:%d\ntopic: %s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\nprimary:\n  url: http://127.0.0.1:%d\n  kafka: {brokers: [%s]}\n", ports[1], topic, suffix, west, ports[0], east)
	eastReg := startService(t, bin, "east", eastCfg, ports[0])
	westReg := startService(t, bin, "west", westCfg, ports[1])

	t.Run("franz-go sr", func(t *testing.T) {
		cl, err := sr.NewClient(sr.URLs(westReg.url))
		if err != nil {
			t.Fatal(err)
		}
		subject := "sr." + suffix + "-value"
		v1 := `{"type":"record","name":"Reading","namespace":"it","fields":[{"name":"c","type":"double"}]}`
		s, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: v1, Type: sr.TypeAvro})
		if err != nil {
			t.Fatalf("register at west: %v", err)
		}
		eastCl, _ := sr.NewClient(sr.URLs(eastReg.url))
		got, err := eastCl.SchemaByID(ctx, s.ID)
		if err != nil || got.Schema != v1 {
			t.Fatalf("a write at west must be served with the same id at east: %v %+v", err, got)
		}
		breaking := `{"type":"record","name":"Reading","namespace":"it","fields":[{"name":"c","type":"string"}]}`
		res, err := cl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: breaking})
		if err != nil || res.Is {
			t.Fatalf("breaking change must be incompatible: %v %+v", err, res)
		}
		if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: breaking}); err == nil || !strings.Contains(err.Error(), "incompatible") {
			t.Fatalf("registering a breaking change must fail with 409: %v", err)
		}
		if _, err := cl.SchemaByID(ctx, 1<<30); err == nil {
			t.Fatal("an unknown id must be an error")
		}
	})

	t.Run("kafkajs", func(t *testing.T) {
		createTopics(t, east, 1, "it.js."+suffix)
		out := run(ctx, t, nil, "node", witnessPath("sr_kafkajs.js"), westReg.url, east, "it.js."+suffix, "5")
		var res struct {
			ID      int `json:"id"`
			Decoded []struct {
				Sensor  string  `json:"sensor"`
				Celsius float64 `json:"celsius"`
			} `json:"decoded"`
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res.Decoded) != 5 {
			t.Fatalf("kafkajs: %s (%v)", out, err)
		}
		resp, err := http.Get(fmt.Sprintf("%s/schemas/ids/%d", eastReg.url, res.ID))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("id %d from kafkajs at west not served at east: %v", res.ID, err)
		}
		resp.Body.Close()
	})

	type order struct {
		ID         string  `avro:"id" json:"id"`
		TotalCents int64   `avro:"total_cents" json:"total_cents"`
		Coupon     *string `avro:"coupon" json:"coupon"`
	}
	t.Run("python writes, go reads", func(t *testing.T) {
		topic := "it.py2go." + suffix
		createTopics(t, east, 1, topic)
		run(ctx, t, nil, python, witnessPath("sr_python.py"), "produce", eastReg.url, east, topic, "4")
		cl, _ := sr.NewClient(sr.URLs(westReg.url))
		sd, err := serde.New(cl)
		if err != nil {
			t.Fatal(err)
		}
		recs := consumeN(ctx, t, east, topic, 4)
		for i, r := range recs {
			var o order
			if err := sd.Decode(ctx, r.Value, &o); err != nil {
				t.Fatalf("go serde cannot decode python's record %d: %v", i, err)
			}
			if o.ID != fmt.Sprintf("py-%d", i) || o.TotalCents != int64(100*i) {
				t.Fatalf("record %d decoded as %+v", i, o)
			}
		}
	})

	t.Run("go writes, python reads", func(t *testing.T) {
		topic := "it.go2py." + suffix
		createTopics(t, east, 1, topic)
		cl, _ := sr.NewClient(sr.URLs(westReg.url))
		sd, err := serde.New(cl, serde.AutoRegister(true))
		if err != nil {
			t.Fatal(err)
		}
		schema := `{"type":"record","name":"Order","namespace":"shop.witness","fields":[{"name":"id","type":"string"},{"name":"total_cents","type":"long"},{"name":"coupon","type":["null","string"],"default":null}]}`
		prod, err := kgo.NewClient(kgo.SeedBrokers(east), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		coupon := "WELCOME"
		for i := range 3 {
			o := order{ID: fmt.Sprintf("go-%d", i), TotalCents: int64(7 * i), Coupon: &coupon}
			b, err := sd.Encode(ctx, topic, schema, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: b}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		out := run(ctx, t, nil, python, witnessPath("sr_python.py"), "consume", eastReg.url, east, topic, "3")
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for i, l := range lines {
			var o order
			if err := json.Unmarshal([]byte(l), &o); err != nil || o.ID != fmt.Sprintf("go-%d", i) || o.Coupon == nil || *o.Coupon != coupon {
				t.Fatalf("python decoded line %d as %q (%v)", i, l, err)
			}
		}
		out = run(ctx, t, nil, python, witnessPath("sr_python.py"), "check", westReg.url, topic+"-value")
		var chk struct {
			Version            int  `json:"version"`
			BreakingCompatible bool `json:"breaking_compatible"`
		}
		if err := json.Unmarshal(out, &chk); err != nil || chk.Version != 1 || chk.BreakingCompatible {
			t.Fatalf("python compatibility check: %s (%v)", out, err)
		}
	})

	t.Run("restart loses nothing", func(t *testing.T) {
		before := getJSON(t, eastReg.url+"/schemas?deleted=true")
		eastReg.stop(t)
		eastReg = startService(t, bin, "east", eastCfg, ports[0])
		after := getJSON(t, eastReg.url+"/schemas?deleted=true")
		if before != after {
			t.Fatalf("schemas before restart:\n%s\nafter:\n%s", before, after)
		}
	})
}

func getJSON(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// consumeN reads n records of topic from the start.
func consumeN(ctx context.Context, t *testing.T, broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s after %d records: %v", topic, len(out), err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestIntegrationRegistryFailover runs two registry instances of one site on
// real Kafka: exactly one leads, a write at the other is forwarded, and when
// the leader is killed (SIGKILL, no goodbye to the group) the other takes over
// and keeps the id sequence.
func TestIntegrationRegistryFailover(t *testing.T) {
	east := env(t, "MESH_E2E_KAFKA_EAST")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	suffix := uniq("fo")
	ports := freePorts(t, 2)
	cfg := func(port int) string {
		return fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.%s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\n", port, suffix, suffix, east)
	}
	a := startService(t, bin, "a", cfg(ports[0]), ports[0])
	b := startService(t, bin, "b", cfg(ports[1]), ports[1])
	leading := func(p *serviceProc) bool {
		resp, err := http.Get(p.url + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, _ = io.Copy(&sb, resp.Body)
		return strings.Contains(sb.String(), `meshwork_registry_leader{site="east"} 1`)
	}
	waitFor(t, 30*time.Second, "exactly one leader", func() error {
		if la, lb := leading(a), leading(b); la == lb {
			return fmt.Errorf("a leads: %v, b leads: %v", la, lb)
		}
		return nil
	})
	leader, follower := a, b
	if leading(b) {
		leader, follower = b, a
	}
	register := func(p *serviceProc, schema string) (int, error) {
		body := fmt.Sprintf(`{"schema": %q}`, schema)
		resp, err := http.Post(p.url+"/subjects/fo-value/versions", "application/vnd.schemaregistry.v1+json", strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var res struct {
			ID      int    `json:"id"`
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&res)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%d: %s", resp.StatusCode, res.Message)
		}
		return res.ID, nil
	}
	id1, err := register(follower, `{"type":"record","name":"F","fields":[{"name":"a","type":"int"}]}`)
	if err != nil {
		t.Fatalf("write at the follower: %v", err)
	}
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	var id2 int
	waitFor(t, 60*time.Second, "the follower to take over writes", func() error {
		id2, err = register(follower, `{"type":"record","name":"F","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","int"],"default":null}]}`)
		return err
	})
	if id2 != id1+1 {
		t.Fatalf("after failover the next id is %d, want %d", id2, id1+1)
	}
}
