package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/devmesh"
	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

// meshctl runs the command line args and returns its exit status and
// output.
func meshctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInterestAddListRemove(t *testing.T) {
	isolate(t)
	c := kafkatest.Cluster(t)
	kafka := c.ListenAddrs()[0]
	holdReplicatorGroup(t, c, "east")

	code, out, errOut := meshctl(t, "interest", "list", "--kafka", kafka)
	if code != 0 || !strings.Contains(out, "No interest leases") {
		t.Fatalf("list of nothing: %d %q %q", code, out, errOut)
	}

	// The cluster is east's (its replicator group says so): declarations
	// without --site are east's.
	for _, args := range [][]string{
		{"interest", "add", "shop.order.created", "--kafka", kafka},
		{"interest", "add", "--kafka", kafka, "--pattern", `shop\..*`, "--name", "nightly", "--ttl", "1h", "--resume", "earliest"},
		{"interest", "add", "billing.invoice", "--kafka", kafka, "--site", "east", "--resume", "time:2026-01-02T15:04:05Z", "--ttl", "1s"},
	} {
		if code, out, errOut := meshctl(t, args...); code != 0 || !strings.HasPrefix(out, "Added east/") {
			t.Fatalf("%q: %d %q %q", args, code, out, errOut)
		}
	}
	// West's lease, as west's replicator copies it here.
	declare(t, c, interest.Lease{Topic: "shop.order.created", Site: "west", Kind: interest.KindDeclared, SourceID: "replicator-config"})

	// Adding again keeps when the declaration began.
	_, before, _ := meshctl(t, "interest", "list", "--kafka", kafka, "--site", "east")
	if code, _, errOut := meshctl(t, "interest", "add", "shop.order.created", "--kafka", kafka, "--resume", "latest"); code != 0 {
		t.Fatal(errOut)
	}
	_, after, _ := meshctl(t, "interest", "list", "--kafka", kafka, "--site", "east")
	b, a := row(t, before, "east", "shop.order.created"), row(t, after, "east", "shop.order.created")
	if b[4] != a[4] || a[6] != "latest" {
		t.Fatalf("re-adding changed since or not the policy:\n%s\n%s", before, after)
	}

	// The 1s declaration lapses; list marks it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, out, _ = meshctl(t, "interest", "list", "--kafka", kafka)
		if strings.Contains(out, "(expired)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 1s declaration never shows expired:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "SITE") {
		t.Fatalf("list:\n%s", out)
	}
	for _, want := range [][]string{
		{"east", "billing.invoice", "DECLARED", "meshctl", "*", "* (expired)", "time:2026-01-02T15:04:05Z"},
		{"east", `pattern:shop\..*`, "DECLARED", "nightly", "*", "*", "earliest"},
		{"east", "shop.order.created", "DECLARED", "meshctl", "*", "never", "latest"},
		{"west", "shop.order.created", "DECLARED", "replicator-config", "*", "never", "checkpoint"},
	} {
		if !hasRow(lines[1:], want) {
			t.Fatalf("list lacks %q:\n%s", want, out)
		}
	}

	// Remove: a pattern needs --pattern, and what is not there is an error.
	code, _, errOut = meshctl(t, "interest", "remove", `shop\..*`, "--name", "nightly", "--kafka", kafka)
	if code != 1 || !strings.Contains(errOut, "add --pattern") {
		t.Fatalf("remove without --pattern: %d %q", code, errOut)
	}
	// West's lease is not for east's cluster to remove.
	code, _, errOut = meshctl(t, "interest", "remove", "shop.order.created", "--name", "replicator-config", "--site", "west", "--kafka", kafka)
	if code != 2 || !strings.Contains(errOut, kafka+" is the cluster of site east, not west") {
		t.Fatalf("remove of west's lease at east: %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{"interest", "remove", `shop\..*`, "--pattern", "--name", "nightly", "--kafka", kafka},
		{"interest", "remove", "shop.order.created", "--kafka", kafka},
	} {
		if code, out, errOut := meshctl(t, args...); code != 0 || !strings.HasPrefix(out, "Removed east/") {
			t.Fatalf("%q: %d %q %q", args, code, out, errOut)
		}
	}
	_, out, _ = meshctl(t, "interest", "list", "--kafka", kafka)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !hasRow(lines[1:], []string{"east", "billing.invoice", "*", "*", "*", "*", "*"}) ||
		!hasRow(lines[1:], []string{"west", "shop.order.created", "*", "*", "*", "*", "*"}) {
		t.Fatalf("after removing:\n%s", out)
	}
	code, _, errOut = meshctl(t, "interest", "remove", "shop.order.created", "--kafka", kafka)
	if code != 1 || !strings.Contains(errOut, "site east has no declared interest") {
		t.Fatalf("removing twice: %d %q", code, errOut)
	}
}

// A cluster's site is the one of its replicator group: without --site,
// meshctl declares for it; a --site that is another site's, or no site's,
// is refused, and nothing is written.
func TestSiteFromReplicatorGroup(t *testing.T) {
	isolate(t)
	c := kafkatest.Cluster(t)
	kafka := c.ListenAddrs()[0]
	holdReplicatorGroup(t, c, "west")
	declare(t, c, interest.Lease{Topic: "billing.invoice", Site: "east", Kind: interest.KindDeclared, SourceID: "replicator-config"})

	code, out, errOut := meshctl(t, "interest", "add", "shop.order.created", "--kafka", kafka)
	if code != 0 || !strings.HasPrefix(out, "Added west/declared/meshctl/topic:shop.order.created,") {
		t.Fatalf("add without --site at west's cluster: %d %q %q", code, out, errOut)
	}
	unknown := `--site "wset": the mesh has no such site; its sites are east, west (from the replicator group and leases at ` + kafka + ")"
	mismatch := kafka + " is the cluster of site west, not east (it holds west's replicator group, meshwork-replicator-west)"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"interest", "add", "shop.order.created", "--kafka", kafka, "--site", "wset"}, unknown},
		{[]string{"interest", "remove", "shop.order.created", "--kafka", kafka, "--site", "wset"}, unknown},
		{[]string{"interest", "list", "--kafka", kafka, "--site", "wset"}, unknown},
		{[]string{"interest", "add", "shop.order.created", "--kafka", kafka, "--site", "east"}, mismatch},
		{[]string{"interest", "remove", "billing.invoice", "--kafka", kafka, "--site", "east", "--name", "replicator-config"}, mismatch},
	} {
		code, out, errOut := meshctl(t, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("meshctl %q: exit %d, want 2 with %q in\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}
	code, out, errOut = meshctl(t, "interest", "list", "--kafka", kafka)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 ||
		!hasRow(lines[1:], []string{"east", "billing.invoice", "DECLARED", "replicator-config", "*", "never", "checkpoint"}) ||
		!hasRow(lines[1:], []string{"west", "shop.order.created", "DECLARED", "meshctl", "*", "never", "checkpoint"}) {
		t.Fatalf("refused commands changed the leases: %d %q\n%s", code, errOut, out)
	}
	// Both sites the mesh knows are filters list takes.
	for _, site := range []string{"east", "west"} {
		code, out, errOut := meshctl(t, "interest", "list", "--kafka", kafka, "--site", site)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], site+" ") {
			t.Errorf("list --site %s: %d %q\n%s", site, code, errOut, out)
		}
	}
	code, out, errOut = meshctl(t, "interest", "remove", "shop.order.created", "--kafka", kafka)
	if code != 0 || !strings.HasPrefix(out, "Removed west/declared/meshctl/topic:shop.order.created.") {
		t.Fatalf("remove without --site at west's cluster: %d %q %q", code, out, errOut)
	}
}

