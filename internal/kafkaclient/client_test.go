package kafkaclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwork/meshwork/internal/kafkaclient"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/tlsconfig"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*kafkaclient.Config)
		want string
	}{
		{"no brokers", func(c *kafkaclient.Config) { c.Brokers = nil }, "brokers: at least one seed broker"},
		{"bad broker", func(c *kafkaclient.Config) { c.Brokers = []string{"localhost"} }, `brokers[0]: want host:port, got "localhost"`},
		{"bad mechanism", func(c *kafkaclient.Config) { c.SASL.Mechanism = "GSSAPI" }, `unknown mechanism "GSSAPI"`},
		{"sasl without user", func(c *kafkaclient.Config) { c.SASL.Mechanism = "PLAIN" }, "sasl.username: required"},
		{"idempotent needs acks all", func(c *kafkaclient.Config) { c.Producer.Acks = kafkaclient.AcksLeader }, "idempotent producer needs acks all"},
		{"bad acks", func(c *kafkaclient.Config) { c.Producer.Acks = "1" }, `unknown acks "1"`},
		{"bad compression", func(c *kafkaclient.Config) { c.Producer.Compression = "brotli" }, `unknown compression "brotli"`},
		{"tls files without tls", func(c *kafkaclient.Config) { c.TLS.CAFile = "ca.pem" }, "TLS is not enabled"},
		{"half a client cert", func(c *kafkaclient.Config) {
			c.TLS = kafkaclient.TLS{Enabled: true, Files: tlsconfig.Files{CertFile: "c.pem"}}
		}, "set both or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkaclient.Defaults()
			c.Brokers = []string{"127.0.0.1:9092"}
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigFromYAMLNamesLine(t *testing.T) {
	c := kafkaclient.Defaults()
	err := config.Parse("kafka.yaml", []byte("brokers: [\"127.0.0.1:9092\"]\nproducer:\n  acks: most\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "kafka.yaml:3:3: field producer.acks") {
		t.Fatalf("want an error at kafka.yaml:3:3 naming producer.acks, got %v", err)
	}
}

func roundTrip(t *testing.T, c kafkaclient.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kafkaclient.New(c, "test", "east", kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		return err
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		return err
	}
	if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "v" {
		t.Fatalf("consumed %d records", fs.NumRecords())
	}
	return nil
}

func TestPlainCluster(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	c := kafkaclient.Defaults()
	c.Brokers = cluster.ListenAddrs()
	if err := roundTrip(t, c); err != nil {
		t.Fatal(err)
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{kafkaclient.MechanismPlain, kafkaclient.MechanismSCRAMSHA256, kafkaclient.MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
				kfake.EnableSASL(), kfake.Superuser(mech, "mesh", "s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			pw := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c := kafkaclient.Defaults()
			c.Brokers = cluster.ListenAddrs()
			c.SASL = kafkaclient.SASL{Mechanism: mech, Username: "mesh", PasswordFile: pw}
			if err := roundTrip(t, c); err != nil {
				t.Fatalf("good password: %v", err)
			}
			c.SASL = kafkaclient.SASL{Mechanism: mech, Username: "mesh", Password: "wrong"}
			c.Producer.DeliveryTimeout = 3 * time.Second
			if err := roundTrip(t, c); err == nil {
				t.Fatal("a wrong password must fail")
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := selfSigned(t, dir)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	c := kafkaclient.Defaults()
	c.Brokers = cluster.ListenAddrs()
	c.TLS = kafkaclient.TLS{Enabled: true, Files: tlsconfig.Files{CAFile: caFile}}
	if err := roundTrip(t, c); err != nil {
		t.Fatal(err)
	}
	c.TLS = kafkaclient.TLS{Enabled: true, Files: tlsconfig.Files{CAFile: filepath.Join(dir, "missing.pem")}}
	if _, err := c.Options("test", "east"); err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Fatalf("a missing CA file must be reported at start, got %v", err)
	}
}

// selfSigned writes a CA-signed-by-itself certificate for 127.0.0.1.
func selfSigned(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "meshwork test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, cert
}

func TestTLSFromYAML(t *testing.T) {
	c := kafkaclient.Defaults()
	err := config.Parse("kafka.yaml", []byte("brokers: [\"127.0.0.1:9093\"]\ntls:\n  enabled: true\n  ca_file: ca.pem\n  server_name: kafka\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS.Enabled || c.TLS.CAFile != "ca.pem" || c.TLS.ServerName != "kafka" {
		t.Fatalf("tls section not read: %+v", c.TLS)
	}
}
