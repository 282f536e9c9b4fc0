package kafkaclient

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// Config says how to reach one Kafka cluster. Its YAML form is the same in
// every service's configuration file.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string `yaml:"brokers" json:"brokers"`
	// ClientID overrides the client id; by default it is
	// meshwork-<component>-<site>, which shows in broker logs and quotas.
	ClientID string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	// TLS encrypts connections when enabled. Its files are read again
	// when their content changes: a renewed CA or client certificate is
	// used from the next connection, without a restart.
	TLS TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// SASL authenticates connections when a mechanism is set.
	SASL SASL `yaml:"sasl,omitempty" json:"sasl,omitempty"`
	// DialTimeout bounds connecting to a broker.
	DialTimeout time.Duration `yaml:"dial_timeout,omitempty" json:"dial_timeout,omitempty"`
	// RequestTimeoutOverhead is added to each request's own timeout to
	// decide when a broker is not answering.
	RequestTimeoutOverhead time.Duration `yaml:"request_timeout_overhead,omitempty" json:"request_timeout_overhead,omitempty"`
	// Producer settings apply to clients that produce.
	Producer Producer `yaml:"producer,omitempty" json:"producer,omitempty"`
}

// TLS configures transport encryption.
type TLS struct {
	// Enabled turns TLS on; the files below are used only then.
	Enabled         bool `yaml:"enabled" json:"enabled"`
	tlsconfig.Files `yaml:",inline" json:",inline"`
}

// SASL mechanisms supported.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
)

// SASL configures authentication.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER;
	// empty disables SASL.
	Mechanism string `yaml:"mechanism,omitempty" json:"mechanism,omitempty"`
	// Username is the SASL user; required with PLAIN and SCRAM.
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	// Password is the secret written inline, which loads with a warning at
	// start; prefer password_file or password_env.
	Password string `yaml:"password,omitempty" json:"-" secret:"true"`
	// PasswordFile names a file holding the password (its trailing newline
	// dropped), read at each connection, so a rotated password is used
	// from the next one.
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	// OAuth gives the token of OAUTHBEARER.
	OAuth OAuth `yaml:"oauth,omitempty" json:"oauth,omitempty"`
}

// password is where the password comes from.
func (s SASL) password() config.SecretRef {
	return config.SecretRef{Field: "sasl.password", Value: s.Password, File: s.PasswordFile, Env: s.PasswordEnv}
}

// Acks levels.
const (
	AcksAll    = "all"
	AcksLeader = "leader"
	AcksNone   = "none"
)

// Producer configures durability and batching.
type Producer struct {
	// Acks is all (the default: every in-sync replica has the record),
	// leader, or none.
	Acks string `yaml:"acks,omitempty" json:"acks,omitempty"`
	// Idempotent makes retries safe from duplicates; it needs acks all.
	Idempotent *bool `yaml:"idempotent,omitempty" json:"idempotent,omitempty"`
	// Linger waits this long for a batch to fill; 0 sends at once.
	Linger time.Duration `yaml:"linger,omitempty" json:"linger,omitempty"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression,omitempty" json:"compression,omitempty"`
	// MaxBufferedRecords bounds the records waiting to be sent; producing
	// blocks beyond it, which is how back-pressure reaches the caller.
	MaxBufferedRecords int `yaml:"max_buffered_records,omitempty" json:"max_buffered_records,omitempty"`
	// DeliveryTimeout fails a record that could not be delivered in time;
	// 0 retries until the caller's context ends.
	DeliveryTimeout time.Duration `yaml:"delivery_timeout,omitempty" json:"delivery_timeout,omitempty"`
}

// Defaults returns the configuration used for whatever a file leaves out.
func Defaults() Config {
	idem := true
	return Config{
		DialTimeout:            10 * time.Second,
		RequestTimeoutOverhead: 10 * time.Second,
		Producer: Producer{
			Acks:               AcksAll,
			Idempotent:         &idem,
			Compression:        "none",
			MaxBufferedRecords: 10000,
		},
	}
}

// Validate checks the configuration; field paths are relative to it.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, config.Errorf("brokers", "at least one seed broker (host:port) is required"))
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("brokers[%d]", i), "want host:port, got %q", b))
		}
	}
	if c.TLS.Enabled {
		errs = append(errs, config.Nest("tls", c.TLS.Validate()))
	} else if c.TLS.CAFile != "" || c.TLS.CertFile != "" {
		errs = append(errs, config.Errorf("tls.enabled", "TLS files are set but TLS is not enabled; add enabled: true"))
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if c.SASL.Username == "" {
			errs = append(errs, config.Errorf("sasl.username", "required with mechanism %s", c.SASL.Mechanism))
		}
		errs = append(errs, c.SASL.password().Check(true))
	case MechanismOAuthBearer:
		errs = append(errs, config.Nest("sasl.oauth", c.SASL.OAuth.validate()))
	default:
		errs = append(errs, config.Errorf("sasl.mechanism", "unknown mechanism %q; want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", c.SASL.Mechanism))
	}
	p := c.Producer
	switch p.Acks {
	case "", AcksAll, AcksLeader, AcksNone: // empty: all, so a nested config without defaults stays safe
	default:
		errs = append(errs, config.Errorf("producer.acks", "unknown acks %q; want all, leader or none", p.Acks))
	}
	if p.Idempotent != nil && *p.Idempotent && p.Acks != AcksAll && p.Acks != "" {
		errs = append(errs, config.Errorf("producer.idempotent", "the idempotent producer needs acks all; set idempotent: false to use acks %s", p.Acks))
	}
	if _, err := codec(p.Compression); err != nil {
		errs = append(errs, config.Errorf("producer.compression", "%v", err))
	}
	if p.MaxBufferedRecords < 0 {
		errs = append(errs, config.Errorf("producer.max_buffered_records", "must not be negative"))
	}
	if c.DialTimeout < 0 || c.RequestTimeoutOverhead < 0 || p.Linger < 0 || p.DeliveryTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	return errors.Join(errs...)
}

// String shows the section with its inline secrets redacted: it is what
// fmt and log/slog print, also inside a Config.
func (s SASL) String() string {
	type plain SASL // without this method
	r := plain(s)
	r.Password = config.Redact(r.Password)
	return fmt.Sprintf("%+v", r) // r.OAuth redacts itself
}

// LogValue is String for log/slog.
func (s SASL) LogValue() slog.Value { return slog.StringValue(s.String()) }
