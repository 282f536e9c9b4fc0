package authn

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Every form of a user's password proves the user; a wrong password, an
// unknown user or no credentials get 401 with a Basic challenge, counted
// by reason; /healthz and /readyz stay open.
func TestBasicUsers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bob")
	if err := os.WriteFile(file, []byte("bob-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAROL_PASSWORD", "carol-secret")
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, Config{Users: []User{
		{Name: "alice", PasswordHash: string(hash)},
		{Name: "bob", PasswordFile: file},
		{Name: "carol", PasswordEnv: "CAROL_PASSWORD"},
		{Name: "dave", Password: "dave-secret"},
	}})
	for _, c := range []struct {
		auth   string
		status int
		body   string
		reason string
	}{
		{basicAuth("alice", "alice-secret"), 200, "alice/basic", ""},
		{basicAuth("bob", "bob-secret"), 200, "bob/basic", ""},
		{basicAuth("carol", "carol-secret"), 200, "carol/basic", ""},
		{basicAuth("dave", "dave-secret"), 200, "dave/basic", ""},
		{basicAuth("alice", "wrong"), 401, "", ReasonWrongPassword},
		{basicAuth("bob", "bob-secret\n"), 401, "", ReasonWrongPassword},
		{basicAuth("mallory", "alice-secret"), 401, "", ReasonUnknownUser},
		{"", 401, "", ReasonMissing},
		{"Basic !!!", 401, "", ReasonMalformed},
		{"Digest username=alice", 401, "", ReasonUnsupportedScheme},
		{"Bearer abc", 401, "", ReasonUnsupportedScheme},
	} {
		before := 0.0
		if c.reason != "" {
			before = s.failures(c.reason)
		}
		status, hdr, body := s.get("/api", c.auth)
		if status != c.status {
			t.Errorf("%q: %d %s, want %d", c.auth, status, body, c.status)
			continue
		}
		if status == 200 {
			if body != c.body {
				t.Errorf("%q: principal %q, want %q", c.auth, body, c.body)
			}
			continue
		}
		if got := hdr.Get("WWW-Authenticate"); got != `Basic realm="meshwork", charset="UTF-8"` {
			t.Errorf("%q: WWW-Authenticate %q", c.auth, got)
		}
		if msg := message(t, body); !strings.HasPrefix(msg, "Unauthorized: ") || strings.Contains(msg, "secret") {
			t.Errorf("%q: message %q", c.auth, msg)
		}
		if got := s.failures(c.reason); got != before+1 {
			t.Errorf("%q: failures{reason=%s} went from %v to %v", c.auth, c.reason, before, got)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := s.get(path, ""); status != 200 || body != "anonymous/anonymous" {
			t.Errorf("%s without credentials: %d %s", path, status, body)
		}
	}
}

// A successful bcrypt verification is remembered for the TTL under a
// keyed digest; failures never are; the bound holds.
func TestBasicCache(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var users []User
	for _, n := range []string{"a", "b", "c"} {
		users = append(users, User{Name: n, PasswordHash: string(hash)})
	}
	a, err := New(Config{Users: users}, WithCache(time.Minute, 2), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cr := a.current()
	for range 3 {
		if _, f := a.basic(cr, "a", "nope"); f == nil {
			t.Fatal("a wrong password passed")
		}
	}
	if n := a.cache.len(); n != 0 {
		t.Fatalf("failures cached: %d entries", n)
	}
	if _, f := a.basic(cr, "a", "pw"); f != nil {
		t.Fatal(f)
	}
	k := keyed(a.key, "basic", "a", "pw")
	if _, hit := a.cache.hit(k); !hit {
		t.Fatal("a success is not cached")
	}
	for _, n := range []string{"b", "c"} {
		if _, f := a.basic(cr, n, "pw"); f != nil {
			t.Fatal(f)
		}
	}
	if n := a.cache.len(); n != 2 {
		t.Fatalf("cache holds %d entries, bound 2", n)
	}
	now = now.Add(2 * time.Minute)
	if _, hit := a.cache.hit(keyed(a.key, "basic", "c", "pw")); hit {
		t.Fatal("an entry outlived its TTL")
	}
}

// A changed password file is read again: the old password stops working
// and the new one works, without a restart; a file removed keeps the
// credentials loaded before.
func TestPasswordFileReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := serve(t, Config{Users: []User{{Name: "bob", PasswordFile: file}}}, WithCheckInterval(0))
	if status, _, _ := s.get("/", basicAuth("bob", "old")); status != 200 {
		t.Fatalf("old password: %d", status)
	}
	if err := os.WriteFile(file, []byte("new-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := s.get("/", basicAuth("bob", "old")); status != 401 {
		t.Fatalf("old password after the change: %d", status)
	}
	if status, _, _ := s.get("/", basicAuth("bob", "new-password")); status != 200 {
		t.Fatalf("new password: %d", status)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := s.get("/", basicAuth("bob", "new-password")); status != 200 {
		t.Fatalf("new password after the file went away: %d", status)
	}
}

// A secret that cannot be read stops New with the field's name.
func TestSecretErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Users: []User{{Name: "a", PasswordFile: filepath.Join(t.TempDir(), "missing")}}}, "auth.users[0].password_file:"},
		{Config{Users: []User{{Name: "a", PasswordEnv: "MESHWORK_TEST_UNSET_VARIABLE"}}}, "auth.users[0].password_env: environment variable MESHWORK_TEST_UNSET_VARIABLE is not set"},
		{Config{Tokens: []Token{{Name: "a", TokenEnv: "MESHWORK_TEST_UNSET_VARIABLE"}}}, "auth.tokens[0].token_env"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}

// A burst of requests with the same new credentials costs one bcrypt
// comparison: the others wait for it and share its verdict.
func TestBasicBurstSharesOneComparison(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Users: []User{{Name: "a", PasswordHash: string(hash)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var calls atomic.Int64
	a.compare = func(h, pw []byte) error {
		calls.Add(1)
		time.Sleep(300 * time.Millisecond) // a slow comparison the burst arrives during
		return bcrypt.CompareHashAndPassword(h, pw)
	}
	cr := a.current()
	errs := make(chan *Failure, 8)
	for range 8 {
		go func() { _, f := a.basic(cr, "a", "pw"); errs <- f }()
	}
	for range 8 {
		if f := <-errs; f != nil {
			t.Fatal(f)
		}
	}
	if n := calls.Load(); n > 2 {
		t.Fatalf("8 concurrent requests made %d comparisons", n)
	}
}

// Refusals are logged with their reason and user, never the password or
// token tried, nor the configured ones.
func TestLogsHoldNoSecret(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	s := serve(t, Config{Users: []User{{Name: "dave", Password: "inline-pw-1"}}, Tokens: []Token{{Name: "ci", Token: "inline-tok-2"}}}, WithLogger(logger))
	s.get("/", basicAuth("dave", "tried-pw-3"))
	s.get("/", "Bearer tried-tok-4")
	s.get("/", basicAuth("dave", "inline-pw-1"))
	out := buf.String()
	for _, want := range []string{"reason=wrong_password", "user=dave", "reason=unknown_token"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"inline-pw-1", "inline-tok-2", "tried-pw-3", "tried-tok-4"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds the secret %q:\n%s", secret, out)
		}
	}
}
