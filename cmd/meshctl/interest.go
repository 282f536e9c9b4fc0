package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/meshwork/meshwork/controlplane"
	"github.com/meshwork/meshwork/interest"
	"github.com/meshwork/meshwork/internal/envelope"
	"github.com/meshwork/meshwork/internal/kafkaclient"
)

// defaultName is the source id of declarations made without --name.
const defaultName = controlplane.DefaultDeclarationName

// cluster holds the flags that say which cluster and site an interest
// command acts on, and the command they belong to.
type cluster struct {
	a         *app
	cmd       *cobra.Command
	kafka     string // "" until given or decided
	site      string // "" until given or decided; a filter for list
	endpoints string
	sec       devSecurity // of the endpoints file read, if any
}

// siteAbout says how add and remove tell the site.
const siteAbout = `
Where: with a control plane (--server, $MESHCTL_SERVER, or the controlplane
of .mesh/endpoints.json), through its API, and --site is required. Without
one, or with --kafka or --endpoints, straight to a site's Kafka: with an
endpoints file (--endpoints, else $MESHWORK_ENDPOINTS, else
.mesh/endpoints.json if it exists, as 'meshd dev' writes it), --site picks
the site and its cluster, or --kafka the site whose cluster it is. Without
one, the site is the one whose replicator group (meshwork-replicator-<site>)
the --kafka cluster holds: --site must agree with it, and is required when
the cluster holds none. A --site the mesh does not know is refused.`

// siteFlags defines the flags of add and remove.
func siteFlags(a *app, cmd *cobra.Command) *cluster {
	c := &cluster{a: a, cmd: cmd}
	fs := cmd.Flags()
	fs.StringVar(&c.kafka, "kafka", "", "the site's Kafka bootstrap brokers, host:port[,host:port...], to act without a control plane (default: the --site's in the endpoints file, else "+defaultKafka+")")
	fs.StringVar(&c.site, "site", "", "the site whose interest this is (default: the site whose cluster --kafka is)")
	c.commonFlags()
	return c
}

// listFlags defines the flags of list.
func listFlags(a *app, cmd *cobra.Command) *cluster {
	c := &cluster{a: a, cmd: cmd}
	fs := cmd.Flags()
	fs.StringVar(&c.kafka, "kafka", "", "the Kafka bootstrap brokers of any site, host:port[,host:port...], to list without a control plane (default "+defaultKafka+")")
	fs.StringVar(&c.site, "site", "", "list only the leases of this site, one the mesh knows (default: every site's)")
	c.commonFlags()
	return c
}

// commonFlags defines the flags every interest command has.
func (c *cluster) commonFlags() {
	c.cmd.Flags().StringVar(&c.endpoints, "endpoints", "", "the mesh's endpoints `FILE`, which names its sites and their Kafka addresses, to act without a control plane "+
		"(default: $"+endpointsEnv+", else "+defaultEndpoints+` if it exists; --endpoints "" reads none)`)
	_ = c.cmd.RegisterFlagCompletionFunc("site", c.a.completeSites)
}

// viaAPI returns the control plane's client when the command goes
// through it: a control plane is known and neither --kafka nor
// --endpoints asks for Kafka.
func (c *cluster) viaAPI() (*apiClient, error) {
	if c.cmd.Flags().Changed("kafka") || c.cmd.Flags().Changed("endpoints") {
		return nil, nil
	}
	url, _, err := c.a.serverURL()
	if err != nil || url == "" {
		return nil, err
	}
	return c.a.client()
}

// check checks the flags' syntax; which sites exist is for later.
func (c *cluster) check() error {
	if c.site != "" {
		if err := envelope.ValidSite(c.site); err != nil {
			return usagef(c.cmd.CommandPath(), "--site %q: %v", c.site, err)
		}
	}
	if c.kafka != "" {
		if _, err := c.clientOpts(); err != nil {
			return usagef(c.cmd.CommandPath(), "--kafka %q: %v", c.kafka, err)
		}
	}
	return nil
}

func (c *cluster) config() kafkaclient.Config {
	cfg := kafkaclient.Defaults()
	cfg.Brokers = brokers(c.kafka)
	if c.sec != (devSecurity{}) {
		creds, _ := c.a.credentials(c.sec) // a bad file shows as Kafka refusing
		c.sec.kafka(&cfg, creds)
	}
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

func newInterestCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "interest",
		Short: "Declare, remove and list the topics a site wants from the other sites",
		Long: `A site is interested in a topic while something there consumes it; its
replicator then copies the topic's records from the other sites. These
commands declare interest for operators, remove it, and list every lease.`,
		Example: `  meshctl interest add shop.order.created --site west
  meshctl interest add 'shop\..*' --pattern --name nightly --ttl 24h --resume earliest --site west
  meshctl interest list --site west
  meshctl interest remove shop.order.created --site west
  meshctl interest list --kafka 127.0.0.1:29092     # straight to Kafka, no control plane`,
		Args: cobra.NoArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newInterestAddCmd(a), newInterestRemoveCmd(a), newInterestListCmd(a))
	return cmd
}

