package controlplane

import (
	"strings"
	"time"

	"github.com/meshwork/meshwork/catalog"
)

// The API's JSON documents. Field names are only ever added, never renamed.

// Health is the result of one look at a dependency.
type Health struct {
	// Status is ok, down, or unknown (not looked at yet).
	Status string `json:"status"`
	// Error says why it is down.
	Error string `json:"error,omitempty"`
	// Checked is when it was looked at.
	Checked time.Time `json:"checked,omitzero"`
}

// Health statuses.
const (
	StatusOK      = "ok"
	StatusDown    = "down"
	StatusUnknown = "unknown"
)

func healthOf(err error, at time.Time) Health {
	if err != nil {
		return Health{Status: StatusDown, Error: err.Error(), Checked: at}
	}
	return Health{Status: StatusOK, Checked: at}
}

// Site is a site of the mesh with the health of everything it runs.
type Site struct {
	Name  string      `json:"name"`
	Kafka KafkaHealth `json:"kafka"`
	// Registry is absent when the site runs none.
	Registry    *ServiceHealth  `json:"registry,omitempty"`
	Adapters    []ServiceHealth `json:"adapters"`
	Replicators []ServiceHealth `json:"replicators"`
	// Healthy is true when every one of them is ok.
	Healthy bool `json:"healthy"`
}

// KafkaHealth is a site's cluster.
type KafkaHealth struct {
	Brokers []string `json:"brokers"`
	Health
	// BrokersUp counts the brokers the cluster's metadata lists.
	BrokersUp int `json:"brokers_up,omitempty"`
}

// ServiceHealth is one service of a site, by its admin URL.
type ServiceHealth struct {
	Name string `json:"name,omitempty"`
	URL  string `json:"url"`
	Health
	// Note is what the service asks of the operator, e.g. a replicator
	// whose mesh file changed since it started: "restart to apply: ...".
	Note string `json:"note,omitempty"`
}

// Link is one direction of a link: target's replicator reads from source.
type Link struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Status is up (the target's replicators reach the source), down (one
	// of them does not), or unknown (no replicator of the target reports:
	// none is declared in mesh.yaml, or none answers).
	Status string `json:"status"`
	// Reports are what each replicator of the target says of the source.
	Reports []LinkReport `json:"reports"`
}

// LinkReport is one replicator's view of its link with a source.
type LinkReport struct {
	Replicator string    `json:"replicator"`
	Reachable  bool      `json:"reachable"`
	Checked    time.Time `json:"checked,omitzero"`
	Error      string    `json:"error,omitempty"`
}

// Link statuses.
const (
	LinkUp      = "up"
	LinkDown    = "down"
	LinkUnknown = "unknown"
)

// TopicSummary is one topic of the mesh, as GET /v1/topics lists it.
type TopicSummary struct {
	Name string `json:"name"`
	// Origins are the sites where the topic is written to (not a copy).
	Origins []string `json:"origins"`
	// Sites hold the topic, origin or copy.
	Sites      []string `json:"sites"`
	Partitions int32    `json:"partitions"`
	// Subject is the topic's value subject at the registry, if any.
	Subject string `json:"subject,omitempty"`
}

// Topic is the catalog of one topic: GET /v1/topics/{topic}.
type Topic struct {
	Name    string        `json:"name"`
	Origins []string      `json:"origins"`
	Schema  *Schema       `json:"schema,omitempty"`
	Sites   []TopicAtSite `json:"sites"`
	// Gathered is when the data was gathered.
	Gathered time.Time `json:"gathered"`
}

// Schema is the topic's subject at the registry.
type Schema struct {
	Subject  string `json:"subject"`
	Versions []int  `json:"versions"`
	// Registry is the URL it was read from.
	Registry string `json:"registry"`
}

