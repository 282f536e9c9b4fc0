package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/meshwork/meshwork/controlplane"
)

// registryEnv names the registry's URL when --registry is not given.
const registryEnv = "MESHCTL_REGISTRY"

// registry holds the flags that say which schema registry to ask.
type registry struct {
	a    *app
	url  string // --registry
	site string // --site
}

// client finds the registry: --registry, $MESHCTL_REGISTRY, the --site's
// (or any site's) registry in .mesh/endpoints.json, or the control plane's
// sites. Schema ids are the same at every site, and a site's registry
// forwards writes to the primary one, so any site's will do.
// do runs f with the registry's client, within the command's deadline.
func (r *registry) do(cmd *cobra.Command, f func(context.Context, *sr.Client) error) error {
	cl, err := r.client(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := r.a.ctx(cmd)
	defer cancel()
	return f(ctx, cl)
}

func (r *registry) client(cmd *cobra.Command) (*sr.Client, error) {
	url, err := r.find(cmd)
	if err != nil {
		return nil, err
	}
	hc, err := r.a.credentialedClient()
	if err != nil {
		return nil, err
	}
	return sr.NewClient(sr.URLs(url), sr.UserAgent("meshctl"), sr.HTTPClient(hc))
}

func (r *registry) find(cmd *cobra.Command) (string, error) {
	if r.url != "" {
		return r.url, nil
	}
	if v := os.Getenv(registryEnv); v != "" {
		return v, nil
	}
	if b, err := os.ReadFile(defaultEndpoints); err == nil {
		var f struct {
			Sites map[string]struct {
				Registry string `json:"registry"`
			} `json:"sites"`
		}
		if json.Unmarshal(b, &f) == nil {
			if r.site != "" {
				if s, ok := f.Sites[r.site]; ok && s.Registry != "" {
					return s.Registry, nil
				}
			} else {
				for _, name := range slices.Sorted(maps.Keys(f.Sites)) {
					if u := f.Sites[name].Registry; u != "" {
						return u, nil
					}
				}
			}
		}
	}
	c, err := r.a.client()
	if err != nil {
		return "", fmt.Errorf("which registry? give --registry http://host:port or set $%s (%v)", registryEnv, err)
	}
	ctx, cancel := r.a.ctx(cmd)
	defer cancel()
	var res struct {
		Sites []controlplane.Site `json:"sites"`
	}
	if err := c.get(ctx, "/v1/sites", &res); err != nil {
		return "", err
	}
	var names []string
	for _, s := range res.Sites {
		names = append(names, s.Name)
		if s.Registry != nil && (r.site == "" || s.Name == r.site) {
			return s.Registry.URL, nil
		}
	}
	if r.site != "" && !slices.Contains(names, r.site) {
		return "", fmt.Errorf("--site %q: the mesh has no such site; its sites are %s", r.site, strings.Join(names, ", "))
	}
	return "", fmt.Errorf("no site of the mesh declares a registry in mesh.yaml; give --registry http://host:port")
}

func newSchemasCmd(a *app) *cobra.Command {
	r := &registry{a: a}
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "List, get, register and check schemas at the schema registry",
		Long: `Works with the mesh's schema registry (the Confluent API): list subjects, get
a version, register a new one, check one for compatibility before
deploying. The registry is --registry, else $` + registryEnv + `, else the --site's
(or any site's) in .mesh/endpoints.json, else the control plane's sites.`,
		Example: `  meshctl schemas list
  meshctl schemas get shop.order.created-value --version latest
  meshctl schemas check shop.order.created-value order-v2.avsc
  meshctl schemas register shop.order.created-value order-v2.avsc`,
		Args: cobra.NoArgs,
		RunE: groupRun,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&r.url, "registry", "", "the schema registry's URL, http://host:port")
	pf.StringVar(&r.site, "site", "", "use this site's registry")
	cmd.AddCommand(newSchemasListCmd(r), newSchemasGetCmd(r), newSchemasRegisterCmd(r), newSchemasCheckCmd(r))
	return cmd
}

func subjectArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef(cmd.CommandPath(), "want %s, got %d arguments", what, len(args))
		}
		return nil
	}
}

// schemaError turns the registry's not-found errors into what to do.
func schemaError(subject string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.ErrorCode == 40401 || re.ErrorCode == 40402) {
		return fmt.Errorf("%s (subject %q); 'meshctl schemas list' lists the subjects", re.Message, subject)
	}
	return err
}

func newSchemasListCmd(r *registry) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the subjects with their latest version",
		Example: `  meshctl schemas list -o json`,
		Args:    subjectArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return r.do(cmd, func(ctx context.Context, cl *sr.Client) error {
				subjects, err := cl.Subjects(ctx)
				if err != nil {
					return err
				}
				out := []sr.SubjectSchema{}
				for _, s := range subjects {
					ss, err := cl.SchemaByVersion(ctx, s, -1)
					if err != nil {
						return schemaError(s, err)
					}
					out = append(out, ss)
				}
				return r.a.render(out, func(w io.Writer) error {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "SUBJECT\tLATEST\tID\tTYPE")
					for _, s := range out {
						fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Subject, s.Version, s.ID, s.Type.String())
					}
					return tw.Flush()
				})
			})
		},
	}
}

