package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshwork/meshwork/internal/config"
)

// Client authentication modes of a TLS listener (ServerFiles.ClientAuth).
const (
	// ClientAuthNone asks no certificate of clients.
	ClientAuthNone = "none"
	// ClientAuthVerifyIfGiven verifies a certificate a client sends
	// against the client CAs and accepts clients that send none (they
	// then authenticate otherwise, e.g. with a token).
	ClientAuthVerifyIfGiven = "verify_if_given"
	// ClientAuthRequire refuses the handshake of a client without a
	// certificate the client CAs verify: mutual TLS.
	ClientAuthRequire = "require"
)

// Fields of a client certificate that name its principal
// (ServerFiles.ClientIdentity).
const (
	IdentityCN    = "cn"    // the subject's common name
	IdentityDNS   = "dns"   // the first DNS subject alternative name
	IdentityURI   = "uri"   // the first URI SAN, e.g. spiffe://example.org/billing
	IdentityEmail = "email" // the first e-mail SAN
)

// DefaultCheckInterval is how often, at most, a TLS listener looks at its
// files for new certificates: on the first handshake after the interval.
const DefaultCheckInterval = 5 * time.Second

// ServerFiles names the PEM files and client checks of a TLS listener (an
// HTTP API of the mesh). Its YAML form is a service's tls section; with no
// cert_file the listener speaks plain HTTP.
type ServerFiles struct {
	// CertFile holds the server's certificate chain (leaf first) and
	// KeyFile its private key. Both are read again when they change
	// (looked at on a handshake, at most every 5 s), so a renewed
	// certificate is served without a restart.
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	// ClientCAFile holds the certificates that verify clients'
	// certificates (mutual TLS); read again when it changes.
	ClientCAFile string `yaml:"client_ca_file,omitempty" json:"client_ca_file,omitempty"`
	// ClientAuth is none, verify_if_given (a certificate a client sends
	// must verify; clients without one authenticate otherwise) or require
	// (no handshake without a verified certificate). Default: require
	// when client_ca_file is set, none otherwise.
	ClientAuth string `yaml:"client_auth,omitempty" json:"client_auth,omitempty"`
	// ClientIdentity is the field of a verified client certificate that
	// names its principal: cn (default), dns, uri or email (the first
	// subject alternative name of that kind).
	ClientIdentity string `yaml:"client_identity,omitempty" json:"client_identity,omitempty"`
	// MinVersion is the oldest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `yaml:"min_version,omitempty" json:"min_version,omitempty"`
}

// Enabled reports whether the listener speaks TLS.
func (f ServerFiles) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" }

// Mutual reports whether clients may authenticate with certificates.
func (f ServerFiles) Mutual() bool { return f.clientAuth() != ClientAuthNone }

func (f ServerFiles) clientAuth() string {
	if f.ClientAuth == "" && f.ClientCAFile != "" {
		return ClientAuthRequire
	}
	if f.ClientAuth == "" {
		return ClientAuthNone
	}
	return f.ClientAuth
}

// Validate checks what can be checked without reading the files. Errors
// are config.FieldErrors relative to the tls section.
func (f ServerFiles) Validate() error {
	var errs []error
	if (f.CertFile == "") != (f.KeyFile == "") {
		errs = append(errs, config.Errorf("", "cert_file and key_file go together: the server's certificate and its key"))
	}
	if !f.Enabled() && (f.ClientCAFile != "" || f.ClientAuth != "") {
		errs = append(errs, config.Errorf("", "client_ca_file and client_auth need cert_file and key_file: mutual TLS is TLS first"))
	}
	switch f.ClientAuth {
	case "", ClientAuthNone:
	case ClientAuthVerifyIfGiven, ClientAuthRequire:
		if f.ClientCAFile == "" {
			errs = append(errs, config.Errorf("client_ca_file", "client_auth %s needs the CAs that verify client certificates", f.ClientAuth))
		}
	default:
		errs = append(errs, config.Errorf("client_auth", "want none, verify_if_given or require, got %q", f.ClientAuth))
	}
	switch f.ClientIdentity {
	case "", IdentityCN, IdentityDNS, IdentityURI, IdentityEmail:
	default:
		errs = append(errs, config.Errorf("client_identity", "want cn, dns, uri or email, got %q", f.ClientIdentity))
	}
	if _, err := minVersion(f.MinVersion); err != nil {
		errs = append(errs, config.Errorf("min_version", "%v", err))
	}
	return errors.Join(errs...)
}

func minVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("want 1.2 or 1.3, got %q", v)
}

// Identity returns the principal a verified client certificate names by
// field (cn, dns, uri or email; "" is cn), or "" when it has none.
func Identity(cert *x509.Certificate, field string) string {
	switch field {
	case IdentityDNS:
		if len(cert.DNSNames) > 0 {
			return cert.DNSNames[0]
		}
	case IdentityURI:
		if len(cert.URIs) > 0 {
			return cert.URIs[0].String()
		}
	case IdentityEmail:
		if len(cert.EmailAddresses) > 0 {
			return cert.EmailAddresses[0]
		}
	default:
		return cert.Subject.CommonName
	}
	return ""
}

// ClientIdentityOf returns the principal of a connection's verified client
// certificate (see Identity), or "" when the client sent none or it was
// not verified.
func (f ServerFiles) ClientIdentityOf(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return Identity(cs.VerifiedChains[0][0], f.ClientIdentity)
}

