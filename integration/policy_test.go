package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIntegrationRegistryPolicy runs mesh-registry on real Kafka with a
// policy file: confluent-kafka's SchemaRegistryClient is refused a
// registration with Confluent's 40301, nothing is written; the file is
// changed to grant it, and the running registry follows (no restart); an
// invalid version of the file is counted and the last valid one stays.
// (No authentication on this branch's registry: requests are anonymous.)
func TestIntegrationRegistryPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kafka, python := env(t, "MESH_E2E_KAFKA_EAST"), env(t, "MESH_E2E_PYTHON")
	suffix := uniq("pol")
	subject := "it.policy." + suffix + "-value"
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy := func(text string) {
		t.Helper()
		if err := os.WriteFile(policyFile+".tmp", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(policyFile+".tmp", policyFile); err != nil {
			t.Fatal(err)
		}
	}
	const readOnly = "rules:\n  - {name: readers, principals: [anonymous], actions: [read], resources: [\"*\"]}\n"
	writePolicy(readOnly)
	bin := buildBinary(t, "github.com/meshwork/meshwork/cmd/mesh-registry")
	port := freePorts(t, 1)[0]
	cfg := fmt.Sprintf("site: east\nlisten: 127.0.0.1:%d\ntopic: _schemas.%s\ngroup: registry-%s\nkafka:\n  brokers: [%s]\npolicy: {file: %s}\n", port, suffix, suffix, kafka, policyFile)
	reg := startService(t, bin, "registry", cfg, port)

	register := func() map[string]any {
		t.Helper()
		out := run(ctx, t, nil, python, witnessPath("sr_policy.py"), "register", reg.url, subject)
		var res map[string]any
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("witness: %s (%v)", out, err)
		}
		return res
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(reg.url + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	res := register()
	if res["http_status"] != float64(403) || res["error_code"] != float64(40301) || res["message"] != "User is denied operation Write on Subject: "+subject {
		t.Fatalf("a registration the policy does not grant: %v", res)
	}
	if code, body := get("/subjects/" + subject + "/versions"); code != 404 || !strings.Contains(body, "40401") {
		t.Fatalf("after the refusal the subject exists: %d %s", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `meshwork_authz_denials_total{action="write"} 1`) {
		t.Fatalf("the denial is not counted:\n%s", grepLines(body, "authz"))
	}

	writePolicy(readOnly + "  - {name: writers, principals: [anonymous], actions: [write], resources: [\"subject:it.policy.*\"]}\n")
	waitFor(t, 30*time.Second, "the granted registration", func() error {
		if res := register(); res["id"] == nil {
			return fmt.Errorf("still %v", res)
		}
		return nil
	})
	if code, body := get("/subjects/" + subject + "/versions"); code != 200 || body != "[1]\n" {
		t.Fatalf("versions after the granted registration: %d %s", code, body)
	}

	writePolicy("rules:\n  - {principals: [anonymous], actions: [wirte], resources: [\"*\"]}\n")
	waitFor(t, 30*time.Second, "the invalid policy counted", func() error {
		if _, body := get("/metrics"); !strings.Contains(body, "meshwork_policy_reload_errors_total 1") {
			return fmt.Errorf("not yet:\n%s", grepLines(body, "meshwork_policy"))
		}
		return nil
	})
	if res := register(); res["id"] == nil {
		t.Fatalf("an invalid policy file replaced the valid one: %v", res)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
