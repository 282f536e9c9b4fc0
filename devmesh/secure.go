package devmesh

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/policy"
)

// The secure dev mesh (Config.Secure, meshd dev -secure) runs with what a
// production mesh should: TLS on every listener (Kafka and MQTT too),
// SASL/SCRAM-SHA-512 and ACLs on Kafka, MQTT users and passwords, a
// principal per service and a policy.
// Its state, in the mesh's directory:
//
//	tls/ca.pem, tls/ca-key.pem          the dev mesh's CA (made once, kept)
//	tls/server.pem, tls/server-key.pem  the certificate of every listener
//	credentials.json                    the admin and viewer users (0600)
//	policy.yaml                         who may do what (written at each start)
//	secrets/<principal>                 each principal's password (0600)
//
// The users' passwords are made on the first secure run and kept; the
// services' passwords are made anew at each start (only the process uses
// them), and the Kafka users and ACLs are made again at each start from
// them and the policy, so that what Kafka enforces is what policy.yaml says.

// SASLMechanism is the SASL mechanism of the secure dev mesh's Kafka.
const SASLMechanism = kafkaclient.MechanismSCRAMSHA512

// The users of the secure dev mesh, in credentials.json.
const (
	UserAdmin  = "admin"
	UserViewer = "viewer"
)

// The principals of the mesh's own services. principalDevMesh is the dev
// mesh process itself, Kafka's superuser: it creates the topics and ACLs.
const (
	principalRegistry     = "svc-registry"
	principalMQTT         = "svc-mqtt"
	principalAMQP         = "svc-amqp"
	principalREST         = "svc-rest"
	principalReplicator   = "svc-replicator"
	principalControlPlane = "svc-controlplane"
	principalDevMesh      = "svc-devmesh"
)

// unitPrincipals names the principal each service runs as.
var unitPrincipals = map[string]string{
	unitRegistry:     principalRegistry,
	unitAdapter:      principalMQTT,
	unitAMQPAdapter:  principalAMQP,
	unitREST:         principalREST,
	unitReplicator:   principalReplicator,
	unitControlPlane: principalControlPlane,
}

// Credential is one user's name and password.
type Credential struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Credentials is the shape of credentials.json: the users of the secure
// dev mesh. admin may do everything; viewer may read (registry GETs,
// consume from Kafka, subscribe over MQTT) and nothing else.
type Credentials struct {
	Admin  Credential `json:"admin"`
	Viewer Credential `json:"viewer"`
}

// ReadCredentials reads a credentials.json file.
func ReadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", path, err)
	}
	if c.Admin.Username == "" || c.Admin.Password == "" || c.Viewer.Username == "" || c.Viewer.Password == "" {
		return Credentials{}, fmt.Errorf("%s: want {\"admin\": {\"username\": .., \"password\": ..}, \"viewer\": {...}} with every field set", path)
	}
	return c, nil
}

// security is what the secure dev mesh configures its listeners and
// clients with.
type security struct {
	dir        string
	certs      certFiles
	users      Credentials
	secretsDir string
	// passwords by principal: the users' and the services'.
	passwords map[string]string
	policy    devPolicy

	// Set by startPolicy: the services' authorizer, where the
	// authentication of their APIs counts refusals, and how to stop
	// following policy.yaml.
	authz      *policy.Authorizer
	metrics    prometheus.Registerer
	stopPolicy func()
}