// Server is the TLS configuration of a listener whose certificates are
// read again when their files change: at most once per check interval, the
// first handshake after it reads the files, and when they differ from what
// is served and parse, later handshakes get the new certificate and client
// CAs. Files caught half-written (a certificate that does not match its
// key) leave the old ones in place until the next check. Connections
// already open keep what they agreed on.
type Server struct {
	files    ServerFiles
	field    string
	log      *slog.Logger
	interval time.Duration
	protos   []string

	cur      atomic.Pointer[serverState]
	checking sync.Mutex // one handshake reads the files; the others go on with cur
	checked  atomic.Int64
	reloads  atomic.Int64
}

// serverState is what one reading of the files produced.
type serverState struct {
	cert, key, ca []byte
	config        *tls.Config
}

// ServerOption changes how NewServer builds a Server.
type ServerOption func(*Server)

// WithCheckInterval sets how often, at most, the files are looked at; 0
// looks at every handshake (tests).
func WithCheckInterval(d time.Duration) ServerOption {
	return func(s *Server) { s.interval = d }
}

// WithLogger logs reloads and files that could not be read.
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithNextProtos sets the ALPN protocols offered (e.g. h2, http/1.1); none
// by default, which is HTTP/1.1.
func WithNextProtos(p ...string) ServerOption { return func(s *Server) { s.protos = p } }

// NewServer reads the files of f (which must be Enabled) and returns the
// listener's configuration. field is the configuration path of the tls
// section, used in errors.
func NewServer(f ServerFiles, field string, opts ...ServerOption) (*Server, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if !f.Enabled() {
		return nil, fmt.Errorf("%s: cert_file and key_file are required for a TLS listener", field)
	}
	s := &Server{files: f, field: field, log: slog.New(slog.DiscardHandler), interval: DefaultCheckInterval}
	for _, o := range opts {
		o(s)
	}
	st, err := s.read(nil)
	if err != nil {
		return nil, err
	}
	s.cur.Store(st)
	s.checked.Store(time.Now().UnixNano())
	return s, nil
}

// Config returns the configuration to serve with (tls.NewListener): each
// handshake takes the newest certificates.
func (s *Server) Config() *tls.Config {
	v, _ := minVersion(s.files.MinVersion)
	return &tls.Config{
		MinVersion: v,
		NextProtos: s.protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current().config, nil
		},
	}
}

// Reloads counts the times new certificates were taken up.
func (s *Server) Reloads() int64 { return s.reloads.Load() }

// Check reads the files now and takes up certificates that changed; it
// returns why the files could not be used, the old ones staying served.
func (s *Server) Check() error {
	s.checking.Lock()
	defer s.checking.Unlock()
	return s.check()
}

func (s *Server) current() *serverState {
	if now := time.Now().UnixNano(); now-s.checked.Load() >= s.interval.Nanoseconds() && s.checking.TryLock() {
		if err := s.check(); err != nil {
			s.log.Warn("tls: keeping the certificates served so far", "field", s.field, "error", err)
		}
		s.checking.Unlock()
	}
	return s.cur.Load()
}

// check does Check's work; s.checking is held.
func (s *Server) check() error {
	defer s.checked.Store(time.Now().UnixNano())
	old := s.cur.Load()
	st, err := s.read(old)
	if err != nil || st == old {
		return err
	}
	s.cur.Store(st)
	s.reloads.Add(1)
	s.log.Info("tls: certificates reloaded", "field", s.field, "cert_file", s.files.CertFile, "client_ca_file", s.files.ClientCAFile)
	return nil
}

// read reads the files; when they hold what old was made of, it returns
// old.
func (s *Server) read(old *serverState) (*serverState, error) {
	st := &serverState{}
	var err error
	if st.cert, err = os.ReadFile(s.files.CertFile); err != nil {
		return nil, fmt.Errorf("%s.cert_file: %w", s.field, err)
	}
	if st.key, err = os.ReadFile(s.files.KeyFile); err != nil {
		return nil, fmt.Errorf("%s.key_file: %w", s.field, err)
	}
	if s.files.ClientCAFile != "" {
		if st.ca, err = os.ReadFile(s.files.ClientCAFile); err != nil {
			return nil, fmt.Errorf("%s.client_ca_file: %w", s.field, err)
		}
	}
	if old != nil && bytes.Equal(old.cert, st.cert) && bytes.Equal(old.key, st.key) && bytes.Equal(old.ca, st.ca) {
		return old, nil
	}
	pair, err := tls.X509KeyPair(st.cert, st.key)
	if err != nil {
		return nil, fmt.Errorf("%s.cert_file/key_file: %w", s.field, err)
	}
	v, _ := minVersion(s.files.MinVersion)
	st.config = &tls.Config{MinVersion: v, NextProtos: s.protos, Certificates: []tls.Certificate{pair}}
	if st.ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(st.ca) {
			return nil, fmt.Errorf("%s.client_ca_file %s: no PEM certificates found", s.field, s.files.ClientCAFile)
		}
		st.config.ClientCAs = pool
	}
	switch s.files.clientAuth() {
	case ClientAuthVerifyIfGiven:
		st.config.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		st.config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return st, nil
}
