package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/meshwork/meshwork/controlplane/traceindex"
)

// traceTimeout bounds the one request of `meshctl trace`.
const traceTimeout = 30 * time.Second

// newTraceCmd is `meshctl trace ID`: the hops of one event, from the
// control plane's GET /v1/events/{id}/trace. server returns the control
// plane's base URL (from --server, $MESHCTL_SERVER or the dev mesh's
// endpoints); output the --output format (table, json or yaml).
func newTraceCmd(server func() (string, error), output func() string, client func() (*http.Client, error)) *cobra.Command {
	var source string
	cmd := &cobra.Command{
		Use:   "trace ID",
		Short: "Show where one event went, hop by hop, and how long each hop took",
		Long: `Shows the hops of the event whose CloudEvents id (the ce_id header of its
Kafka records) is ID, across sites and protocols, in causal order: each
component that handled it (adapters at ingress and egress, replicators,
dead-letter writes), where it put the event (topic, partition, offset), how
it ended, and the time since the hop before.

Events are traced at the components' trace.sample_rate (all of them in the
dev mesh). An id is unique per source only: when events of several sources
share it, each is shown; --source picks one.`,
		Example: `  meshctl trace 0190a8c2-4f6e-7d3a-9b1c-2e4f6a8b0c1d
  meshctl trace 0190a8c2-4f6e-7d3a-9b1c-2e4f6a8b0c1d --source mqtt://broker/factory/1/temp
  meshctl trace 0190a8c2-4f6e-7d3a-9b1c-2e4f6a8b0c1d -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := server()
			if err != nil {
				return err
			}
			hc, err := client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), traceTimeout)
			defer cancel()
			res, raw, err := getTrace(ctx, hc, base, args[0], source)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch output() {
			case "json":
				_, err = w.Write(raw)
				return err
			case "yaml":
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					return err
				}
				return yaml.NewEncoder(w).Encode(v)
			}
			return traceTable(w, res)
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "the event's ce_source, when events of several sources share the id")
	return cmd
}

// getTrace asks the control plane at base for the trace of id, and
// returns it decoded and as the JSON it answered.
func getTrace(ctx context.Context, client *http.Client, base, id, source string) (traceindex.EventTrace, []byte, error) {
	var res traceindex.EventTrace
	u := strings.TrimRight(base, "/") + "/v1/events/" + url.PathEscape(id) + "/trace"
	if source != "" {
		u += "?source=" + url.QueryEscape(source)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return res, nil, fmt.Errorf("the control plane's URL %q: %w", base, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, nil, fmt.Errorf("the control plane at %s does not answer: %w; is it running (--server)?", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return res, nil, fmt.Errorf("reading the control plane's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("GET %s: %s", u, resp.Status)
		}
		return res, nil, errors.New(e.Error)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, nil, fmt.Errorf("GET %s: the answer is not a trace (%v); is %s a Meshwork control plane?", u, err, base)
	}
	return res, raw, nil
}

// traceTable writes each event of res as a table of its hops, each with
// the time since the hop before.
func traceTable(w io.Writer, res traceindex.EventTrace) error {
	groups := res.Events
	if len(groups) == 0 {
		groups = []traceindex.Group{{Source: res.Source, TraceID: res.TraceID, Hops: res.Hops}}
	}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Event %s from %s, trace %s: %d hops", res.ID, traceDash(g.Source), traceDash(g.TraceID), len(g.Hops))
		if n := len(g.Hops); n > 1 {
			fmt.Fprintf(w, " over %s", g.Hops[n-1].Time.Sub(g.Hops[0].Time))
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tTIME\tSINCE PREV\tSITE\tCOMPONENT\tSTEP\tPROTOCOL\tTOPIC\tPARTITION\tOFFSET\tOUTCOME\tHELD\tDETAIL")
		for j, h := range g.Hops {
			since := "-"
			if j > 0 {
				since = "+" + h.Time.Sub(g.Hops[j-1].Time).String()
			}
			part, off := "-", "-"
			if h.Partition >= 0 {
				part = fmt.Sprint(h.Partition)
			}
			if h.Offset >= 0 {
				off = fmt.Sprint(h.Offset)
			}
			held := "-"
			if h.Duration > 0 {
				held = h.Duration.Round(10 * time.Microsecond).String()
			}
			detail := h.Detail
			if h.Address != "" {
				detail = strings.TrimSpace(h.Address + " " + detail)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j+1, h.Time.UTC().Format("15:04:05.000"), since,
				h.Site, h.Component, strings.ToLower(h.Action.String()), strings.ToLower(h.Protocol.String()), h.Topic, part, off,
				h.Outcome, held, traceDash(detail))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func traceDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
