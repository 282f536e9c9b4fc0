package meshfile

import (
	"strings"
	"testing"
)

const valid = `sites:
  - name: east
    kafka:
      brokers: [127.0.0.1:9092]
      tls: {enabled: true}
      sasl: {mechanism: SCRAM-SHA-512, username: mesh, password_file: /run/secrets/kafka}
    registry: http://127.0.0.1:8081
    adapters:
      - {name: mqtt, admin: http://127.0.0.1:8083}
    replicators:
      - {name: replicator, admin: http://127.0.0.1:8084}
  - name: west
    kafka: {brokers: [127.0.0.1:9192]}
    interest:
      - {topic: shop.order.created}
      - {topic: 'plant\..*', pattern: true, resume: latest}
  - name: north
    kafka: {brokers: [127.0.0.1:9292]}
links: [east-west, west-north]
policies:
  replication_mode: at_least_once
  schemas_primary: east
`

func TestParseValid(t *testing.T) {
	m, err := Parse("mesh.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	east, ok := m.Site("east")
	if !ok || !east.Kafka.TLS.Enabled || east.Kafka.SASL.Mechanism != "SCRAM-SHA-512" || east.Registry != "http://127.0.0.1:8081" {
		t.Fatalf("east = %+v", east)
	}
	if east.Kafka.DialTimeout == 0 {
		t.Fatal("a site's kafka block lacks the client defaults")
	}
	if east.Replicators[0].Admin != "http://127.0.0.1:8084" || east.Adapters[0].Name != "mqtt" {
		t.Fatalf("endpoints = %+v %+v", east.Adapters, east.Replicators)
	}
	topo, err := m.Topology()
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.Neighbors("west"); len(got) != 2 {
		t.Fatalf("west's neighbours = %v", got)
	}
	if west, _ := m.Site("west"); len(west.Interest) != 2 || !west.Interest[1].Pattern {
		t.Fatalf("west's interest: %+v", west.Interest)
	}
	if m.Policies.ReplicationMode != AtLeastOnce || m.Policies.SchemasPrimary != "east" {
		t.Fatalf("policies = %+v", m.Policies)
	}
}

// Every mistake names the file, the line and the field.
func TestParseErrorsNameFileLineField(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"no sites", "links: []\n", "mesh.yaml: field sites: at least one site is required"},
		{"unknown field", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n    regsitry: http://x\n",
			`mesh.yaml:4:5: field sites[0].regsitry: unknown field "regsitry"`},
		{"bad site name", "sites:\n  - name: East\n    kafka: {brokers: [a:1]}\n", "mesh.yaml:2:5: field sites[0].name"},
		{"twice", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n  - name: east\n    kafka: {brokers: [b:1]}\n",
			`mesh.yaml:4:5: field sites[1].name: site "east" is listed twice`},
		{"no brokers", "sites:\n  - name: east\n    registry: http://r:1\n", "mesh.yaml:2:5: field sites[0].kafka.brokers"},
		{"bad registry", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n    registry: r:8081\n",
			`mesh.yaml:4:5: field sites[0].registry: want an http:// or https:// URL with a host, got "r:8081"`},
		{"bad admin", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n    adapters:\n      - {name: mqtt, admin: localhost}\n",
			`mesh.yaml:5:22: field sites[0].adapters[0].admin`},
		{"unnamed replicator", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n    replicators:\n      - {admin: http://r:1}\n",
			`field sites[0].replicators[0].name: required`},
		{"link to nowhere", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n  - name: west\n    kafka: {brokers: [b:1]}\nlinks: [east-south]\n",
			"mesh.yaml:6:1: field links: "},
		{"bad link", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\nlinks:\n  - east\n",
			"mesh.yaml:5:5: field links[0]: topology: link \"east\""},
		{"bad mode", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\npolicies: {replication_mode: twice}\n",
			`mesh.yaml:4:12: field policies.replication_mode: want exactly_once or at_least_once, got "twice"`},
		{"bad interest resume", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n    interest:\n      - {topic: t, resume: soon}\n",
			"mesh.yaml:5:20: field sites[0].interest[0].resume: "},
		{"bad interest topic", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\n    interest:\n      - {topic: 'shop/x'}\n",
			"mesh.yaml:5:10: field sites[0].interest[0].topic: "},
		{"unknown primary", "sites:\n  - name: east\n    kafka: {brokers: [a:1]}\npolicies: {schemas_primary: west}\n",
			`field policies.schemas_primary: no site "west" in sites`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("mesh.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}
