package devmesh

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
)

// Endpoints is the shape of endpoints.json: how to reach each site's
// services. Keys are only ever added, never renamed, so scripts can rely on
// them.
type Endpoints struct {
	Sites map[string]SiteEndpoints `json:"sites"`
	// Admin serves /metrics, /healthz and /readyz of the dev mesh process.
	Admin string `json:"admin,omitempty"`
	// ControlPlane is the URL of the control plane's API, meshctl's server.
	ControlPlane string `json:"controlplane,omitempty"`
	// MeshFile is the path of the mesh.yaml the dev mesh wrote, which its
	// replicators and control plane read.
	MeshFile string `json:"mesh_file,omitempty"`
	// TLSCA, in a secure dev mesh, is the CA certificate (PEM) that
	// verifies every listener: the https URLs and Kafka's TLS.
	TLSCA string `json:"tls_ca,omitempty"`
	// SASLMechanism, in a secure dev mesh, is the SASL mechanism of its
	// Kafka (SCRAM-SHA-512, over TLS: security.protocol SASL_SSL).
	SASLMechanism string `json:"sasl_mechanism,omitempty"`
	// Credentials, in a secure dev mesh, is the credentials.json file of
	// its users (admin, viewer).
	Credentials string `json:"credentials,omitempty"`
	// Policy, in a secure dev mesh, is the policy.yaml its services read.
	Policy string `json:"policy,omitempty"`
}

// SiteEndpoints are one site's endpoints.
type SiteEndpoints struct {
	// Kafka is the bootstrap address, host:port.
	Kafka string `json:"kafka"`
	// MQTT is the broker URL, tcp://host:port (mqtts://host:port, TLS, in a
	// secure dev mesh).
	MQTT string `json:"mqtt"`
	// Registry is the schema registry's URL; the first site's is the
	// primary, the others forward writes to it.
	Registry string `json:"registry"`
	// AMQP is the URL (without credentials) of the AMQP 1.0 broker the
	// site's AMQP adapter bridges; absent when the site has none.
	AMQP string `json:"amqp,omitempty"`
	// HTTP is the REST adapter's URL: REST Proxy v2/v3, CloudEvents and
	// webhook subscriptions.
	HTTP string `json:"http,omitempty"`
}

// amqpNotConfigured is what the endpoint table says of a site without an
// AMQP broker.
const amqpNotConfigured = "not configured: start a broker (make services-up starts RabbitMQ and ActiveMQ), then meshd dev -amqp SITE=amqp://guest:guest@127.0.0.1:5672"

// WriteFile writes the endpoints as JSON, atomically, so a script polling
// the file never reads half of it.
func (e Endpoints) WriteFile(path string) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write endpoints: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write endpoints: %w", err)
	}
	return nil
}

// ReadEndpoints reads an endpoints.json file.
func ReadEndpoints(path string) (Endpoints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Endpoints{}, err
	}
	var e Endpoints
	if err := json.Unmarshal(b, &e); err != nil {
		return Endpoints{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return e, nil
}

// PrintTable writes the endpoints as a table for people.
func (e Endpoints) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tSERVICE\tENDPOINT")
	for _, name := range slices.Sorted(maps.Keys(e.Sites)) {
		s := e.Sites[name]
		fmt.Fprintf(tw, "%s\tkafka\t%s\n", name, s.Kafka)
		fmt.Fprintf(tw, "%s\tmqtt\t%s\n", name, s.MQTT)
		fmt.Fprintf(tw, "%s\tregistry\t%s\n", name, s.Registry)
		amqp := s.AMQP
		if amqp == "" {
			amqp = amqpNotConfigured
		}
		fmt.Fprintf(tw, "%s\tamqp\t%s\n", name, amqp)
		if s.HTTP != "" {
			fmt.Fprintf(tw, "%s\thttp\t%s\n", name, s.HTTP)
		}
	}
	if e.ControlPlane != "" {
		fmt.Fprintf(tw, "-\tcontrolplane\t%s  (meshctl's server; /openapi.json)\n", e.ControlPlane)
	}
	if e.MeshFile != "" {
		fmt.Fprintf(tw, "-\tmesh.yaml\t%s\n", e.MeshFile)
	}
	if e.Admin != "" {
		fmt.Fprintf(tw, "-\tadmin\t%s  (/metrics /healthz /readyz)\n", e.Admin)
	}
	if e.TLSCA != "" {
		fmt.Fprintf(tw, "-\ttls ca\t%s  (trust it for https and Kafka's TLS)\n", e.TLSCA)
		fmt.Fprintf(tw, "-\tkafka auth\tSASL_SSL, %s\n", e.SASLMechanism)
	}
	if e.Credentials != "" {
		fmt.Fprintf(tw, "-\tcredentials\t%s  (users admin and viewer)\n", e.Credentials)
	}
	if e.Policy != "" {
		fmt.Fprintf(tw, "-\tpolicy\t%s\n", e.Policy)
	}
	_ = tw.Flush()
}