// oneTopic checks that a command has one TOPIC argument.
func oneTopic(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef(cmd.CommandPath(), "want one TOPIC, got %d arguments", len(args))
	}
	return nil
}

func newInterestAddCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add TOPIC",
		Short: "Declare that a site wants a topic, or the topics matching a pattern",
		Long: `Declares that a site wants TOPIC from the other sites, or with --pattern
every topic whose whole name matches the RE2 regular expression TOPIC
(internal topics, starting with _, excepted). The site's replicator copies
the topic's records from the other sites for as long as the declaration
lasts: until removed, or for --ttl. Adding the same TOPIC and --name again
replaces the declaration and keeps when it began.
` + siteAbout,
		Example: `  meshctl interest add shop.order.created --site west
  meshctl interest add 'shop\..*' --pattern --name nightly --ttl 24h --resume earliest --site west`,
		Args:              oneTopic,
		ValidArgsFunction: a.completeTopics,
	}
	c := siteFlags(a, cmd)
	pattern := cmd.Flags().Bool("pattern", false, "TOPIC is an RE2 regular expression matched against whole topic names")
	name := cmd.Flags().String("name", defaultName, "name of the declaration; a site may declare one topic under several names")
	ttl := cmd.Flags().Duration("ttl", 0, "how long the declaration lasts; 0 means until removed")
	resume := cmd.Flags().String("resume", "checkpoint", "where copying starts when interest returns after a pause: checkpoint, latest, earliest or time:RFC3339")
	_ = cmd.RegisterFlagCompletionFunc("resume", cobra.FixedCompletions([]string{"checkpoint", "latest", "earliest", "time:"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path := cmd.CommandPath()
		if err := c.check(); err != nil {
			return err
		}
		if *ttl != 0 && *ttl < time.Second {
			return usagef(path, "--ttl %s: want 0 (until removed) or at least 1s", *ttl)
		}
		r, at, err := interest.ParseResume(*resume)
		if err != nil {
			return usagef(path, "--%v", err)
		}
		l := interest.Lease{Topic: args[0], Pattern: *pattern, Kind: interest.KindDeclared, SourceID: *name, Resume: r, ResumeAt: at}
		// checkLease checks the lease once its site is known: before
		// Kafka is asked, unless Kafka is what tells the site.
		checkLease := func() error {
			probe := l
			probe.Site, probe.Since = c.site, time.Now()
			if err := probe.Validate(); err != nil {
				return usagef(path, "%v", err)
			}
			return nil
		}
		if c.site != "" {
			if err := checkLease(); err != nil {
				return err
			}
		}
		ctx, cancel := a.ctx(cmd)
		defer cancel()
		if api, err := c.viaAPI(); err != nil || api != nil {
			if err != nil {
				return err
			}
			if c.site == "" {
				return usagef(path, "--site is required: which site wants %s?", l.Topic)
			}
			var held controlplane.Lease
			req := controlplane.InterestRequest{Site: c.site, Topic: l.Topic, Pattern: l.Pattern, Name: l.SourceID, Resume: *resume}
			if *ttl > 0 {
				req.TTL = ttl.String()
			}
			if err := api.do(ctx, "POST", "/v1/interest", req, &held); err != nil {
				return err
			}
			l.Site = c.site
			fmt.Fprintf(a.out, "Added %s, since %s, expires %s.\n", l.Key(), stamp(held.Since), cmp.Or(formatTime(held.Expires), "never"))
			return nil
		}
		e, err := c.pick()
		if err != nil {
			return err
		}
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
		held, err := interest.Declare(ctx, cl, l, *ttl, tb)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "Added %s, since %s, expires %s.\n", held.Key(), stamp(held.Since), expires(held, time.Now()))
		return nil
	}
	return cmd
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

func newInterestRemoveCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove TOPIC",
		Short: "Remove a declared interest",
		Long: `Removes a site's declared interest in TOPIC (with --pattern, in the pattern
TOPIC) made under --name. The replicator stops copying the topic once no
other interest in it is left at the site; its checkpoint stays.
` + siteAbout,
		Example: `  meshctl interest remove shop.order.created --site west
  meshctl interest remove 'shop\..*' --pattern --name nightly --site west`,
		Args:              oneTopic,
		ValidArgsFunction: a.completeTopics,
	}
	c := siteFlags(a, cmd)
	pattern := cmd.Flags().Bool("pattern", false, "TOPIC is a pattern declared with --pattern")
	name := cmd.Flags().String("name", defaultName, "name the declaration was made under")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := c.check(); err != nil {
			return err
		}
		ctx, cancel := a.ctx(cmd)
		defer cancel()
		if api, err := c.viaAPI(); err != nil || api != nil {
			if err != nil {
				return err
			}
			if c.site == "" {
				return usagef(cmd.CommandPath(), "--site is required: whose interest in %s is to be removed?", args[0])
			}
			var res struct {
				Removed string `json:"removed"`
			}
			req := controlplane.InterestRequest{Site: c.site, Topic: args[0], Pattern: *pattern, Name: *name}
			if err := api.do(ctx, "DELETE", "/v1/interest", req, &res); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Removed %s.\n", res.Removed)
			return nil
		}
		e, err := c.pick()
		if err != nil {
			return err
		}
		tb, err := c.fromCluster(ctx, e)
		if err != nil {
			return err
		}
		l := interest.Lease{Topic: args[0], Pattern: *pattern, Site: c.site, Kind: interest.KindDeclared, SourceID: *name}
		cl, err := c.client()
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := interest.Withdraw(ctx, cl, l, tb); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "Removed %s.\n", l.Key())
		return nil
	}
	return cmd
}

func newInterestListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the interest leases of every site, or of one",
		Long: `Lists every interest lease: the site that wants the topic, the topic (or
pattern), who holds the interest, since when, until when, and where copying
resumes after a pause. Expired leases are shown and marked; they count for
nothing. Through the control plane when there is one; else from a cluster's
_mesh.interest (every site's cluster holds the leases of every site, as the
replicators copy them), where --site is checked against the sites the mesh
knows: those of the endpoints file (see --endpoints), or else the cluster's
own (by its replicator group, meshwork-replicator-<site>), and those the
leases name.`,
		Example: `  meshctl interest list
  meshctl interest list --site west -o json
  meshctl interest list --kafka 127.0.0.1:29092`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usagef(cmd.CommandPath(), "takes no arguments, got %q", args)
			}
			return nil
		},
	}
	c := listFlags(a, cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := c.check(); err != nil {
			return err
		}
		ctx, cancel := a.ctx(cmd)
		defer cancel()
		var leases []controlplane.Lease
		from := ""
		if api, err := c.viaAPI(); err != nil || api != nil {
			if err != nil {
				return err
			}
			var res struct {
				Leases []controlplane.Lease `json:"leases"`
			}
			path := "/v1/interest"
			if c.site != "" {
				path += "?site=" + url.QueryEscape(c.site)
			}
			if err := api.get(ctx, path, &res); err != nil {
				return err
			}
			leases, from = res.Leases, "the control plane"
		} else {
			e, err := c.readMesh()
			if err != nil {
				return err
			}
			c.kafka = cmp.Or(c.kafka, defaultKafka)
			tb, err := c.load(ctx)
			if err != nil {
				return err
			}
			if err := c.checkFilter(ctx, e, tb); err != nil {
				return err
			}
			now := time.Now()
			for _, l := range tb.Sorted() {
				if c.site == "" || l.Site == c.site {
					leases = append(leases, controlplane.Lease{Site: l.Site, Topic: l.Topic, Pattern: l.Pattern, Kind: l.Kind.String(),
						Source: l.SourceID, Since: l.Since.UTC(), Expires: l.Expires.UTC(), Resume: interest.FormatResume(l.Resume, l.ResumeAt), Expired: l.Expired(now)})
				}
			}
			from = interest.Topic + " at " + c.kafka
		}
		slices.SortFunc(leases, func(a, b controlplane.Lease) int {
			return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Source, b.Source))
		})
		if leases == nil {
			leases = []controlplane.Lease{}
		}
		return a.render(map[string]any{"leases": leases}, func(w io.Writer) error {
			if len(leases) == 0 {
				fmt.Fprintf(w, "No interest leases in %s.\n", from)
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tTOPIC\tKIND\tSOURCE\tSINCE\tEXPIRES\tRESUME")
			for _, l := range leases {
				topic := l.Topic
				if l.Pattern {
					topic = "pattern:" + topic
				}
				exp := "never"
				if !l.Expires.IsZero() {
					exp = stamp(l.Expires)
					if l.Expired {
						exp += " (expired)"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Site, topic, l.Kind, l.Source, stamp(l.Since), exp, l.Resume)
			}
			return tw.Flush()
		})
	}
	return cmd
}

// completeSites completes site names from the control plane.
func (a *app) completeSites(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	var res struct {
		Sites []controlplane.Site `json:"sites"`
	}
	if c.get(ctx, "/v1/sites", &res) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, s := range res.Sites {
		names = append(names, s.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
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
