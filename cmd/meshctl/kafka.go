package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/envelope"
)

// How meshctl finds the mesh's sites.
const (
	// defaultKafka is --kafka when nothing else decides it: east's cluster
	// in the dev mesh.
	defaultKafka = "127.0.0.1:19092"
	// endpointsEnv names an endpoints file when --endpoints is not given.
	endpointsEnv = "MESHWORK_ENDPOINTS"
	// replicatorGroupPrefix starts the consumer group each site's replicator
	// joins on its own site's cluster, meshwork-replicator-<site>
	// (replicator/slots.go): the group tells whose cluster it is.
	replicatorGroupPrefix = "meshwork-replicator-"
)

// defaultEndpoints is the endpoints file the dev mesh (meshd dev) writes,
// read when it exists.
var defaultEndpoints = filepath.Join(".mesh", "endpoints.json")

// endpoints is what an endpoints file says of the mesh: its sites and the
// Kafka address of each (devmesh.Endpoints; meshctl reads only what it
// needs, so it does not link the dev mesh).
type endpoints struct {
	path  string
	kafka map[string]string // by site
	sec   devSecurity       // a secure dev mesh's
}

// readEndpoints reads and checks an endpoints file. An error reading it is
// the os package's, so that callers can tell a missing file.
func readEndpoints(path string) (*endpoints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Sites map[string]struct {
			Kafka string `json:"kafka"`
		} `json:"sites"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Sites) == 0 {
		return nil, fmt.Errorf(`%s names no sites; want {"sites": {"<site>": {"kafka": "host:port"}, ...}}`, path)
	}
	e := &endpoints{path: path, kafka: map[string]string{}}
	if e.sec, err = readDevSecurity(path); err != nil {
		return nil, err
	}
	owner := map[string]string{} // broker address -> site
	for _, site := range slices.Sorted(maps.Keys(f.Sites)) {
		if err := envelope.ValidSite(site); err != nil {
			return nil, fmt.Errorf("%s: site %q: %v", path, site, err)
		}
		addr := f.Sites[site].Kafka
		if len(brokers(addr)) == 0 {
			return nil, fmt.Errorf("%s: site %s has no kafka address", path, site)
		}
		if _, err := (&cluster{kafka: addr}).clientOpts(); err != nil {
			return nil, fmt.Errorf("%s: site %s: kafka %q: %v", path, site, addr, err)
		}
		for _, b := range brokers(addr) {
			if other, ok := owner[b]; ok {
				return nil, fmt.Errorf("%s: sites %s and %s both have the Kafka address %s; each site has a cluster of its own", path, other, site, b)
			}
			owner[b] = site
		}
		e.kafka[site] = addr
	}
	return e, nil
}

// sites returns the file's sites, sorted.
func (e *endpoints) sites() []string { return slices.Sorted(maps.Keys(e.kafka)) }

// siteOf returns the site whose cluster kafka is (they have a broker
// address in common), or "" if none is.
func (e *endpoints) siteOf(kafka string) string {
	for site, addr := range e.kafka {
		for _, b := range brokers(kafka) {
			if slices.Contains(brokers(addr), b) {
				return site
			}
		}
	}
	return ""
}

// table lists the sites with their addresses, for errors.
func (e *endpoints) table() string {
	var parts []string
	for _, site := range e.sites() {
		parts = append(parts, site+" "+e.kafka[site])
	}
	return strings.Join(parts, ", ")
}

// brokers splits a --kafka value into broker addresses.
func brokers(kafka string) []string {
	var out []string
	for b := range strings.SplitSeq(kafka, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// readMesh reads the endpoints file: --endpoints, else $MESHWORK_ENDPOINTS,
// else .mesh/endpoints.json if it exists. It returns nil when there is no
// file, or --endpoints is "".
func (c *cluster) readMesh() (e *endpoints, err error) {
	defer func() {
		if e != nil {
			c.sec = e.sec
		}
	}()
	if c.cmd.Flags().Changed("endpoints") {
		if c.endpoints == "" {
			return nil, nil
		}
		e, err := readEndpoints(c.endpoints)
		if err != nil {
			return nil, fmt.Errorf("--endpoints: %w", err)
		}
		return e, nil
	}
	if path := os.Getenv(endpointsEnv); path != "" {
		e, err := readEndpoints(path)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", endpointsEnv, err)
		}
		return e, nil
	}
	e, err = readEndpoints(defaultEndpoints)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return e, err
}

// pick settles, without Kafka where it can, the cluster and site that add
// and remove act on. With an endpoints file it settles both, from --site or
// else from --kafka; without one it settles --kafka, and fromCluster the
// site. It returns the file, nil if there is none.
func (c *cluster) pick() (*endpoints, error) {
	e, err := c.readMesh()
	if err != nil || e == nil {
		c.kafka = cmp.Or(c.kafka, defaultKafka)
		return nil, err
	}
	if c.site != "" {
		addr, ok := e.kafka[c.site]
		if !ok {
			return nil, c.unknownSite(e.sites(), "from "+e.path)
		}
		if c.kafka == "" {
			c.kafka = addr
			return e, nil
		}
	}
	given := c.kafka != ""
	c.kafka = cmp.Or(c.kafka, defaultKafka)
	owner := e.siteOf(c.kafka)
	switch {
	case owner == "" && given:
		return nil, usagef(c.cmd.CommandPath(), `--kafka %s is no site's cluster in %s (%s); give one of those, or --endpoints "" to go by the cluster's replicator group instead`,
			c.kafka, e.path, e.table())
	case owner == "":
		return nil, usagef(c.cmd.CommandPath(), "which site? %s has no site at the default --kafka %s; give --site (its sites are %s)",
			e.path, c.kafka, strings.Join(e.sites(), ", "))
	case c.site != "" && owner != c.site:
		return nil, usagef(c.cmd.CommandPath(), "%s is the cluster of site %s, not %s (from %s); leave out --kafka to act on %s's cluster, %s",
			c.kafka, owner, c.site, e.path, c.site, e.kafka[c.site])
	}
	c.site = owner
	return e, nil
}

// fromCluster reads the cluster's leases. Without an endpoints file it
// also learns the cluster's site from its replicator group, and takes it
// as the site, or checks --site against it and the sites the leases name.
func (c *cluster) fromCluster(ctx context.Context, e *endpoints) (interest.Leases, error) {
	if e != nil {
		return c.load(ctx)
	}
	own, err := c.replicatorSite(ctx)
	if err != nil {
		return nil, err
	}
	tb, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	known := leaseSites(tb, own)
	switch {
	case c.site == "" && own == "":
		hint := "give --site SITE"
		if len(known) > 0 {
			hint = "give --site (the mesh's sites are " + strings.Join(known, ", ") + ")"
		}
		return nil, usagef(c.cmd.CommandPath(), "cannot tell whose cluster %s is: it holds no replicator group (%s<site>) and there is no endpoints file; %s, or --endpoints FILE",
			c.kafka, replicatorGroupPrefix, hint)
	case c.site == "":
		c.site = own
	case len(known) > 0 && !slices.Contains(known, c.site):
		return nil, c.unknownSite(known, "from the replicator group and leases at "+c.kafka)
	case own != "" && own != c.site:
		return nil, usagef(c.cmd.CommandPath(), "%s is the cluster of site %s, not %s (it holds %s's replicator group, %s%s); leave out --site, or give --kafka %s's cluster",
			c.kafka, own, c.site, own, replicatorGroupPrefix, own, c.site)
	}
	return tb, nil
}

// checkFilter checks list's --site against the sites the mesh knows: the
// endpoints file's, or else the cluster's own, and those the leases name.
// When it knows none, any site goes.
func (c *cluster) checkFilter(ctx context.Context, e *endpoints, tb interest.Leases) error {
	if c.site == "" {
		return nil
	}
	var known []string
	from := "from the replicator group and leases at " + c.kafka
	if e != nil {
		known = leaseSites(tb, e.sites()...)
		from = "from " + e.path + " and the leases at " + c.kafka
	} else {
		own, err := c.replicatorSite(ctx)
		if err != nil {
			return err
		}
		known = leaseSites(tb, own)
	}
	if len(known) > 0 && !slices.Contains(known, c.site) {
		return c.unknownSite(known, from)
	}
	return nil
}

func (c *cluster) unknownSite(known []string, from string) error {
	return usagef(c.cmd.CommandPath(), "--site %q: the mesh has no such site; its sites are %s (%s)", c.site, strings.Join(known, ", "), from)
}

// replicatorSite returns the site whose replicator group the cluster
// holds, "" if it holds none. A cluster holding the groups of two sites
// is an error: it cannot be both sites' cluster.
func (c *cluster) replicatorSite(ctx context.Context) (string, error) {
	opts, err := c.clientOpts()
	if err != nil {
		return "", err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return "", fmt.Errorf("the Kafka cluster at %s: %w", c.kafka, err)
	}
	defer cl.Close()
	groups, err := kadm.NewClient(cl).ListGroups(ctx)
	if err != nil {
		return "", fmt.Errorf("the Kafka cluster at %s: listing consumer groups: %w; is Kafka reachable?", c.kafka, err)
	}
	var sites, names []string
	for _, g := range groups.Groups() {
		site, ok := strings.CutPrefix(g, replicatorGroupPrefix)
		if !ok || envelope.ValidSite(site) != nil {
			continue
		}
		sites, names = append(sites, site), append(names, g)
	}
	if len(sites) > 1 {
		return "", fmt.Errorf("the Kafka cluster at %s holds the replicator groups of sites %s (%s), but a cluster is one site's: "+
			"find the replicator configured with another site's cluster, or name the sites' clusters with --endpoints FILE",
			c.kafka, strings.Join(sites, ", "), strings.Join(names, ", "))
	}
	if len(sites) == 1 {
		return sites[0], nil
	}
	return "", nil
}

// leaseSites returns the sites that tb's leases name, and more, sorted
// and without duplicates or empty names.
func leaseSites(tb interest.Leases, more ...string) []string {
	var out []string
	for _, l := range tb {
		out = append(out, l.Site)
	}
	out = append(out, more...)
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}
