package main

import (
	"cmp"
	"fmt"
	"net/http"
	"os"

	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// The environment variables of the client's TLS, for when a flag is not
// given. MESH_CA is the CA the mesh's services share; MESHCTL_CA wins over
// it for meshctl alone.
const (
	caEnv     = "MESHCTL_CA"
	meshCAEnv = "MESH_CA"
	certEnv   = "MESHCTL_CERT"
	keyEnv    = "MESHCTL_KEY"
)

// caFlagHelp is the help of --cacert.
func caFlagHelp() string {
	return "trust the CA certificates (PEM) of `file` for https servers (default: $" + caEnv + ", else $" + meshCAEnv + ", else the tls_ca of " + defaultEndpoints + ")"
}

// tlsFlags are the client TLS settings of every command that speaks
// https: to the control plane and to a registry whose certificates a
// private CA issued, and a client certificate where they ask for one (mTLS).
type tlsFlags struct {
	caFile, certFile, keyFile string
	// endpointsCA is the tls_ca of .mesh/endpoints.json, used when neither
	// a flag nor the environment names a CA.
	endpointsCA string

	client *http.Client
	err    error
}

// files are the flags, else the environment's values, else the dev
// mesh's CA.
func (f *tlsFlags) files() tlsconfig.Files {
	return tlsconfig.Files{
		CAFile:   cmp.Or(f.caFile, os.Getenv(caEnv), os.Getenv(meshCAEnv), f.endpointsCA),
		CertFile: cmp.Or(f.certFile, os.Getenv(certEnv)),
		KeyFile:  cmp.Or(f.keyFile, os.Getenv(keyEnv)),
	}
}

// httpClient is the HTTP client of every API call, built on first use. A
// CA given replaces the system's roots, as curl's --cacert does: the
// servers it names are trusted by that CA alone.
func (f *tlsFlags) httpClient() (*http.Client, error) {
	if f.client != nil || f.err != nil {
		return f.client, f.err
	}
	files := f.files()
	if files.CAFile == "" && files.CertFile == "" && files.KeyFile == "" {
		f.client = &http.Client{}
		return f.client, nil
	}
	tc, err := files.Client("tls")
	if err != nil {
		f.err = fmt.Errorf("client TLS (--cacert/$%s/$%s, --cert/$%s, --key/$%s): %w", caEnv, meshCAEnv, certEnv, keyEnv, err)
		return nil, f.err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	f.client = &http.Client{Transport: tr}
	return f.client, nil
}
