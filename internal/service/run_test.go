package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

type fakeConfig struct {
	Common   `yaml:",inline"`
	Greeting string `yaml:"greeting"`
}

func (c *fakeConfig) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.Greeting == "" {
		errs = append(errs, config.Errorf("greeting", "must not be empty"))
	}
	return errors.Join(errs...)
}

type fakeService struct {
	startErr         error
	started, closed  atomic.Bool
	closeHadDeadline atomic.Bool
}

func (f *fakeService) Start(context.Context) error { f.started.Store(true); return f.startErr }
func (f *fakeService) Ready(context.Context) error {
	if !f.started.Load() {
		return errors.New("not started")
	}
	return nil
}
func (f *fakeService) Close(ctx context.Context) error {
	_, ok := ctx.Deadline()
	f.closeHadDeadline.Store(ok)
	f.closed.Store(true)
	return nil
}
func (f *fakeService) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") })
}

func fakeCommand(svc *fakeService) Command[fakeConfig] {
	return Command[fakeConfig]{
		Name: "mesh-fake", Summary: "Runs a fake service for tests.",
		Reference: "# mesh-fake configuration\n", ReferencePath: "internal/service/CONFIG.md",
		Defaults: func() fakeConfig {
			return fakeConfig{Common: DefaultCommon("127.0.0.1:8099", kafkaclient.Defaults()), Greeting: "hi"}
		},
		Common: func(c *fakeConfig) *Common { return &c.Common },
		New:    func(fakeConfig, Deps) (Service, error) { return svc, nil },
	}
}

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, ctx context.Context, cmd Command[fakeConfig], args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmd.Run(ctx, args, &out, &errOut)
	code = exitCode(cmd.Name, err, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpDocumentsFlagsAndExitsZero(t *testing.T) {
	code, out, _ := run(t, context.Background(), fakeCommand(&fakeService{}), "-h")
	if code != 0 {
		t.Fatalf("-h exits %d", code)
	}
	for _, want := range []string{"Usage: mesh-fake -config FILE", "Runs a fake service", "-config file", "-check", "-config-reference", "-version",
		"internal/service/CONFIG.md", "default 127.0.0.1:8099"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

func TestFlagsThatAnswerAndExit(t *testing.T) {
	cmd := fakeCommand(&fakeService{})
	if code, out, _ := run(t, context.Background(), cmd, "-config-reference"); code != 0 || out != "# mesh-fake configuration\n" {
		t.Fatalf("-config-reference: %d %q", code, out)
	}
	if code, out, _ := run(t, context.Background(), cmd, "-version"); code != 0 || !strings.HasPrefix(out, "mesh-fake ") {
		t.Fatalf("-version: %d %q", code, out)
	}
	good := writeConfig(t, "site: east\nkafka: {brokers: [127.0.0.1:9092]}\n")
	if code, out, _ := run(t, context.Background(), cmd, "-config", good, "-check"); code != 0 || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("-check of a good file: %d %q", code, out)
	}
	bad := writeConfig(t, "site: East\nkafka: {brokers: [127.0.0.1:9092]}\ngreeting: \"\"\n")
	code, _, errOut := run(t, context.Background(), cmd, "-config", bad, "-check")
	if code != 2 || !strings.Contains(errOut, "fake.yaml:1:1: field site") || !strings.Contains(errOut, "fake.yaml:3:1: field greeting") {
		t.Fatalf("-check of a bad file: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, context.Background(), cmd); code != 2 || !strings.Contains(errOut, "-config FILE is required") {
		t.Fatalf("no -config: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, context.Background(), cmd, "-nope"); code != 2 || !strings.Contains(errOut, "Usage: mesh-fake") {
		t.Fatalf("unknown flag: %d %q", code, errOut)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRunServesUntilCancelledAndClosesWithADeadline(t *testing.T) {
	svc := &fakeService{}
	addr := freeAddr(t)
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\n", addr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fakeCommand(svc).Run(ctx, []string{"-config", file}, io.Discard, io.Discard) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, body := get("/readyz"); code == http.StatusOK && strings.Contains(body, `"fake":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/greeting"); code != http.StatusOK || body != "hello" {
		t.Fatalf("the service's own API: %d %q", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !svc.closed.Load() || !svc.closeHadDeadline.Load() {
		t.Fatal("the service was not closed with a deadline")
	}
}

func TestFailedStartClosesAndFails(t *testing.T) {
	svc := &fakeService{startErr: errors.New("broker refused the session")}
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\n", freeAddr(t)))
	var errOut bytes.Buffer
	err := fakeCommand(svc).Run(context.Background(), []string{"-config", file}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), "broker refused the session") || !svc.closed.Load() {
		t.Fatalf("got %v, closed %v", err, svc.closed.Load())
	}
	if code := exitCode("mesh-fake", err, &errOut); code != 1 {
		t.Fatalf("a failure to start exits %d, want 1", code)
	}
	if errors.Is(err, flag.ErrHelp) {
		t.Fatal("not help")
	}
}

func TestInlineSecretIsWarnedAtStartWithoutItsValue(t *testing.T) {
	svc := &fakeService{startErr: errors.New("stop here")}
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka:\n  brokers: [127.0.0.1:9092]\n  sasl: {mechanism: PLAIN, username: mesh, password: Inl1ne-S3cret}\n", freeAddr(t)))
	var errOut bytes.Buffer
	if err := fakeCommand(svc).Run(context.Background(), []string{"-config", file}, io.Discard, &errOut); err == nil {
		t.Fatal("want the start error")
	}
	logs := errOut.String()
	if strings.Count(logs, "a secret is written inline") != 1 || !strings.Contains(logs, "field=kafka.sasl.password") {
		t.Fatalf("want one warning naming kafka.sasl.password:\n%s", logs)
	}
	if strings.Contains(logs, "Inl1ne-S3cret") {
		t.Fatalf("the log shows the secret:\n%s", logs)
	}
}
