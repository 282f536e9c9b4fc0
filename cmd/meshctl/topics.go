package main

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshwork/meshwork/controlplane"
)

func newTopicsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "topics",
		Short: "List the mesh's topics",
		Long: `Lists every topic of the mesh: where it originates (is written to), which
sites hold it, its partitions and its schema subject.`,
		Example: `  meshctl topics
  meshctl topics -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Topics   []controlplane.TopicSummary `json:"topics"`
				Gathered time.Time                   `json:"gathered"`
			}
			if err := a.get(cmd, "/v1/topics", &res); err != nil {
				return err
			}
			return a.render(res, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TOPIC\tORIGINS\tSITES\tPARTITIONS\tSUBJECT")
				for _, t := range res.Topics {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", t.Name, orDash(strings.Join(t.Origins, ",")), strings.Join(t.Sites, ","), t.Partitions, orDash(t.Subject))
				}
				return tw.Flush()
			})
		},
	}
}

func newDescribeCmd(a *app) *cobra.Command {
	describe := &cobra.Command{
		Use:   "describe",
		Short: "Show everything the control plane knows of one object",
		Args:  cobra.NoArgs,
		RunE:  groupRun,
	}
	describe.AddCommand(&cobra.Command{
		Use:   "topic TOPIC",
		Short: "Show the catalog of one topic at every site",
		Long: `Shows, for each site that holds TOPIC: its role (origin or copy),
partitions, the configs that matter, records and write rate, the consumer
groups with their lag, the interest leases, the replication flows into the
site with their lag per source, and the producers of the latest records
(mesh_origin, ce_source); and the topic's schema subject with its versions.`,
		Example: `  meshctl describe topic shop.order.created
  meshctl describe topic shop.order.created -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(cmd.CommandPath(), "want one TOPIC, got %d arguments", len(args))
			}
			return nil
		},
		ValidArgsFunction: a.completeTopics,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t controlplane.Topic
			if err := a.get(cmd, "/v1/topics/"+url.PathEscape(args[0]), &t); err != nil {
				return err
			}
			return a.render(t, func(w io.Writer) error { return describeTopic(w, t) })
		},
	})
	return describe
}

// completeTopics completes topic names from the control plane.
func (a *app) completeTopics(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	c, err := a.client()
	if err != nil || len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	var res struct {
		Topics []controlplane.TopicSummary `json:"topics"`
	}
	if c.get(ctx, "/v1/topics", &res) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, t := range res.Topics {
		names = append(names, t.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func describeTopic(w io.Writer, t controlplane.Topic) error {
	fmt.Fprintf(w, "Topic:    %s\nOrigins:  %s\n", t.Name, orDash(strings.Join(t.Origins, ", ")))
	if t.Schema != nil {
		fmt.Fprintf(w, "Schema:   %s, versions %v (%s)\n", t.Schema.Subject, t.Schema.Versions, t.Schema.Registry)
	} else {
		fmt.Fprintf(w, "Schema:   -\n")
	}
	fmt.Fprintf(w, "Gathered: %s\n", t.Gathered.Format(time.RFC3339))
	for _, s := range t.Sites {
		fmt.Fprintf(w, "\nSite %s (%s): %d partitions, %d records, %.1f records/s\n", s.Site, s.Role, s.Partitions, s.Records, s.Rate)
		if len(s.Configs) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
				kv = append(kv, k+"="+s.Configs[k])
			}
			fmt.Fprintf(w, "  Configs:   %s\n", strings.Join(kv, " "))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		section := func(title string, empty bool) bool {
			if empty {
				fmt.Fprintf(tw, "  %s:\tnone\n", title)
				return false
			}
			fmt.Fprintf(tw, "  %s:\n", title)
			return true
		}
		if section("Groups", len(s.Groups) == 0) {
			fmt.Fprintln(tw, "    GROUP\tSTATE\tLAG")
			for _, g := range s.Groups {
				fmt.Fprintf(tw, "    %s\t%s\t%d\n", g.Group, g.State, g.Lag)
			}
		}
		if section("Interest", len(s.Interest) == 0) {
			fmt.Fprintln(tw, "    KIND\tSOURCE\tSINCE\tEXPIRES\tRESUME")
			for _, l := range s.Interest {
				exp := "never"
				if !l.Expires.IsZero() {
					exp = l.Expires.Format(time.RFC3339)
				}
				if l.Expired {
					exp += " (expired)"
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", l.Kind, l.Source, l.Since.Format(time.RFC3339), exp, l.Resume)
			}
		}
		if section("Flows", len(s.Flows) == 0) {
			fmt.Fprintln(tw, "    FROM\tLAG\tCOPIED\tRUNNING\tCHECKPOINT")
			for _, f := range s.Flows {
				lag := fmt.Sprint(f.Lag)
				if f.Lag < 0 {
					lag = "? (source down)"
				}
				fmt.Fprintf(tw, "    %s\t%s\t%d\t%s\t%s\n", f.Source, lag, f.Copied, yesNo(f.Running), f.Checkpoint.Format(time.RFC3339))
			}
		}
		if section("Producers", len(s.Producers) == 0) {
			fmt.Fprintln(tw, "    ORIGIN\tSOURCE\tRECORDS (of the latest)")
			for _, p := range s.Producers {
				fmt.Fprintf(tw, "    %s\t%s\t%d\n", orDash(p.Origin), orDash(p.Source), p.Records)
			}
		}
		if section("Adapters", len(s.Adapters) == 0) {
			// CONFIGURED: the adapter reports the rule (GET /v1/rules),
			// else the use was seen in Kafka only (a lease, a record).
			fmt.Fprintln(tw, "    ADAPTER\tRULE\tDIRECTION\tPROTOCOL SIDE\tCONFIGURED")
			for _, u := range s.Adapters {
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", u.Adapter, orDash(u.Rule), u.Direction, orDash(u.Protocol), yesNo(u.Configured))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
