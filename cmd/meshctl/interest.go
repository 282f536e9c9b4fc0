package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// defaultName is the source id of declarations made without -name.
const defaultName = "meshctl"

// cluster holds the flags that say which cluster and site a command acts
// on, and the flag set they belong to.
type cluster struct {
	fs        *flag.FlagSet
	kafka     string // "" until given or decided
	site      string // "" until given or decided; a filter for list
	endpoints string
	timeout   time.Duration
}

// siteAbout says how add and remove tell the site.
const siteAbout = `
The site: with an endpoints file (-endpoints, else $MESHWORK_ENDPOINTS,
else .mesh/endpoints.json if it exists, as 'meshd dev' writes it), -site
picks the site and its cluster, or -kafka the site whose cluster it is.
Without one, the site is the one whose replicator group
(meshwork-replicator-<site>) the -kafka cluster holds: -site must agree
with it, and is required when the cluster holds none. A -site the mesh
does not know is refused.`

// siteFlags defines the flags of add and remove.
func siteFlags(fs *flag.FlagSet) *cluster {
	c := &cluster{fs: fs}
	fs.StringVar(&c.kafka, "kafka", "", "the site's Kafka bootstrap brokers, host:port[,host:port...] (default: the -site's in the endpoints file, else "+defaultKafka+")")
	fs.StringVar(&c.site, "site", "", "the site whose interest this is (default: the site whose cluster -kafka is)")
	commonFlags(fs, c)
	return c
}

// listFlags defines the flags of list.
func listFlags(fs *flag.FlagSet) *cluster {
	c := &cluster{fs: fs}
	fs.StringVar(&c.kafka, "kafka", "", "the Kafka bootstrap brokers of any site, host:port[,host:port...] (default "+defaultKafka+")")
	fs.StringVar(&c.site, "site", "", "list only the leases of this site, one the mesh knows (default: every site's)")
	commonFlags(fs, c)
	return c
}

// commonFlags defines the flags every interest command has.
func commonFlags(fs *flag.FlagSet, c *cluster) {
	fs.StringVar(&c.endpoints, "endpoints", "", "the mesh's endpoints `FILE`, which names its sites and their Kafka addresses "+
		"(default: $"+endpointsEnv+", else "+defaultEndpoints+` if it exists; -endpoints "" reads none)`)
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after this long")
}

// check checks the flags' syntax; which sites exist is for later.
func (c *cluster) check() error {
	if c.site != "" {
		if err := envelope.ValidSite(c.site); err != nil {
			return usagef(c.fs, "-site %q: %v", c.site, err)
		}
	}
	if c.timeout <= 0 {
		return usagef(c.fs, "-timeout must be positive")
	}
	if c.kafka != "" {
		if _, err := c.clientOpts(); err != nil {
			return usagef(c.fs, "-kafka %q: %v", c.kafka, err)
		}
	}
	return nil
}

func (c *cluster) config() kafkaclient.Config {
	cfg := kafkaclient.Defaults()
	cfg.Brokers = brokers(c.kafka)
	return cfg
}

func (c *cluster) clientOpts() ([]kgo.Opt, error) {
	cfg := c.config()
	return cfg.Options("meshctl", c.site)
}

func (c *cluster) client() (*kgo.Client, error) {
	return kafkaclient.New(c.config(), "meshctl", c.site)
}

// load reads the cluster's leases.
func (c *cluster) load(ctx context.Context) (interest.Leases, error) {
	opts, err := c.clientOpts()
	if err != nil {
		return nil, err
	}
	tb, err := interest.Read(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("the Kafka cluster at %s: %w", c.kafka, err)
	}
	return tb, nil
}

const addAbout = `
Declares that a site wants TOPIC from the other sites, or with -pattern
every topic whose whole name matches the RE2 regular expression TOPIC
(internal topics, starting with _, excepted). The site's replicator copies
the topic's records from the other sites for as long as the declaration
lasts: until removed, or for -ttl. Adding the same TOPIC and -name again
replaces the declaration and keeps when it began.
` + siteAbout

