package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseAveragesRuns(t *testing.T) {
	in := `goos: linux
BenchmarkGetSchemaByID-2   100  50000 ns/op  400 p50-µs  8000 p99-µs
BenchmarkGetSchemaByID-2   100  70000 ns/op  600 p50-µs  9000 p99-µs
BenchmarkGetConstantCeiling-2 100 40000 ns/op 300 p50-µs 6000 p99-µs
BenchmarkOther-2 100 1 ns/op
`
	bars, err := parse(strings.NewReader(in), "p99-µs", regexp.MustCompile("GetSchema|Constant"), "mean")
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 2 || bars[0].name != "GetSchemaByID" || bars[0].value != 8500 || bars[1].value != 6000 {
		t.Fatalf("bars %+v", bars)
	}
	out := svg(bars, "p99", "p99-µs")
	if !strings.Contains(out, "<svg") || !strings.Contains(out, "GetConstantCeiling") {
		t.Fatalf("svg:\n%s", out)
	}
}

func TestParseMedianOfRuns(t *testing.T) {
	in := `BenchmarkReplicator/meshwork/exactly-once-2 1 1 ns/op 21.4 p99-added-ms
BenchmarkReplicator/meshwork/exactly-once-2 1 1 ns/op 900 p99-added-ms
BenchmarkReplicator/meshwork/exactly-once-2 1 1 ns/op 24.3 p99-added-ms
BenchmarkReplicator/mirrormaker2/exactly-once-2 1 1 ns/op 70 p99-added-ms
BenchmarkReplicator/mirrormaker2/exactly-once-2 1 1 ns/op 60 p99-added-ms
`
	bars, err := parse(strings.NewReader(in), "p99-added-ms", regexp.MustCompile("."), "median")
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 2 || bars[0].name != "Replicator/meshwork/exactly-once" || bars[0].value != 24.3 || bars[1].value != 65 {
		t.Fatalf("bars %+v", bars)
	}
}
