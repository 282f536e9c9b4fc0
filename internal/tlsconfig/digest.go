package tlsconfig

import (
	"crypto/sha256"
	"fmt"
	"os"
)

// Digest is a digest of the content of the files f names (CA, client
// certificate and key), so that a client can tell when they were renewed
// on disk and build its configuration anew. Content, not modification
// times: a copy that keeps them (cp -p, a secret sync) is seen too. field
// is the configuration path of the tls section, used in errors.
func (f Files) Digest(field string) ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, p := range []struct{ name, path string }{{"ca_file", f.CAFile}, {"cert_file", f.CertFile}, {"key_file", f.KeyFile}} {
		if p.path != "" {
			b, err := os.ReadFile(p.path)
			if err != nil {
				return [sha256.Size]byte{}, fmt.Errorf("%s.%s: %w", field, p.name, err)
			}
			h.Write(b)
		}
		h.Write([]byte{0}) // the files' boundaries
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}
