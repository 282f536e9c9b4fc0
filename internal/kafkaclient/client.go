package kafkaclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// ClientID returns the default client id of a component at a site.
func ClientID(component, site string) string {
	id := "meshwork-" + component
	if site != "" {
		id += "-" + site
	}
	return id
}

// Options turns the configuration into franz-go options for a client of
// component at site. Files it names (CA, certificates, password) are read now,
// so a missing file is reported when the service starts, not at first use.
func (c *Config) Options(component, site string) ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client config: %w", err)
	}
	id := c.ClientID
	if id == "" {
		id = ClientID(component, site)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(id),
	}
	if c.DialTimeout > 0 {
		opts = append(opts, kgo.DialTimeout(c.DialTimeout))
	}
	if c.RequestTimeoutOverhead > 0 {
		opts = append(opts, kgo.RequestTimeoutOverhead(c.RequestTimeoutOverhead))
	}
	var tc *tls.Config
	if c.TLS.Enabled {
		rt, err := tlsconfig.NewReloading(c.TLS.Files, "kafka.tls")
		if err != nil {
			return nil, err
		}
		tc = rt.Config() // the CA the OAuth token endpoint's client trusts too
		d := &tlsDialer{tls: rt, net: &net.Dialer{Timeout: c.DialTimeout}}
		opts = append(opts, kgo.Dialer(d.DialContext))
	}
	if c.SASL.Mechanism != "" {
		m, err := c.SASL.mechanism(tc)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	po, err := c.Producer.options()
	if err != nil {
		return nil, err
	}
	return append(opts, po...), nil
}

// New builds a client of component at site; extra options come last and so
// win over the configuration's.
func New(c Config, component, site string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.Options(component, site)
	if err != nil {
		return nil, err
	}
	if tp, ok := telemetry.Tracing(); ok {
		opts = append(opts, kgo.WithHooks(newTracingHooks(tp, component+"/"+site)))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", component, err)
	}
	return cl, nil
}

// NewAdmin wraps a client for cluster administration (topics, groups, configs).
func NewAdmin(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// mechanism builds the SASL mechanism. The password is read at each
// authentication (a rotated password_file is used from the next
// connection), and once now, so a missing file stops the service at start.
func (s SASL) mechanism(tc *tls.Config) (sasl.Mechanism, error) {
	mech := strings.ToUpper(s.Mechanism)
	if mech == MechanismOAuthBearer {
		return s.OAuth.mechanism(tokenClient(tc))
	}
	ref := s.password()
	if _, err := ref.Resolve(); err != nil {
		return nil, fmt.Errorf("kafka %w", err)
	}
	user := s.Username
	auth := func(context.Context) (string, error) {
		pass, err := ref.Resolve()
		if err != nil {
			return "", fmt.Errorf("kafka %w", err)
		}
		return pass, nil
	}
	switch mech {
	case MechanismPlain:
		return plain.Plain(func(ctx context.Context) (plain.Auth, error) {
			pass, err := auth(ctx)
			return plain.Auth{User: user, Pass: pass}, err
		}), nil
	case MechanismSCRAMSHA256:
		return scram.Sha256(func(ctx context.Context) (scram.Auth, error) {
			pass, err := auth(ctx)
			return scram.Auth{User: user, Pass: pass}, err
		}), nil
	case MechanismSCRAMSHA512:
		return scram.Sha512(func(ctx context.Context) (scram.Auth, error) {
			pass, err := auth(ctx)
			return scram.Auth{User: user, Pass: pass}, err
		}), nil
	}
	return nil, fmt.Errorf("kafka sasl.mechanism %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", s.Mechanism)
}

// tokenClient is the HTTP client of OAuth token requests: it trusts the
// Kafka TLS section's CA too, as an identity provider inside the same
// organisation often has its certificate from the same private CA.
func tokenClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tc != nil && tc.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: tc.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: tokenTimeout}
}

func (p Producer) options() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch p.Acks {
	case AcksAll, "":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if p.Idempotent != nil && !*p.Idempotent || p.Acks == AcksLeader || p.Acks == AcksNone {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	opts = append(opts, kgo.ProducerLinger(p.Linger))
	c, err := codec(p.Compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(c))
	if p.MaxBufferedRecords > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(p.MaxBufferedRecords))
	}
	if p.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(p.DeliveryTimeout))
	}
	return opts, nil
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q; want none, gzip, snappy, lz4 or zstd", name)
}
