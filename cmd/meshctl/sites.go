package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshwork/meshwork/controlplane"
)

func newSitesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "sites",
		Short: "List the mesh's sites and the health of what runs there",
		Long: `Lists every site of the mesh (as mesh.yaml declares it) with the health of
its Kafka cluster, schema registry, adapters and replicators, as the control
plane last looked at them.`,
		Example: `  meshctl sites
  meshctl sites -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Sites    []controlplane.Site `json:"sites"`
				Gathered time.Time           `json:"gathered"`
			}
			if err := a.get(cmd, "/v1/sites", &res); err != nil {
				return err
			}
			return a.render(res, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SITE\tHEALTHY\tKAFKA\tREGISTRY\tADAPTERS\tREPLICATORS")
				var problems []string
				for _, s := range res.Sites {
					reg := "-"
					if s.Registry != nil {
						reg = s.Registry.Status
						problems = append(problems, problem(s.Name, "registry "+s.Registry.URL, s.Registry.Health)...)
					}
					problems = append(problems, problem(s.Name, "kafka "+strings.Join(s.Kafka.Brokers, ","), s.Kafka.Health)...)
					for _, l := range [][]controlplane.ServiceHealth{s.Adapters, s.Replicators} {
						for _, h := range l {
							problems = append(problems, problem(s.Name, h.Name+" "+h.URL, h.Health)...)
							if h.Note != "" {
								problems = append(problems, fmt.Sprintf("%s: %s %s: %s", s.Name, h.Name, h.URL, h.Note))
							}
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, yesNo(s.Healthy), s.Kafka.Status, reg, counts(s.Adapters), counts(s.Replicators))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(problems) > 0 {
					fmt.Fprintf(w, "\n%s\n", strings.Join(problems, "\n"))
				}
				return nil
			})
		},
	}
}

func newLinksCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "links",
		Short: "List the mesh's links and whether each replicator reaches its sources",
		Long: `Lists each direction of every link of the mesh: the target site's replicator
reads from the source site. Its status is what the target's replicators
report: up, down (with why), or unknown (no replicator of the target is
declared in mesh.yaml, or none answers).`,
		Example: `  meshctl links`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res struct {
				Links    []controlplane.Link `json:"links"`
				Gathered time.Time           `json:"gathered"`
			}
			if err := a.get(cmd, "/v1/links", &res); err != nil {
				return err
			}
			return a.render(res, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SOURCE\tTARGET\tSTATUS\tDETAIL")
				for _, l := range res.Links {
					var detail []string
					for _, r := range l.Reports {
						if r.Error != "" {
							detail = append(detail, r.Replicator+": "+r.Error)
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Source, l.Target, l.Status, orDash(strings.Join(detail, "; ")))
				}
				return tw.Flush()
			})
		},
	}
}

func problem(site, what string, h controlplane.Health) []string {
	if h.Status == controlplane.StatusOK {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s: %s %s", site, what, h.Status, h.Error)}
}

func counts(l []controlplane.ServiceHealth) string {
	if len(l) == 0 {
		return "-"
	}
	ok := 0
	for _, h := range l {
		if h.Status == controlplane.StatusOK {
			ok++
		}
	}
	return fmt.Sprintf("%d/%d ok", ok, len(l))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
