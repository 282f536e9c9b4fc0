package authn

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Client credentials authenticate against the server side; a changed
// token file is sent from the next request on; a request carrying its own
// Authorization header keeps it.
func TestClientCredentials(t *testing.T) {
	dir := t.TempDir()
	pwFile, tokFile := filepath.Join(dir, "pw"), filepath.Join(dir, "tok")
	for f, v := range map[string]string{pwFile: "pw\n", tokFile: "tok-1\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := serve(t, Config{Users: []User{{Name: "ops", Password: "pw"}}, Tokens: []Token{{Name: "ci", Token: "tok-1"}, {Name: "ci2", Token: "tok-2"}}})
	get := func(c Credentials, auth string) (int, string) {
		t.Helper()
		tr, err := c.Transport(http.DefaultTransport, "registry")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", s.url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if status, body := get(Credentials{Username: "ops", PasswordFile: pwFile}, ""); status != 200 || body != "ops/basic" {
		t.Fatalf("basic: %d %s", status, body)
	}
	tok := Credentials{TokenFile: tokFile}
	tr, err := tok.Transport(http.DefaultTransport, "registry")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr}
	do := func() string {
		resp, err := c.Get(s.url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(resp.Body)
		return b.String()
	}
	if got := do(); got != "ci/token" {
		t.Fatalf("token: %s", got)
	}
	if err := os.WriteFile(tokFile, []byte("tok-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	_ = os.Chtimes(tokFile, later, later)
	if got := do(); got != "ci2/token" {
		t.Fatalf("token after rotation: %s", got)
	}
	if status, body := get(tok, basicAuth("ops", "pw")); status != 200 || body != "ops/basic" {
		t.Fatalf("the request's own header: %d %s", status, body)
	}
	if _, err := (Credentials{TokenFile: filepath.Join(dir, "missing")}).Transport(http.DefaultTransport, "registry"); err == nil || !strings.Contains(err.Error(), "registry.token_file") {
		t.Fatalf("missing token file: %v", err)
	}
	for _, bad := range []Credentials{{Username: "a"}, {PasswordFile: "f"}, {Username: "a", Password: "p", Token: "t"}, {TokenFile: "a", TokenEnv: "b"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validates", bad)
		}
	}
}