// parseVersion reads --version: latest or a number.
func parseVersion(cmd *cobra.Command, v string) (int, error) {
	if v == "latest" {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, usagef(cmd.CommandPath(), "--version %q: want latest or a version number from 1", v)
	}
	return n, nil
}

func newSchemasGetCmd(r *registry) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get SUBJECT",
		Short: "Show one version of a subject's schema",
		Example: `  meshctl schemas get shop.order.created-value
  meshctl schemas get shop.order.created-value --version 2 -o json`,
		Args: subjectArgs(1, "one SUBJECT"),
	}
	version := cmd.Flags().String("version", "latest", "the version: latest or a number")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v, err := parseVersion(cmd, *version)
		if err != nil {
			return err
		}
		return r.do(cmd, func(ctx context.Context, cl *sr.Client) error {
			ss, err := cl.SchemaByVersion(ctx, args[0], v)
			if err != nil {
				return schemaError(args[0], err)
			}
			return r.a.render(ss, func(w io.Writer) error {
				fmt.Fprintf(w, "Subject: %s\nVersion: %d\nID:      %d\nType:    %s\n\n%s\n", ss.Subject, ss.Version, ss.ID, ss.Type.String(), ss.Schema.Schema)
				return nil
			})
		})
	}
	return cmd
}

// readSchema reads a schema file; its type is Avro unless --type says.
func readSchema(cmd *cobra.Command, path, typ string) (sr.Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return sr.Schema{}, err
	}
	s := sr.Schema{Schema: string(b)}
	switch strings.ToUpper(typ) {
	case "AVRO":
		s.Type = sr.TypeAvro
	case "JSON":
		s.Type = sr.TypeJSON
	case "PROTOBUF":
		s.Type = sr.TypeProtobuf
	default:
		return sr.Schema{}, usagef(cmd.CommandPath(), "--type %q: want AVRO, JSON or PROTOBUF", typ)
	}
	return s, nil
}

func newSchemasRegisterCmd(r *registry) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register SUBJECT FILE",
		Short: "Register the schema in FILE as a new version of SUBJECT",
		Long: `Registers the schema in FILE under SUBJECT. The registry refuses a schema
incompatible with the subject's compatibility level (check it first with
'meshctl schemas check'); registering a schema the subject already has
returns its version.`,
		Example: `  meshctl schemas register shop.order.created-value order.avsc`,
		Args:    subjectArgs(2, "SUBJECT and FILE"),
	}
	typ := cmd.Flags().String("type", "AVRO", "the schema's type: AVRO, JSON or PROTOBUF")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		s, err := readSchema(cmd, args[1], *typ)
		if err != nil {
			return err
		}
		return r.do(cmd, func(ctx context.Context, cl *sr.Client) error {
			ss, err := cl.CreateSchema(ctx, args[0], s)
			if err != nil {
				return fmt.Errorf("registering %s under %s: %w", args[1], args[0], err)
			}
			return r.a.render(ss, func(w io.Writer) error {
				fmt.Fprintf(w, "Registered %s version %d, id %d.\n", ss.Subject, ss.Version, ss.ID)
				return nil
			})
		})
	}
	return cmd
}

func newSchemasCheckCmd(r *registry) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check SUBJECT FILE",
		Short: "Check whether the schema in FILE is compatible with SUBJECT",
		Long: `Checks the schema in FILE against SUBJECT's --version (by default its
latest) under the subject's compatibility level, and says why not. Exits 1
when it is incompatible, so that a deployment script can stop.`,
		Example: `  meshctl schemas check shop.order.created-value order-v2.avsc`,
		Args:    subjectArgs(2, "SUBJECT and FILE"),
	}
	typ := cmd.Flags().String("type", "AVRO", "the schema's type: AVRO, JSON or PROTOBUF")
	version := cmd.Flags().String("version", "latest", "the version to check against: latest or a number")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v, err := parseVersion(cmd, *version)
		if err != nil {
			return err
		}
		s, err := readSchema(cmd, args[1], *typ)
		if err != nil {
			return err
		}
		return r.do(cmd, func(ctx context.Context, cl *sr.Client) error {
			res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), args[0], v, s)
			if err != nil {
				return schemaError(args[0], err)
			}
			if err := r.a.render(res, func(w io.Writer) error {
				if res.Is {
					fmt.Fprintf(w, "%s is compatible with %s.\n", args[1], args[0])
					return nil
				}
				fmt.Fprintf(w, "%s is NOT compatible with %s:\n", args[1], args[0])
				for _, m := range res.Messages {
					fmt.Fprintf(w, "  %s\n", m)
				}
				return nil
			}); err != nil {
				return err
			}
			if !res.Is {
				return fmt.Errorf("%s is not compatible with %s", args[1], args[0])
			}
			return nil
		})
	}
	return cmd
}