func interestAdd(ctx context.Context, io stdio, path string, args []string) error {
	fs := newFlagSet(io, path, "TOPIC [flags]", addAbout)
	c := siteFlags(fs)
	pattern := fs.Bool("pattern", false, "TOPIC is an RE2 regular expression matched against whole topic names")
	name := fs.String("name", defaultName, "name of the declaration; a site may declare one topic under several names")
	ttl := fs.Duration("ttl", 0, "how long the declaration lasts; 0 means until removed")
	resume := fs.String("resume", "checkpoint", "where copying starts when interest returns after a pause: checkpoint, latest, earliest or time:RFC3339")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef(fs, "want one TOPIC, got %d arguments", len(pos))
	}
	if err := c.check(); err != nil {
		return err
	}
	if *ttl != 0 && *ttl < time.Second {
		return usagef(fs, "-ttl %s: want 0 (until removed) or at least 1s", *ttl)
	}
	r, at, err := interest.ParseResume(*resume)
	if err != nil {
		return usagef(fs, "-%v", err)
	}
	e, err := c.pick()
	if err != nil {
		return err
	}
	l := interest.Lease{Topic: pos[0], Pattern: *pattern, Kind: interest.KindDeclared,
		SourceID: *name, Resume: r, ResumeAt: at}
	// checkLease checks the lease once its site is known: before Kafka is
	// asked, unless Kafka is what tells the site.
	checkLease := func() error {
		probe := l
		probe.Site, probe.Since = c.site, time.Now()
		if err := probe.Validate(); err != nil {
			return usagef(fs, "%v", err)
		}
		return nil
	}
	if c.site != "" {
		if err := checkLease(); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tb, err := c.fromCluster(ctx, e)
	if err != nil {
		return err
	}
	if err := checkLease(); err != nil {
		return err
	}
	l.Site = c.site
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	p, err := interest.NewPublisher(cl, c.site, interest.TTL(*ttl), interest.Continue(tb))
	if err != nil {
		return err
	}
	defer p.Close(ctx) // stops renewing: a -ttl declaration lapses on its own
	if err := p.Set(ctx, []interest.Lease{l}); err != nil {
		return err
	}
	held := p.Leases()[0]
	fmt.Fprintf(io.out, "Added %s, since %s, expires %s.\n", held.Key(), stamp(held.Since), expires(held, time.Now()))
	return nil
}

const removeAbout = `
Removes a site's declared interest in TOPIC (with -pattern, in the pattern
TOPIC) made under -name. The replicator stops copying the topic once no
other interest in it is left at the site; its checkpoint stays.
` + siteAbout

func interestRemove(ctx context.Context, io stdio, path string, args []string) error {
	fs := newFlagSet(io, path, "TOPIC [flags]", removeAbout)
	c := siteFlags(fs)
	pattern := fs.Bool("pattern", false, "TOPIC is a pattern declared with -pattern")
	name := fs.String("name", defaultName, "name the declaration was made under")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef(fs, "want one TOPIC, got %d arguments", len(pos))
	}
	if err := c.check(); err != nil {
		return err
	}
	e, err := c.pick()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tb, err := c.fromCluster(ctx, e)
	if err != nil {
		return err
	}
	l := interest.Lease{Topic: pos[0], Pattern: *pattern, Site: c.site, Kind: interest.KindDeclared, SourceID: *name}
	if _, ok := tb.Lease(l.Key()); !ok {
		hint := "'meshctl interest list' shows what is declared"
		other := l
		other.Pattern = !l.Pattern
		if _, ok := tb.Lease(other.Key()); ok && other.Pattern {
			hint = "it is declared as a pattern: add -pattern"
		} else if ok {
			hint = "it is declared as a topic name: leave out -pattern"
		}
		return fmt.Errorf("site %s has no declared interest in %q named %q; %s", c.site, l.Topic, *name, hint)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, interest.Tombstone(l)).FirstErr(); err != nil {
		return fmt.Errorf("removing %s: %w", l.Key(), err)
	}
	fmt.Fprintf(io.out, "Removed %s.\n", l.Key())
	return nil
}

const listAbout = `
Lists every interest lease in the cluster's _mesh.interest: the site that
wants the topic, the topic (or pattern), who holds the interest, since when,
until when, and where copying resumes after a pause. Expired leases are
shown and marked; they count for nothing. Every site's cluster holds the
leases of every site, as the replicators copy them. -site is checked
against the sites the mesh knows: those of the endpoints file (see
-endpoints), or else the cluster's own (by its replicator group,
meshwork-replicator-<site>), and those the leases name.`

func interestList(ctx context.Context, io stdio, path string, args []string) error {
	fs := newFlagSet(io, path, "[flags]", listAbout)
	c := listFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef(fs, "takes no arguments, got %q", pos)
	}
	if err := c.check(); err != nil {
		return err
	}
	e, err := c.readMesh()
	if err != nil {
		return err
	}
	c.kafka = cmp.Or(c.kafka, defaultKafka)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tb, err := c.load(ctx)
	if err != nil {
		return err
	}
	if err := c.checkFilter(ctx, e, tb); err != nil {
		return err
	}
	var leases []interest.Lease
	for _, l := range tb.Sorted() {
		if c.site == "" || l.Site == c.site {
			leases = append(leases, l)
		}
	}
	if len(leases) == 0 {
		fmt.Fprintf(io.out, "No interest leases in %s at %s.\n", interest.Topic, c.kafka)
		return nil
	}
	slices.SortFunc(leases, func(a, b interest.Lease) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Topic, b.Topic),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.SourceID, b.SourceID))
	})
	now := time.Now()
	tw := tabwriter.NewWriter(io.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tTOPIC\tKIND\tSOURCE\tSINCE\tEXPIRES\tRESUME")
	for _, l := range leases {
		topic := l.Topic
		if l.Pattern {
			topic = "pattern:" + topic
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Site, topic, l.Kind, l.SourceID,
			stamp(l.Since), expires(l, now), interest.FormatResume(l.Resume, l.ResumeAt))
	}
	return tw.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func expires(l interest.Lease, now time.Time) string {
	switch {
	case l.Expires.IsZero():
		return "never"
	case l.Expired(now):
		return stamp(l.Expires) + " (expired)"
	}
	return stamp(l.Expires)
}
