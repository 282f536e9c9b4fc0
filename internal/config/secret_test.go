package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Secret("inline", "", "x.password_file"); err != nil || v != "inline" {
		t.Fatalf("inline: %q %v", v, err)
	}
	if v, err := Secret("", path, "x.password_file"); err != nil || v != "s3cret" {
		t.Fatalf("file: %q %v", v, err)
	}
	if _, err := Secret("", path+".missing", "x.password_file"); err == nil || !strings.HasPrefix(err.Error(), "x.password_file: ") {
		t.Fatalf("missing file: %v", err)
	}
}
