package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/policy"
)

// policyService answers its API as the policy decides, the principal named
// by a header (standing for authentication, which puts it in the context).
type policyService struct {
	fakeService
	az *policy.Authorizer
}

func (p *policyService) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := identity.NewContext(r.Context(), identity.Principal{Name: r.Header.Get("X-User"), Method: identity.MethodBasic})
		var de *policy.DeniedError
		if err := p.az.Allow(ctx, policy.ActionRead, policy.Mesh); errors.As(err, &de) {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, "hello")
	})
}

func policyCommand(svc *policyService) Command[fakeConfig] {
	cmd := fakeCommand(&svc.fakeService)
	cmd.New = func(_ fakeConfig, d Deps) (Service, error) { svc.az = d.Authorizer; return svc, nil }
	return cmd
}

func writePolicy(t *testing.T, path, who string) {
	t.Helper()
	text := fmt.Sprintf("rules:\n  - principals: [%s]\n    actions: [read]\n    resources: [mesh]\n", who)
	if err := os.WriteFile(path+".tmp", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func TestRunLoadsAndReloadsThePolicy(t *testing.T) {
	pfile := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, pfile, "alice")
	addr := freeAddr(t)
	file := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\npolicy: {file: %s}\n", addr, pfile))
	svc := &policyService{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- policyCommand(svc).Run(ctx, []string{"-config", file}, io.Discard, io.Discard) }()
	defer func() { cancel(); <-done }()
	get := func(user string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
		req.Header.Set("X-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitFor("alice never allowed", func() bool { return get("alice") == http.StatusOK })
	if code := get("bob"); code != http.StatusForbidden {
		t.Fatalf("bob without a grant: %d, want 403", code)
	}
	writePolicy(t, pfile, "bob")
	waitFor("the changed policy never came into force", func() bool { return get("bob") == http.StatusOK && get("alice") == http.StatusForbidden })
}

func TestRunStopsOnAMissingOrInvalidPolicy(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - principals: [a]\n    actions: [reed]\n    resources: [mesh]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(dir, "none.yaml"): "policy.file: policy file: open",
		bad:                             `policy.file: ` + bad + `:3:15: field rules[0].actions[0]: unknown action "reed"`,
	} {
		svc := &policyService{}
		cfg := writeConfig(t, fmt.Sprintf("site: east\nlisten: %s\nkafka: {brokers: [127.0.0.1:9092]}\npolicy: {file: %s}\n", freeAddr(t), file))
		err := policyCommand(svc).Run(context.Background(), []string{"-config", cfg}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) || svc.started.Load() {
			t.Errorf("policy %s: Run = %v (started %v), want %q", file, err, svc.started.Load(), want)
		}
	}
}

func TestCheckReadsThePolicy(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - principals: [a]\n    actions: [reed]\n    resources: [mesh]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf("site: east\nkafka: {brokers: [127.0.0.1:9092]}\npolicy: {file: %s}\n", bad))
	code, _, errOut := run(t, context.Background(), fakeCommand(&fakeService{}), "-config", cfg, "-check")
	if code != 2 || !strings.Contains(errOut, bad+`:3:15: field rules[0].actions[0]: unknown action "reed"`) {
		t.Fatalf("-check with an invalid policy: %d %q", code, errOut)
	}
	good := filepath.Join(dir, "good.yaml")
	writePolicy(t, good, "alice")
	cfg = writeConfig(t, fmt.Sprintf("site: east\nkafka: {brokers: [127.0.0.1:9092]}\npolicy: {file: %s}\n", good))
	if code, out, errOut := run(t, context.Background(), fakeCommand(&fakeService{}), "-config", cfg, "-check"); code != 0 || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("-check with a valid policy: %d %q %q", code, out, errOut)
	}
}
