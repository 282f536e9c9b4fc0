package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/meshwork/meshwork/internal/config"
)

// Files names the PEM files and checks of a TLS client. Its YAML form is
// inlined in each connection's tls section.
type Files struct {
	// CAFile holds the certificates that verify the server; empty uses the
	// system's roots.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// CertFile and KeyFile hold the client certificate for mutual TLS; set
	// both or neither.
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	// ServerName overrides the name verified in the server's certificate.
	ServerName string `yaml:"server_name,omitempty" json:"server_name,omitempty"`
	// InsecureSkipVerify disables verification: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
}

// Validate checks what can be checked without reading the files: a client
// certificate needs its key and the other way round. Errors are
// config.FieldErrors relative to the tls section.
func (f Files) Validate() error {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return config.Errorf("", "cert_file and key_file go together for mutual TLS; set both or neither")
	}
	return nil
}

// Client reads the files and returns the configuration, TLS 1.2 at least.
// field is the configuration path of the tls section (e.g. kafka.tls), used
// in errors.
func (f Files) Client(field string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         f.ServerName,
		InsecureSkipVerify: f.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", field, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file %s: no PEM certificates found", field, f.CAFile)
		}
		tc.RootCAs = pool
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file/key_file: %w", field, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
