package adapters

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/authn"
)

// The registry's credentials go with every request, the password file read
// again when it changes (a rotated password is used at once); a bearer
// token likewise.
func TestRegistryCredentials(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = io.WriteString(w, "[]")
	}))
	defer srv.Close()
	get := func(reg Registry) {
		t.Helper()
		hc, err := reg.HTTPClient(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(srv.URL + "/subjects")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := Registry{URL: srv.URL, Credentials: authn.Credentials{Username: "mesh-mqtt", PasswordFile: pw}}
	if err := (Settings{Registry: reg, SchemaRule: -1, NotReadyAfter: time.Second}).Validate(); err != nil {
		t.Fatal(err)
	}
	get(reg)
	if err := os.WriteFile(pw, []byte("rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	get(reg)
	t.Setenv("REGISTRY_TOKEN", "t0ken")
	get(Registry{URL: srv.URL, Credentials: authn.Credentials{TokenEnv: "REGISTRY_TOKEN"}})
	get(Registry{URL: srv.URL})
	want := []string{"Basic bWVzaC1tcXR0OmZpcnN0", "Basic bWVzaC1tcXR0OnJvdGF0ZWQ=", "Bearer t0ken", ""}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Fatalf("Authorization headers %q, want %q", seen, want)
	}

	if _, err := (Registry{URL: srv.URL, Credentials: authn.Credentials{Username: "u", PasswordFile: pw + ".missing"}}).HTTPClient(time.Second); err == nil || !strings.Contains(err.Error(), "registry.password_file") {
		t.Fatalf("a missing password file must stop the start, got %v", err)
	}
	for _, c := range []struct {
		auth authn.Credentials
		want string
	}{
		{authn.Credentials{Username: "u"}, "registry.username: want exactly one of password_file, password_env or password"},
		{authn.Credentials{PasswordFile: "f"}, "registry.username: a password needs the user name it goes with"},
		{authn.Credentials{Username: "u", PasswordEnv: "P", TokenFile: "t"}, "registry.token_file: want one credential"},
		{authn.Credentials{Token: "t", TokenEnv: "T"}, "registry.token_file: want one credential"},
	} {
		err := (Settings{Registry: Registry{URL: srv.URL, Credentials: c.auth}, SchemaRule: -1, NotReadyAfter: time.Second}).Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.auth, err, c.want)
		}
	}
}
