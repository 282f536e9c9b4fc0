package tlsconfig_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// A renewed CA or client certificate makes a new configuration; unchanged
// files, or files that cannot be read for a moment, keep the current one.
func TestReloadingFollowsTheFiles(t *testing.T) {
	dir := t.TempDir()
	first, second := tlstest.NewCA(t, dir, "first"), tlstest.NewCA(t, dir, "second")
	client := first.Issue(t, tlstest.Spec{CN: "client", Client: true})
	ca := filepath.Join(dir, "ca.pem")
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		tlstest.Write(t, to, b)
	}
	copyFile(first.File, ca)
	r, err := tlsconfig.NewReloading(tlsconfig.Files{CAFile: ca, CertFile: client.CertFile, KeyFile: client.KeyFile}, "broker.tls")
	if err != nil {
		t.Fatal(err)
	}
	trusts := func(ca *tlstest.CA) bool {
		_, err := ca.Cert.Verify(x509.VerifyOptions{Roots: r.Config().RootCAs})
		return err == nil
	}
	c1 := r.Config()
	if !trusts(first) || trusts(second) || r.Config() != c1 {
		t.Fatal("the first CA, unchanged, must be the one trusted, in the same configuration")
	}
	copyFile(second.File, ca)
	if !trusts(second) || trusts(first) {
		t.Fatal("the renewed CA file must be followed")
	}
	c2 := r.Config()
	if err := os.Remove(ca); err != nil {
		t.Fatal(err)
	}
	if r.Config() != c2 {
		t.Fatal("a file gone for a moment must keep the last good configuration")
	}
	if _, err := tlsconfig.NewReloading(tlsconfig.Files{CAFile: ca}, "broker.tls"); err == nil || !strings.Contains(err.Error(), "broker.tls.ca_file") {
		t.Fatalf("a missing file at start must be an error naming it, got %v", err)
	}
	var none *tlsconfig.Reloading
	if none.Config() != nil {
		t.Fatal("no TLS: nil")
	}
}
