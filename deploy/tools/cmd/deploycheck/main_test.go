package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed deployment files pass; a copy of them with one broken
// manifest fails with the object and the problem named.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if code, err := run(context.Background(), []string{"-root", "../../.."}, &out); code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out.String())
	}

	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../..")); err != nil {
		t.Fatal(err)
	}
	pdb := filepath.Join(root, "k8s", "base", "mesh-mqtt", "statefulset.yaml")
	b, err := os.ReadFile(pdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pdb, bytes.Replace(b, []byte("readOnlyRootFilesystem: true"), []byte("readOnlyRootFilesystem: true\n            readOnlyRootFileSystem: true"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code, _ := run(context.Background(), []string{"-root", root}, &out)
	if code != 1 || !strings.Contains(out.String(), `StatefulSet/meshwork-east/mesh-mqtt: strict decoding error: unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`) {
		t.Fatalf("exit %d, want 1 naming the misspelt field:\n%s", code, out.String())
	}
}

// The policy component is checked with each overlay: a policy file that
// does not parse fails the run, naming the file and line, for both sites.
func TestRunPolicyComponent(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../..")); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(root, "k8s", "components", "policy", "policy.yaml")
	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pol, bytes.Replace(b, []byte("actions: [read, consume, describe]"), []byte("actions: [read, consume, browse]"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, _ := run(context.Background(), []string{"-root", root}, &out)
	for _, want := range []string{
		"FAIL kustomize overlay east with component policy",
		"FAIL kustomize overlay west with component policy",
		"ConfigMap/meshwork-east/meshwork-policy/policy.yaml:",
		`"browse"`,
	} {
		if code != 1 || !strings.Contains(out.String(), want) {
			t.Errorf("exit %d, want 1 and %q in:\n%s", code, want, out.String())
		}
	}
}
