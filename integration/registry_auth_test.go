package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The registry with auth, against real Kafka: confluent-kafka's
// SchemaRegistryClient registers and reads with basic credentials
// (USER_INFO and URL) and a static bearer token; without credentials or
// with a wrong password it gets 401 (40101) and nothing is registered. With
// the policy, the authenticated principal is the one its rules name: the
// viewer's valid credentials register nothing (403, 40301).
func TestIntegrationRegistryAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	east := env(t, "MESH_E2E_KAFKA_EAST")
	python := env(t, "MESH_E2E_PYTHON")
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	suffix := uniq("auth")
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "ci-token")
	if err := os.WriteFile(tokenFile, []byte("ci-token-"+suffix+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	policy := "rules:\n  - {principals: [alice, ci], actions: [\"*\"], resources: [\"*\"]}\n  - {principals: [viewer], actions: [read], resources: [\"*\"]}\n"
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)[0]
	cfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.%s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\n"+
		"auth:\n  users:\n    - {name: alice, password_hash: %q}\n    - {name: viewer, password_env: IT_VIEWER_PASSWORD}\n  tokens:\n    - {name: ci, token_file: %s}\npolicy: {file: %s}\n",
		port, suffix, suffix, east, hash, tokenFile, policyFile)
	t.Setenv("IT_VIEWER_PASSWORD", "viewer-pw")
	reg := startService(t, bin, "registry", cfg, port) // /readyz answers without credentials

	type outcome struct {
		ID        int `json:"id"`
		Status    int `json:"status"`
		ErrorCode int `json:"error_code"`
	}
	witness := func(mode, cred, subject string) outcome {
		t.Helper()
		out := run(ctx, t, nil, python, witnessPath("sr_auth.py"), reg.url, mode, cred, subject)
		var o outcome
		if err := json.Unmarshal(out, &o); err != nil {
			t.Fatalf("%s: %s (%v)", mode, out, err)
		}
		return o
	}
	for _, c := range []struct{ mode, cred string }{
		{"userinfo", "alice:alice-pw"},
		{"url", "alice:alice-pw"},
		{"token", "ci-token-" + suffix},
	} {
		if o := witness(c.mode, c.cred, "login."+c.mode+"."+suffix+"-value"); o.ID <= 0 {
			t.Fatalf("%s: %+v", c.mode, o)
		}
	}
	for _, c := range []struct{ mode, cred string }{
		{"none", "-"},
		{"userinfo", "alice:wrong"},
		{"token", "not-the-token"},
		{"userinfo", "viewer:viewer-pw"}, // authenticated, without the grant
	} {
		subject := "login.refused." + c.mode + "." + strings.Split(c.cred, ":")[0] + "." + suffix + "-value"
		want := outcome{Status: 401, ErrorCode: 40101}
		if strings.HasPrefix(c.cred, "viewer:") {
			want = outcome{Status: 403, ErrorCode: 40301}
		}
		if o := witness(c.mode, c.cred, subject); o != want {
			t.Fatalf("%s %s: %+v, want %+v", c.mode, c.cred, o, want)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", reg.url+"/subjects/"+subject+"/versions", nil)
		req.SetBasicAuth("alice", "alice-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: the refused registration left subject %s (%d)", c.mode, subject, resp.StatusCode)
		}
	}
}
