package devmesh

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The secure dev mesh's certificates: a CA of its own, made on the first
// secure run and kept (clients are told to trust tls/ca.pem once), and a
// server certificate it signs for the loopback names, served by every
// listener of the mesh. The server certificate is made again at a start
// when it is missing, no longer matches the CA, or is within
// serverRenewBefore of its end; the listeners read it again when it
// changes, as every service of the mesh does.
const (
	caValidity        = 5 * 365 * 24 * time.Hour
	serverValidity    = 365 * 24 * time.Hour
	serverRenewBefore = 30 * 24 * time.Hour
)

// certFiles are the PEM files of the dev mesh's certificates, in <dir>/tls.
type certFiles struct {
	CA, CAKey, Cert, Key string
}

func newCertFiles(dir string) certFiles {
	d := filepath.Join(dir, "tls")
	return certFiles{
		CA:    filepath.Join(d, "ca.pem"),
		CAKey: filepath.Join(d, "ca-key.pem"),
		Cert:  filepath.Join(d, "server.pem"),
		Key:   filepath.Join(d, "server-key.pem"),
	}
}

// ensure makes the CA if there is none and the server certificate when it
// is needed (see above). Keys are written with mode 0600.
func (f certFiles) ensure(now time.Time) error {
	if err := os.MkdirAll(filepath.Dir(f.CA), 0o700); err != nil {
		return fmt.Errorf("dev mesh tls: %w", err)
	}
	caCert, caKey, err := f.loadCA()
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = f.makeCA(now)
	}
	if err != nil {
		return err
	}
	if f.serverValid(caCert, now) {
		return nil
	}
	return f.makeServer(caCert, caKey, now)
}

func (f certFiles) loadCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(f.CA, f.CAKey)
	if err != nil {
		if _, statErr := os.Stat(f.CA); errors.Is(statErr, os.ErrNotExist) {
			return nil, nil, os.ErrNotExist
		}
		return nil, nil, fmt.Errorf("dev mesh tls: the CA in %s and %s cannot be read (%w); remove both to have a new CA made (clients must then trust the new %s)", f.CA, f.CAKey, err, f.CA)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("dev mesh tls: %s holds no ECDSA key; remove %s and %s to have a new CA made", f.CAKey, f.CA, f.CAKey)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("dev mesh tls: %s: %w", f.CA, err)
	}
	return cert, key, nil
}

func (f certFiles) makeCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Meshwork dev mesh CA", Organization: []string{"Meshwork dev mesh"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("dev mesh tls: make CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKeyPair(f.CA, f.CAKey, der, key); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// serverValid reports whether the server certificate exists, is signed by
// ca and has more than serverRenewBefore to live.
func (f certFiles) serverValid(ca *x509.Certificate, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || now.Add(serverRenewBefore).After(cert.NotAfter) {
		return false
	}
	return cert.CheckSignatureFrom(ca) == nil
}

func (f certFiles) makeServer(ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := serialNumber()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Meshwork dev mesh"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Server and client: the mesh's services reach each other with it.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("dev mesh tls: make server certificate: %w", err)
	}
	return writeKeyPair(f.Cert, f.Key, der, key)
}

// writeKeyPair writes a certificate (0644) and its key (0600), each
// atomically.
func writeKeyPair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("dev mesh tls: %w", err)
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("dev mesh tls: %w", err)
	}
	return nil
}

// writeFileAtomic writes b to path through a temporary file of the given
// mode, so that a reader never sees half a file and a secret is never
// readable by others, even for a moment.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// serialNumber is a random 127-bit serial, as RFC 5280 wants them unique
// per CA.
func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}
