package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Environment variables of meshctl's credentials, when the flags are not
// given.
const (
	userEnv     = "MESHCTL_USER"
	passwordEnv = "MESHCTL_PASSWORD"
	tokenEnv    = "MESHCTL_TOKEN"
)

// devSecurity is what a secure dev mesh's endpoints file (meshd dev
// -secure) says of its security: the CA that verifies its listeners, its
// Kafka's SASL mechanism and its users' credentials file.
type devSecurity struct {
	CA            string `json:"tls_ca"`
	SASLMechanism string `json:"sasl_mechanism"`
	Credentials   string `json:"credentials"`
}

// readDevSecurity reads the security of the endpoints file at path; empty
// for an open dev mesh.
func readDevSecurity(path string) (devSecurity, error) {
	var s devSecurity
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// credentials are who meshctl acts as: a user and password (HTTP basic,
// and SASL to Kafka), or a bearer token.
type credentials struct {
	user, password, token string
}

// credentials settles who meshctl acts as: --user with --password-file,
// else $MESHCTL_USER with $MESHCTL_PASSWORD (or $MESHCTL_TOKEN), else, in
// the directory of a secure dev mesh, the admin of its credentials file.
// None is no error: the mesh may be open.
func (a *app) credentials(sec devSecurity) (credentials, error) {
	switch {
	case a.user != "":
		if a.passwordFile == "" {
			return credentials{}, errors.New("--user needs --password-file (a file holding the password; a password on the command line shows in the process list)")
		}
		b, err := os.ReadFile(a.passwordFile)
		if err != nil {
			return credentials{}, fmt.Errorf("--password-file: %w", err)
		}
		return credentials{user: a.user, password: strings.TrimRight(string(b), "\r\n")}, nil
	case os.Getenv(tokenEnv) != "":
		return credentials{token: os.Getenv(tokenEnv)}, nil
	case os.Getenv(userEnv) != "":
		return credentials{user: os.Getenv(userEnv), password: os.Getenv(passwordEnv)}, nil
	case sec.Credentials != "":
		b, err := os.ReadFile(sec.Credentials)
		if errors.Is(err, fs.ErrNotExist) {
			return credentials{}, nil
		}
		if err != nil {
			return credentials{}, err
		}
		var f struct {
			Admin struct {
				Username string `json:"username"`
				Password string `json:"password"`
			} `json:"admin"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return credentials{}, fmt.Errorf("%s: %w", sec.Credentials, err)
		}
		return credentials{user: f.Admin.Username, password: f.Admin.Password}, nil
	}
	return credentials{}, nil
}

// authorize sets the request's credentials, when there are any.
func (c credentials) authorize(req *http.Request) {
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
}

// transport trusts the CA of a secure dev mesh besides the system's roots.
func (s devSecurity) transport() (http.RoundTripper, error) {
	if s.CA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(s.CA)
	if err != nil {
		return nil, fmt.Errorf("the dev mesh's CA (tls_ca of %s): %w", defaultEndpoints, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the dev mesh's CA %s holds no PEM certificate", s.CA)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// kafka makes cfg reach a secure dev mesh's Kafka: TLS verified by its CA
// and SASL as the credentials' user.
func (s devSecurity) kafka(cfg *kafkaclient.Config, c credentials) {
	if s.CA != "" {
		cfg.TLS = kafkaclient.TLS{Enabled: true, Files: tlsconfig.Files{CAFile: s.CA}}
	}
	if s.SASLMechanism != "" && c.user != "" {
		cfg.SASL = kafkaclient.SASL{Mechanism: s.SASLMechanism, Username: c.user, Password: c.password}
	}
}
