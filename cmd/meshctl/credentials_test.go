package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/devmesh"
)

// TestSecureDevMesh runs meshctl in the directory of a secure dev mesh
// (meshd dev -secure): it trusts the mesh's CA from endpoints.json's
// tls_ca and acts as the admin of credentials.json, over https to the
// control plane and over SASL_SSL to Kafka; a wrong password is refused by
// Kafka.
func TestSecureDevMesh(t *testing.T) {
	isolate(t)
	t.Setenv(userEnv, "")
	t.Setenv(passwordEnv, "")
	t.Setenv(tokenEnv, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := devmesh.DefaultConfig()
	cfg.Sites = cfg.Sites[:1]
	cfg.Sites[0].Ports = map[string]int{}
	cfg.AdminPort, cfg.ControlPlanePort, cfg.Secure = 0, 0, true
	m, err := devmesh.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	if code, out, errOut := meshctl(t, "sites"); code != 0 || !strings.Contains(out, "east") {
		t.Fatalf("sites over https: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := meshctl(t, "interest", "add", "secure.orders", "--site", "east", "--endpoints", m.EndpointsFile()); code != 0 {
		t.Fatalf("interest add over SASL_SSL as admin: %d %q %q", code, out, errOut)
	}
	t.Setenv(userEnv, devmesh.UserAdmin)
	t.Setenv(passwordEnv, "not-the-password")
	if code, out, errOut := meshctl(t, "interest", "add", "secure.refused", "--site", "east", "--endpoints", m.EndpointsFile(), "--timeout", "5s"); code == 0 {
		t.Fatalf("interest add with a wrong password succeeded: %q %q", out, errOut)
	}
}

// TestCredentialsSent checks where meshctl takes its credentials from, in
// order: --user with --password-file, $MESHCTL_TOKEN, $MESHCTL_USER with
// $MESHCTL_PASSWORD, and the admin of a dev mesh's credentials file.
func TestCredentialsSent(t *testing.T) {
	dir := isolate(t)
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sites":[]}`))
	}))
	defer srv.Close()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, ".mesh", "credentials.json")
	if err := os.MkdirAll(filepath.Dir(creds), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte(`{"admin":{"username":"admin","password":"adm"},"viewer":{"username":"viewer","password":"v"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (devmesh.Endpoints{ControlPlane: srv.URL, Credentials: creds, Sites: map[string]devmesh.SiteEndpoints{}}).WriteFile(filepath.Join(dir, ".mesh", "endpoints.json")); err != nil {
		t.Fatal(err)
	}
	basic := func(user, pass string) string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"dev directory", nil, nil, basic("admin", "adm")},
		{"environment", map[string]string{userEnv: "ops", passwordEnv: "envpw"}, nil, basic("ops", "envpw")},
		{"token", map[string]string{tokenEnv: "tok", userEnv: "ops"}, nil, "Bearer tok"},
		{"flags", map[string]string{userEnv: "ops", passwordEnv: "envpw"}, []string{"--user", "alice", "--password-file", pw}, basic("alice", "s3cret")},
	} {
		for _, k := range []string{userEnv, passwordEnv, tokenEnv} {
			t.Setenv(k, c.env[k])
		}
		got = ""
		if code, out, errOut := meshctl(t, append([]string{"sites"}, c.args...)...); code != 0 {
			t.Fatalf("%s: %d %q %q", c.name, code, out, errOut)
		}
		if got != c.want {
			t.Fatalf("%s: sent Authorization %q, want %q", c.name, got, c.want)
		}
	}
	if code, _, errOut := meshctl(t, "sites", "--user", "alice"); code == 0 || !strings.Contains(errOut, "--password-file") {
		t.Fatalf("--user without --password-file: %d %q", code, errOut)
	}
}
