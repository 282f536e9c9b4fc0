package authn

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// Static tokens in every form prove their names; an unknown one gets a
// Bearer challenge with error="invalid_token".
func TestStaticTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CI_TOKEN", "env-token")
	sum := sha256.Sum256([]byte("digest-token"))
	s := serve(t, Config{Tokens: []Token{
		{Name: "from-file", TokenFile: file},
		{Name: "from-env", TokenEnv: "CI_TOKEN"},
		{Name: "from-digest", TokenSHA256: hex.EncodeToString(sum[:])},
		{Name: "inline", Token: "inline-token"},
	}})
	for tok, want := range map[string]string{"file-token": "from-file", "env-token": "from-env", "digest-token": "from-digest", "inline-token": "inline"} {
		if status, _, body := s.get("/", "Bearer "+tok); status != 200 || body != want+"/token" {
			t.Errorf("%s: %d %s", tok, status, body)
		}
	}
	status, hdr, body := s.get("/", "Bearer nope")
	if status != 401 || s.failures(ReasonUnknownToken) != 1 {
		t.Fatalf("unknown token: %d %s", status, body)
	}
	message(t, body)
	if got := bearerError(hdr); got != `Bearer realm="meshwork", error="invalid_token", error_description="the bearer token is not one this service knows"` {
		t.Fatalf("challenge %q", got)
	}
	if status, hdr, _ := s.get("/", ""); status != 401 || bearerError(hdr) != `Bearer realm="meshwork"` {
		t.Fatalf("no token: %d %q", status, hdr.Values("WWW-Authenticate"))
	}
}