// setupSecurity makes or reuses the secure dev mesh's files in dir (see
// above).
func setupSecurity(dir string, logger *slog.Logger) (*security, error) {
	sec := &security{dir: dir, certs: newCertFiles(dir), secretsDir: filepath.Join(dir, "secrets"), passwords: map[string]string{}}
	if err := sec.certs.ensure(time.Now()); err != nil {
		return nil, err
	}
	users, err := ensureCredentials(filepath.Join(dir, CredentialsFile), logger)
	if err != nil {
		return nil, err
	}
	sec.users = users
	sec.passwords[users.Admin.Username] = users.Admin.Password
	sec.passwords[users.Viewer.Username] = users.Viewer.Password
	for _, p := range servicePrincipals() {
		if sec.passwords[p], err = randomSecret(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(sec.secretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev mesh: %w", err)
	}
	for p, pw := range sec.passwords {
		if err := writeFileAtomic(sec.passwordFile(p), []byte(pw+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("dev mesh secrets: %w", err)
		}
	}
	sec.policy = newDevPolicy(users)
	if err := sec.policy.write(filepath.Join(dir, PolicyFile)); err != nil {
		return nil, err
	}
	return sec, nil
}

// The secure dev mesh's files, in its directory.
const (
	CredentialsFile = "credentials.json"
	PolicyFile      = "policy.yaml"
)

// servicePrincipals lists the principals of the mesh's own services and of
// the dev mesh itself.
func servicePrincipals() []string {
	return []string{principalRegistry, principalMQTT, principalAMQP, principalREST, principalReplicator, principalControlPlane, principalDevMesh}
}

// ensureCredentials reads credentials.json, or makes it with random
// passwords. A file others may read is made private again, with a warning.
func ensureCredentials(path string, logger *slog.Logger) (Credentials, error) {
	if fi, err := os.Stat(path); err == nil {
		c, err := ReadCredentials(path)
		if err != nil {
			return Credentials{}, fmt.Errorf("dev mesh: %w (remove it to have new passwords made)", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("dev mesh: credentials file was readable by others; made private (0600)", "file", path, "mode", fi.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				return Credentials{}, fmt.Errorf("dev mesh: %w", err)
			}
		}
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return Credentials{}, fmt.Errorf("dev mesh: %w", err)
	}
	c := Credentials{Admin: Credential{Username: UserAdmin}, Viewer: Credential{Username: UserViewer}}
	var err error
	if c.Admin.Password, err = randomSecret(); err != nil {
		return Credentials{}, err
	}
	if c.Viewer.Password, err = randomSecret(); err != nil {
		return Credentials{}, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return Credentials{}, err
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return Credentials{}, fmt.Errorf("dev mesh: write credentials: %w", err)
	}
	return c, nil
}

// randomSecret is 24 random bytes, URL-safe base64 (32 characters): safe
// in a URL, a shell and a SASL exchange.
func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("dev mesh: random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// passwordFile is where principal's password is, for the password_file
// fields of the services' configurations.
func (sec *security) passwordFile(principal string) string {
	return filepath.Join(sec.secretsDir, principal)
}

// serverTLS is the tls section of every listener.
func (sec *security) serverTLS() tlsconfig.ServerFiles {
	return tlsconfig.ServerFiles{CertFile: sec.certs.Cert, KeyFile: sec.certs.Key}
}

// clientTLS verifies the mesh's listeners with its CA.
func (sec *security) clientTLS() tlsconfig.Files { return tlsconfig.Files{CAFile: sec.certs.CA} }

// kafka makes c reach the mesh's Kafka as principal: TLS verified by the
// mesh's CA, SASL/SCRAM-SHA-512 with the principal's password file.
func (sec *security) kafka(c *kafkaclient.Config, principal string) {
	c.TLS = kafkaclient.TLS{Enabled: true, Files: sec.clientTLS()}
	c.SASL = kafkaclient.SASL{Mechanism: SASLMechanism, Username: principal, PasswordFile: sec.passwordFile(principal)}
}

// secureServiceConfig is the security of one of the mesh's services in the
// secure dev mesh (nothing when sec is nil): it sets the common block's
// tls (the service's listener serves the mesh's certificate) and its Kafka
// client's TLS and SASL credentials as principal, the HTTP authentication
// of its API (auth: the users of credentials.json and the services, by
// their files in secrets/) and the policy (policy.file: the mesh's
// policy.yaml).
func secureServiceConfig(c *service.Common, sec *security, principal string) {
	if sec == nil {
		return
	}
	c.TLS = sec.serverTLS()
	sec.kafka(&c.Kafka, principal)
	c.Auth = sec.authConfig()
	c.Policy = sec.policyConfig()
}