// TopicAtSite is what one site holds of a topic.
type TopicAtSite struct {
	Site string `json:"site"`
	// Role is origin (written at the site) or copy (an empty or filled
	// copy of other sites' topic), from the mesh's topic catalog.
	Role       string            `json:"role"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	// EndOffsets by partition, and their sum.
	EndOffsets map[int32]int64 `json:"end_offsets"`
	Records    int64           `json:"records"`
	// Rate is records per second written over the last refresh interval.
	Rate      float64    `json:"rate"`
	Groups    []Group    `json:"groups"`
	Interest  []Lease    `json:"interest"`
	Flows     []Flow     `json:"flows"`
	Producers []Producer `json:"producers"`
	// Adapters are the adapters' rules that read the topic or write it:
	// as the adapters report their rules (/v1/rules), their egress leases
	// and webhooks, and the mesh_adapter of sampled records.
	Adapters []AdapterUse `json:"adapters"`
}

// AdapterUse is an adapter that reads or writes a topic at a site.
type AdapterUse struct {
	// Adapter is the adapter's id (its MQTT client id, AMQP container id).
	Adapter string `json:"adapter"`
	// Rule is the rule's name, when known (egress rules lease under it).
	Rule string `json:"rule,omitempty"`
	// Direction is ingress (protocol to Kafka), egress (Kafka to
	// protocol) or webhook.
	Direction string `json:"direction"`
	// Component is the adapter's component (mqtt-adapter/east) and
	// Protocol the rule's protocol side (MQTT filter or topic, AMQP
	// address, REST path, webhook URL), as the adapter reports its rules
	// at /v1/rules; Configured says the rule was listed there, so the use
	// is known even when no record has crossed it yet.
	Component  string `json:"component,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Configured bool   `json:"configured,omitempty"`
}

// Group is a consumer group reading the topic at a site.
type Group struct {
	Group string `json:"group"`
	State string `json:"state"`
	// Lag is the records not yet consumed, summed over partitions.
	Lag int64 `json:"lag"`
}

// Lease is an interest lease (see package interest).
type Lease struct {
	Site    string    `json:"site"`
	Topic   string    `json:"topic"`
	Pattern bool      `json:"pattern,omitempty"`
	Kind    string    `json:"kind"`
	Source  string    `json:"source"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires,omitzero"`
	Resume  string    `json:"resume"`
	Expired bool      `json:"expired,omitempty"`
}

// Flow is the replication of the topic into a site from one source site.
type Flow struct {
	Source string `json:"source"`
	// Lag is the source's records not yet copied (those written there,
	// wherever they came from), summed over partitions, from the target's
	// checkpoints and the source's end offsets; -1 when the source does not
	// answer.
	Lag int64 `json:"lag"`
	// Copied counts the records copied so far.
	Copied int64 `json:"copied"`
	// Running is true when a replicator reports the flow running now.
	Running bool `json:"running"`
	// Checkpoint is when the last checkpoint was written.
	Checkpoint time.Time `json:"checkpoint,omitzero"`
}

// Producer is who wrote the sampled latest records of the topic at a site.
type Producer struct {
	// Origin is the mesh_origin header: the site where the event entered.
	Origin string `json:"origin,omitempty"`
	// Source is the ce_source header (CloudEvents source).
	Source string `json:"source,omitempty"`
	// Adapter is the mesh_adapter header: the adapter that brought the
	// record into Kafka, if one did.
	Adapter string `json:"adapter,omitempty"`
	// Records counts them among the sample.
	Records int `json:"records"`
}

// InterestRequest is the body of POST and DELETE /v1/interest.
type InterestRequest struct {
	Site  string `json:"site"`
	Topic string `json:"topic"`
	// Pattern makes topic an RE2 regular expression over whole topic names.
	Pattern bool `json:"pattern,omitempty"`
	// Name is the declaration's name (default "meshctl").
	Name string `json:"name,omitempty"`
	// TTL is how long it lasts, e.g. 24h; empty or 0 until removed.
	TTL string `json:"ttl,omitempty"`
	// Resume is checkpoint (default), latest, earliest or time:RFC3339.
	Resume string `json:"resume,omitempty"`
}

// Error is every error's body.
type Error struct {
	Error string `json:"error"`
}

func roleName(r catalog.Role) string { return strings.ToLower(r.String()) }
