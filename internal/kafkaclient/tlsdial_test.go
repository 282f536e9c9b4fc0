package kafkaclient_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/internal/kafkaclient"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/internal/tlsconfig/tlstest"
)

// A CA file renewed on disk is used from the next connection of the same
// client: no restart when a cluster's CA changes.
func TestTLSFilesReadAgainWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	brokers := tlstest.NewCA(t, dir, "brokers")
	other := tlstest.NewCA(t, dir, "other")
	server := brokers.Issue(t, tlstest.Spec{CN: "kafka"})
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{server.Pair}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	caFile := filepath.Join(dir, "kafka-ca.pem")
	copyCA := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		tlstest.Write(t, caFile, b)
	}
	copyCA(other.File) // not the brokers' CA yet
	c := kafkaclient.Defaults()
	c.Brokers = cluster.ListenAddrs()
	c.TLS = kafkaclient.TLS{Enabled: true, Files: tlsconfig.Files{CAFile: caFile}}
	cl, err := kafkaclient.New(c, "test", "east")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(within time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr()
	}
	if err := produce(2 * time.Second); err == nil {
		t.Fatal("with another CA the brokers must be refused")
	}
	copyCA(brokers.File)
	if err := produce(20 * time.Second); err != nil {
		t.Fatalf("after the CA file was renewed: %v", err)
	}
}
