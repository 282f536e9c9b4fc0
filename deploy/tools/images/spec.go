package images

// Spec describes one image: the command it runs and what the image says
// about it.
type Spec struct {
	// Name is the command under cmd/ and the image's name.
	Name string
	// Description becomes org.opencontainers.image.description.
	Description string
	// Port is the port of /metrics, /healthz and /readyz (and of the API
	// where there is one), which the image exposes; 0 for a command-line
	// tool.
	Port int
}

// Service reports whether the image runs a long-lived service (which
// starts from a configuration file) rather than a command-line tool.
func (s Spec) Service() bool { return s.Port != 0 }

// Specs are Meshwork's images. The ports are the services' default listen
// ports; the images' default command points at the configuration file
// that the Kubernetes manifests and the compose file mount.
func Specs() []Spec {
	return []Spec{
		{Name: "mesh-mqtt", Port: 8083, Description: "Meshwork MQTT adapter: MQTT broker <-> Kafka, acknowledged end to end"},
		{Name: "mesh-amqp", Port: 8085, Description: "Meshwork AMQP 1.0 adapter: AMQP broker <-> Kafka, settled end to end"},
		{Name: "mesh-rest", Port: 8082, Description: "Meshwork REST adapter: Kafka REST proxy API, consumers and webhooks"},
		{Name: "mesh-replicator", Port: 8084, Description: "Meshwork replicator: copies the topics a site consumes from the other sites' Kafka clusters"},
		{Name: "mesh-registry", Port: 8081, Description: "Meshwork schema registry: Confluent Schema Registry API on Kafka, same ids on every site"},
		{Name: "mesh-controlplane", Port: 8090, Description: "Meshwork control plane: topology, catalog and API of the mesh"},
		{Name: "meshctl", Description: "Meshwork command line: interests, sites and the mesh's state"},
	}
}

// ConfigPath is where a service image expects its configuration file by
// default (its CMD is -config ConfigPath).
const ConfigPath = "/etc/meshwork/config.yaml"

// BinDir is the directory of the image's binary.
const BinDir = "/usr/local/bin"

// UID and GID are the image's user: non-root, with no login and no home
// but /nonexistent, as distroless images name it.
const (
	UID = 65532
	GID = 65532
)