// A cluster that holds no replicator group, with no endpoints file, does
// not say whose it is: --site is required, and checked against the sites
// its leases name.
func TestSiteRequired(t *testing.T) {
	isolate(t)
	c := kafkatest.Cluster(t)
	kafka := c.ListenAddrs()[0]

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"interest", "add", "t", "--kafka", kafka}, 2,
			"cannot tell whose cluster " + kafka + " is: it holds no replicator group (meshwork-replicator-<site>) and there is no endpoints file; give --site SITE, or --endpoints FILE"},
		{[]string{"interest", "remove", "t", "--kafka", kafka}, 2, "cannot tell whose cluster"},
		// Nothing to check a filter against: list takes any.
		{[]string{"interest", "list", "--kafka", kafka, "--site", "east"}, 0, "No interest leases"},
		// Nor a site: the first declaration names it.
		{[]string{"interest", "add", "t", "--kafka", kafka, "--site", "east"}, 0, "Added east/declared/meshctl/topic:t,"},
		{[]string{"interest", "add", "t", "--kafka", kafka}, 2, "give --site (the mesh's sites are east), or --endpoints FILE"},
		{[]string{"interest", "add", "t", "--kafka", kafka, "--site", "wset"}, 2,
			`--site "wset": the mesh has no such site; its sites are east (from the replicator group and leases at ` + kafka + ")"},
		{[]string{"interest", "remove", "t", "--kafka", kafka, "--site", "wset"}, 2, `--site "wset": the mesh has no such site`},
		{[]string{"interest", "list", "--kafka", kafka, "--site", "wset"}, 2, `--site "wset": the mesh has no such site`},
		{[]string{"interest", "remove", "t", "--kafka", kafka, "--site", "east"}, 0, "Removed east/declared/meshctl/topic:t."},
	} {
		code, out, errOut := meshctl(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("meshctl %q: exit %d, want %d with %q in\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// A cluster that holds two sites' replicator groups is nobody's: meshctl
// says so rather than pick one.
func TestTwoReplicatorGroups(t *testing.T) {
	isolate(t)
	c := kafkatest.Cluster(t)
	kafka := c.ListenAddrs()[0]
	holdReplicatorGroup(t, c, "east")
	holdReplicatorGroup(t, c, "west")

	want := "Kafka cluster at " + kafka + " holds the replicator groups of sites east, west (meshwork-replicator-east, meshwork-replicator-west), but a cluster is one site's"
	for _, args := range [][]string{
		{"interest", "add", "t", "--kafka", kafka},
		{"interest", "add", "t", "--kafka", kafka, "--site", "east"},
		{"interest", "remove", "t", "--kafka", kafka},
		{"interest", "list", "--kafka", kafka, "--site", "east"},
	} {
		code, out, errOut := meshctl(t, args...)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("meshctl %q: exit %d, want 1 with %q in\n%s%s", args, code, want, out, errOut)
		}
	}
	// Listing everything needs no site.
	if code, out, errOut := meshctl(t, "interest", "list", "--kafka", kafka); code != 0 {
		t.Errorf("list: %d %q %q", code, out, errOut)
	}
}

// With an endpoints file, --site picks the site and its cluster, --kafka the
// site whose cluster it is; the file is --endpoints, else
// $MESHWORK_ENDPOINTS, else .mesh/endpoints.json.
func TestEndpointsFile(t *testing.T) {
	dir := isolate(t)
	east, west := kafkatest.Cluster(t).ListenAddrs()[0], kafkatest.Cluster(t).ListenAddrs()[0]
	file := filepath.Join(dir, "mesh.json")
	writeEndpoints(t, file, map[string]string{"east": east, "west": west})

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"add", "a", "--endpoints", file, "--site", "west"}, 0, "Added west/declared/meshctl/topic:a,"},
		{[]string{"add", "b", "--endpoints", file, "--kafka", west}, 0, "Added west/declared/meshctl/topic:b,"},
		{[]string{"add", "c", "--endpoints", file, "--kafka", east}, 0, "Added east/declared/meshctl/topic:c,"},
		{[]string{"add", "x", "--endpoints", file}, 2,
			"which site? " + file + " has no site at the default --kafka 127.0.0.1:19092; give --site (its sites are east, west)"},
		{[]string{"add", "x", "--endpoints", file, "--site", "wset"}, 2,
			`--site "wset": the mesh has no such site; its sites are east, west (from ` + file + ")"},
		{[]string{"add", "x", "--endpoints", file, "--site", "east", "--kafka", west}, 2,
			west + " is the cluster of site west, not east (from " + file + "); leave out --kafka to act on east's cluster, " + east},
		{[]string{"add", "x", "--endpoints", file, "--kafka", "127.0.0.1:1"}, 2,
			"-kafka 127.0.0.1:1 is no site's cluster in " + file + " (east " + east + ", west " + west + `); give one of those, or --endpoints ""`},
		{[]string{"add", "x", "--endpoints", file, "--site", "east", "--kafka", "127.0.0.1:1"}, 2, "-kafka 127.0.0.1:1 is no site's cluster"},
		{[]string{"remove", "a", "--endpoints", file, "--site", "wset"}, 2, `--site "wset": the mesh has no such site`},
		{[]string{"remove", "a", "--endpoints", file, "--site", "east", "--kafka", west}, 2, "is the cluster of site west, not east"},
		{[]string{"list", "--endpoints", file, "--kafka", west, "--site", "wset"}, 2,
			`--site "wset": the mesh has no such site; its sites are east, west (from ` + file + " and the leases at " + west + ")"},
		// east is the file's, though no lease at west names it.
		{[]string{"list", "--endpoints", file, "--kafka", west, "--site", "east"}, 0, "No interest leases"},
		{[]string{"remove", "a", "--endpoints", file, "--site", "west"}, 0, "Removed west/declared/meshctl/topic:a."},
	} {
		code, out, errOut := meshctl(t, append([]string{"interest"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("meshctl %q: exit %d, want %d with %q in\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
	// Each lease is in its site's cluster, and only there.
	for kafka, want := range map[string][]string{east: {"east c"}, west: {"west b"}} {
		_, out, errOut := meshctl(t, "interest", "list", "--kafka", kafka)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 1+len(want) {
			t.Fatalf("list at %s: %q\n%s", kafka, errOut, out)
		}
		for i, w := range want {
			if f := strings.Fields(lines[1+i]); f[0]+" "+f[1] != w {
				t.Errorf("list at %s: want %q in line %d:\n%s", kafka, w, 1+i, out)
			}
		}
	}

	// .mesh/endpoints.json is read when it exists, $MESHWORK_ENDPOINTS
	// before it, --endpoints before both, and --endpoints "" reads none.
	writeEndpoints(t, filepath.Join(dir, ".mesh", "endpoints.json"), map[string]string{"east": east, "west": west})
	northOnly := filepath.Join(dir, "north.json")
	writeEndpoints(t, northOnly, map[string]string{"north": west})
	for _, tc := range []struct {
		env  string
		args []string
		code int
		want string
	}{
		{"", []string{"add", "d", "--site", "west"}, 0, "Added west/declared/meshctl/topic:d,"},
		{"", []string{"add", "d", "--site", "wset"}, 2, "its sites are east, west (from " + filepath.Join(".mesh", "endpoints.json") + ")"},
		{northOnly, []string{"add", "d", "--site", "west"}, 2, "its sites are north (from " + northOnly + ")"},
		{northOnly, []string{"add", "e", "--kafka", west}, 0, "Added north/declared/meshctl/topic:e,"},
		{northOnly, []string{"add", "e", "--endpoints", file, "--site", "east"}, 0, "Added east/declared/meshctl/topic:e,"},
		{northOnly, []string{"add", "e", "--endpoints", "", "--kafka", east}, 2, "cannot tell whose cluster " + east + " is"},
		{"", []string{"add", "e", "--endpoints", "", "--kafka", east}, 2, "cannot tell whose cluster " + east + " is"},
	} {
		t.Setenv(endpointsEnv, tc.env)
		code, out, errOut := meshctl(t, append([]string{"interest"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%s=%q meshctl %q: exit %d, want %d with %q in\n%s%s", endpointsEnv, tc.env, tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// A file that names no sites, or not well, is an error, never ignored:
// not even .mesh/endpoints.json.
func TestEndpointsFileErrors(t *testing.T) {
	dir := isolate(t)
	for _, tc := range []struct {
		content string // "" for no file
		want    string
	}{
		{"", "-endpoints: open mesh.json: no such file or directory"},
		{"{", "mesh.json: unexpected end of JSON input"},
		{`{"sites": []}`, "mesh.json: json: cannot unmarshal array"},
		{`{}`, `mesh.json names no sites; want {"sites": {"<site>": {"kafka": "host:port"}, ...}}`},
		{`{"sites": {"East": {"kafka": "127.0.0.1:1"}}}`, `mesh.json: site "East": site names are lower-case`},
		{`{"sites": {"east": {"mqtt": "tcp://127.0.0.1:1883"}}}`, "mesh.json: site east has no kafka address"},
		{`{"sites": {"east": {"kafka": "nohost"}}}`, `mesh.json: site east: kafka "nohost": `},
		{`{"sites": {"east": {"kafka": "127.0.0.1:1"}, "west": {"kafka": "127.0.0.1:2,127.0.0.1:1"}}}`,
			"mesh.json: sites east and west both have the Kafka address 127.0.0.1:1; each site has a cluster of its own"},
	} {
		path := filepath.Join(dir, "mesh.json")
		os.Remove(path)
		if tc.content != "" {
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{
			{"interest", "add", "t", "--site", "east", "--endpoints", "mesh.json"},
			{"interest", "remove", "t", "--endpoints", "mesh.json"},
			{"interest", "list", "--endpoints", "mesh.json", "--kafka", "127.0.0.1:1"},
		} {
			code, out, errOut := meshctl(t, args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s: meshctl %q: exit %d, want 1 with %q in\n%s%s", tc.content, args, code, tc.want, out, errOut)
			}
		}
	}

	t.Setenv(endpointsEnv, "missing.json")
	code, _, errOut := meshctl(t, "interest", "add", "t", "--site", "east")
	if want := "$MESHWORK_ENDPOINTS: open missing.json: no such file or directory"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("$%s missing: exit %d, want 1 with %q in %q", endpointsEnv, code, want, errOut)
	}
	t.Setenv(endpointsEnv, "")
	if err := os.Mkdir(".mesh", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(".mesh", "endpoints.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = meshctl(t, "interest", "add", "t", "--site", "east")
	if want := filepath.Join(".mesh", "endpoints.json") + ": unexpected end of JSON input"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("broken .mesh/endpoints.json: exit %d, want 1 with %q in %q", code, want, errOut)
	}
}

// pick settles what it can without Kafka: with a file, the site and its
// cluster; without one, only --kafka.
func TestPick(t *testing.T) {
	dir := isolate(t)
	file := filepath.Join(dir, "mesh.json")
	writeEndpoints(t, file, map[string]string{"east": "127.0.0.1:19092", "west": "127.0.0.1:29092"})
	for _, tc := range []struct {
		args        []string
		site, kafka string
	}{
		{[]string{"--endpoints", file}, "east", "127.0.0.1:19092"},
		{[]string{"--endpoints", file, "--site", "west"}, "west", "127.0.0.1:29092"},
		{[]string{"--endpoints", file, "--kafka", "127.0.0.1:29092"}, "west", "127.0.0.1:29092"},
		{[]string{"--endpoints", file, "--kafka", "10.0.0.1:9092,127.0.0.1:29092", "--site", "west"}, "west", "10.0.0.1:9092,127.0.0.1:29092"},
		{nil, "", "127.0.0.1:19092"},
		{[]string{"--site", "west"}, "west", "127.0.0.1:19092"},
		{[]string{"--kafka", "127.0.0.1:29092"}, "", "127.0.0.1:29092"},
	} {
		cmd := &cobra.Command{Use: "test"}
		c := siteFlags(&app{out: io.Discard, errOut: io.Discard}, cmd)
		if err := cmd.Flags().Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		e, err := c.pick()
		if err != nil || c.site != tc.site || c.kafka != tc.kafka || (e != nil) != slices.Contains(tc.args, "--endpoints") {
			t.Errorf("%q: site %q, kafka %q, file %v, %v; want site %q, kafka %q", tc.args, c.site, c.kafka, e != nil, err, tc.site, tc.kafka)
		}
	}
}

// Every command's --help exits 0, shows examples, and documents each of
// its flags in their long form.
func TestHelp(t *testing.T) {
	isolate(t)
	for cmd, flags := range map[string][]string{
		"interest add":     {"--endpoints FILE", "--kafka string", "--name string", "--pattern", "--resume string", "--site string", "--ttl duration"},
		"interest remove":  {"--endpoints FILE", "--kafka string", "--name string", "--pattern", "--site string"},
		"interest list":    {"--endpoints FILE", "--kafka string", "--site string"},
		"sites":            nil,
		"links":            nil,
		"topics":           nil,
		"describe topic":   nil,
		"schemas list":     nil,
		"schemas get":      {"--version string"},
		"schemas register": {"--type string"},
		"schemas check":    {"--type string", "--version string"},
	} {
		for _, h := range []string{"-h", "--help"} {
			code, out, errOut := meshctl(t, append(strings.Fields(cmd), h)...)
			if code != 0 || !strings.Contains(out, "Usage:\n  meshctl "+cmd) || !strings.Contains(out, "Examples:\n") {
				t.Errorf("%s %s: exit %d\n%s%s", cmd, h, code, out, errOut)
			}
			// Local flags are "  --name type   help" lines.
			local, _, _ := strings.Cut(out, "Global Flags:")
			var got []string
			for _, l := range strings.Split(local, "\n") {
				l = strings.TrimSpace(l)
				if !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, "-h, --help") {
					continue
				}
				name, help, _ := strings.Cut(l, "   ")
				if strings.TrimSpace(help) == "" {
					t.Errorf("%s: flag %s has no help", cmd, name)
				}
				if !strings.HasPrefix(l, "-h,") {
					got = append(got, strings.TrimSpace(name))
				}
			}
			if !slices.Equal(got, flags) {
				t.Errorf("%s %s: flags %q, want %q", cmd, h, got, flags)
			}
			for _, g := range []string{"--server string", "-o, --output string", "--timeout duration"} {
				if !strings.Contains(out, g) {
					t.Errorf("%s %s: no global flag %s", cmd, h, g)
				}
			}
		}
	}
}

func TestUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{nil, 2, "meshctl: no command given"},
		{[]string{"help"}, 0, "interest"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"interest"}, 2, "meshctl interest: no command given"},
		{[]string{"interest", "add", "-h"}, 0, "meshctl interest add TOPIC"},
		{[]string{"interest", "add"}, 2, "want one TOPIC"},
		{[]string{"interest", "add", "a", "b"}, 2, "want one TOPIC, got 2"},
		{[]string{"interest", "add", "t", "--resume", "soon"}, 2, "want checkpoint, latest, earliest or time:"},
		{[]string{"interest", "add", "t", "--ttl", "10ms"}, 2, "at least 1s"},
		{[]string{"interest", "add", "shop/x", "--site", "east"}, 2, "Kafka topic names are"},
		{[]string{"interest", "add", "(", "--pattern", "--site", "east"}, 2, "not an RE2 regular expression"},
		{[]string{"interest", "add", "t", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{[]string{"interest", "list", "--endpoints"}, 2, "flag needs an argument: --endpoints"},
		{[]string{"interest", "add", "t", "--site", "East"}, 2, `--site "East"`},
		{[]string{"interest", "add", "t", "--kafka", "nohost"}, 2, "want host:port"},
		{[]string{"interest", "remove", "t", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"interest", "list", "extra"}, 2, "takes no arguments"},
		{[]string{"topics", "-o", "xml"}, 2, `--output "xml": want table, json or yaml`},
		{[]string{"describe", "topic"}, 2, "want one TOPIC"},
		{[]string{"sites"}, 1, "no control plane: give --server http://host:port or set $MESHCTL_SERVER"},
		{[]string{"sites", "--server", "localhost"}, 1, "--server: want the control plane's URL"},
		{[]string{"interest", "list", "--kafka", "127.0.0.1:1", "--timeout", "200ms"}, 1, "is Kafka reachable?"},
		{[]string{"interest", "add", "t", "--kafka", "127.0.0.1:1", "--timeout", "200ms"}, 1, "Kafka cluster at 127.0.0.1:1: listing consumer groups: "},
		{[]string{"interest", "remove", "t", "--kafka", "127.0.0.1:1", "--timeout", "200ms"}, 1, "; is Kafka reachable?"},
		{[]string{"completion", "bash"}, 0, "bash completion"},
	} {
		code, out, errOut := meshctl(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("meshctl %q: exit %d, want %d with %q in\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}

// hasRow reports whether a line's columns match want ("*" matches anything,
// "* (expired)" anything followed by the marker).
func hasRow(lines []string, want []string) bool {
	for _, line := range lines {
		cols := strings.Split(line, "  ")
		var got []string
		for _, c := range cols {
			if c = strings.TrimSpace(c); c != "" {
				got = append(got, c)
			}
		}
		if len(got) != len(want) {
			continue
		}
		ok := true
		for i := range want {
			switch {
			case want[i] == "*":
			case strings.HasPrefix(want[i], "* "):
				ok = ok && strings.HasSuffix(got[i], want[i][1:])
			default:
				ok = ok && got[i] == want[i]
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// isolate runs the test in a directory of its own, without
// $MESHWORK_ENDPOINTS, so meshctl finds no endpoints file the test did not
// write; it returns the directory.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(endpointsEnv, "")
	t.Setenv(serverEnv, "")
	t.Setenv(registryEnv, "")
	return dir
}

// holdReplicatorGroup makes c hold site's replicator group, as the site's
// replicator does: a member joins it and stays until the test ends.
func holdReplicatorGroup(t *testing.T, c *kfake.Cluster, site string) {
	t.Helper()
	const topic = "_mesh.replicator.slots"
	adm := kadm.NewClient(kafkatest.Client(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	group := replicatorGroupPrefix + site
	cl := kafkatest.Client(t, c, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	pollCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pollCtx.Err() == nil {
			cl.PollFetches(pollCtx)
		}
	}()
	t.Cleanup(func() { stop(); <-done }) // before the client closes
	kafkatest.Wait(t, 10*time.Second, func() error {
		gs, err := adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		if _, ok := gs[group]; !ok {
			return fmt.Errorf("no group %s yet", group)
		}
		return nil
	})
}

// declare writes a lease into c's interest topic that never expires, as
// its holder or a replicator copying it would.
func declare(t *testing.T, c *kfake.Cluster, l interest.Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := interest.NewPublisher(kafkatest.Client(t, c), l.Site, interest.TTL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if err := p.Set(ctx, []interest.Lease{l}); err != nil {
		t.Fatal(err)
	}
}

// writeEndpoints writes an endpoints file as the dev mesh does, naming
// each site's Kafka address.
func writeEndpoints(t *testing.T, path string, kafka map[string]string) {
	t.Helper()
	e := devmesh.Endpoints{Sites: map[string]devmesh.SiteEndpoints{}}
	for site, addr := range kafka {
		e.Sites[site] = devmesh.SiteEndpoints{Kafka: addr, MQTT: "tcp://127.0.0.1:1883", Registry: "http://127.0.0.1:8081"}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// row returns the fields of the listing's line of site and topic.
func row(t *testing.T, listing, site, topic string) []string {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		if f := strings.Fields(line); len(f) == 7 && f[0] == site && f[1] == topic {
			return f
		}
	}
	t.Fatalf("no line of %s %s in\n%s", site, topic, listing)
	return nil
}
