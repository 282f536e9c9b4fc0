package main

import (
	"github.com/meshwork/meshwork/internal/service"

	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// serverEnv names the control plane's URL when --server is not given.
const serverEnv = "MESHCTL_SERVER"

// app is what every command shares: where it writes, the global flags, and
// the control plane's client, built once when a command first asks for it.
type app struct {
	out, errOut  io.Writer
	server       string        // --server
	output       string        // --output
	timeout      time.Duration // --timeout
	tls          tlsFlags      // --cacert, --cert, --key
	user         string        // --user
	passwordFile string        // --password-file

	api    *apiClient
	apiErr error
}

// commands lists meshctl's commands, each built by its constructor from
// the app. A new command is a file with its constructor, added here.
func commands() []func(*app) *cobra.Command {
	return []func(*app) *cobra.Command{
		newSitesCmd,
		newLinksCmd,
		newTopicsCmd,
		newDescribeCmd,
		newInterestCmd,
		newSchemasCmd,
		newPolicyCmd,
		func(a *app) *cobra.Command {
			return newTraceCmd(func() (string, error) { u, _, err := a.serverURL(); return u, err }, func() string { return a.output }, a.credentialedClient)
		},
	}
}

// root builds the command tree.
func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "meshctl",
		Short: "Manage a Meshwork mesh: sites, links, topics, interest and schemas",
		Long: `meshctl manages a Meshwork mesh: its sites and links and their health, the
catalog of its topics (who produces, who consumes, what flows where), the
interest of each site, and the schemas of the registry.

Most commands ask the control plane: --server, else $` + serverEnv + `, else the
"controlplane" URL in .mesh/endpoints.json of the current directory (the dev
mesh, make run, writes it). An https server whose certificate a private CA
issued is trusted with --cacert (or $MESHCTL_CA, $MESH_CA, or the tls_ca of
.mesh/endpoints.json); --cert and --key present a client certificate (mTLS).

Credentials: --user with --password-file, else $` + userEnv + ` and $` + passwordEnv + `
(or a bearer token in $` + tokenEnv + `), else, in the directory of a secure dev mesh
(make run ARGS=-secure), the admin of .mesh/credentials.json; its CA (tls_ca of
.mesh/endpoints.json) is trusted for the control plane and Kafka.`,
		Example: `  meshctl sites
  meshctl describe topic shop.order.created
  meshctl interest add shop.order.created --site west --ttl 24h
  meshctl topics -o json`,
		Version:       service.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          groupRun,
	}
	root.SetVersionTemplate("meshctl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", "", "the control plane's URL, http://host:port (default: $"+serverEnv+", else the controlplane of "+defaultEndpoints+")")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "give up after this long")
	pf.StringVar(&a.tls.caFile, "cacert", "", caFlagHelp())
	pf.StringVar(&a.tls.certFile, "cert", "", "present the client certificate (PEM) of `file` to https servers that ask for one (default: $"+certEnv+")")
	pf.StringVar(&a.tls.keyFile, "key", "", "the private key (PEM) of --cert, in `file` (default: $"+keyEnv+")")
	pf.StringVar(&a.user, "user", "", "act as this user (HTTP basic to the control plane, SASL to Kafka), with --password-file (default: $"+userEnv+" and $"+passwordEnv+
		", or a bearer token in $"+tokenEnv+", else in a secure dev mesh's directory the admin of .mesh/credentials.json)")
	pf.StringVar(&a.passwordFile, "password-file", "", "`FILE` holding --user's password")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		switch a.output {
		case "table", "json", "yaml":
		case "strimzi":
			if cmd.Name() != "kafka-acls" {
				return usagef(cmd.CommandPath(), "--output strimzi is for policy kafka-acls only; want table, json or yaml")
			}
		default:
			return usagef(cmd.CommandPath(), "--output %q: want table, json or yaml", a.output)
		}
		if a.timeout <= 0 {
			return usagef(cmd.CommandPath(), "--timeout must be positive")
		}
		return nil
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef(cmd.CommandPath(), "%v", err)
	})
	for _, c := range commands() {
		root.AddCommand(c(a))
	}
	return root
}

// groupRun is the run of a command that only groups others: without one
// of them it is a usage error.
func groupRun(cmd *cobra.Command, _ []string) error {
	_ = cmd.Help()
	return &usageError{msg: cmd.CommandPath() + ": no command given"}
}

// ctx bounds a command by --timeout.
func (a *app) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// serverURL finds the control plane: --server, $MESHCTL_SERVER, or the
// controlplane of .mesh/endpoints.json. It returns "" and where it looked
// when there is none.
func (a *app) serverURL() (url, from string, err error) {
	if a.server != "" {
		return a.server, "--server", nil
	}
	if v := os.Getenv(serverEnv); v != "" {
		return v, "$" + serverEnv, nil
	}
	b, err := os.ReadFile(defaultEndpoints)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	var f struct {
		ControlPlane string `json:"controlplane"`
		TLSCA        string `json:"tls_ca"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return "", "", fmt.Errorf("%s: %w", defaultEndpoints, err)
	}
	a.tls.endpointsCA = f.TLSCA
	return f.ControlPlane, defaultEndpoints, nil
}

// client returns the control plane's client, built on first use.
// get asks the control plane for path (GET) within --timeout and decodes
// the answer into v.
func (a *app) get(cmd *cobra.Command, path string, v any) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	return c.get(ctx, path, v)
}

func (a *app) client() (*apiClient, error) {
	if a.api != nil || a.apiErr != nil {
		return a.api, a.apiErr
	}
	url, from, err := a.serverURL()
	switch {
	case err != nil:
		a.apiErr = err
	case url == "":
		a.apiErr = fmt.Errorf("no control plane: give --server http://host:port or set $%s (in a directory where the dev mesh runs, %s names it)",
			serverEnv, filepath.Join(".mesh", "endpoints.json"))
	default:
		a.api, a.apiErr = newAPIClient(url, from)
		if a.apiErr == nil {
			a.api.http, a.apiErr = a.tls.httpClient()
		}
	}
	if a.api != nil && a.apiErr == nil {
		a.apiErr = a.secureAPI(a.api, from)
	}
	return a.api, a.apiErr
}

// secureAPI gives the control plane's client its credentials and, when its
// URL came from a secure dev mesh's endpoints file, trust in the mesh's CA.
func (a *app) secureAPI(c *apiClient, from string) error {
	var sec devSecurity
	if from == defaultEndpoints {
		var err error
		if sec, err = readDevSecurity(defaultEndpoints); err != nil {
			return err
		}
		t, err := sec.transport()
		if err != nil {
			return err
		}
		if t != nil && c.http.Transport == nil { // --cacert and the like win
			c.http.Transport = t
		}
	}
	creds, err := a.credentials(sec)
	c.creds = creds
	return err
}

// render writes v as --output asks: a table (by table), JSON or YAML.
func (a *app) render(v any, table func(w io.Writer) error) error {
	switch a.output {
	case "json":
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so YAML has the API's field names.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return err
		}
		enc := yaml.NewEncoder(a.out)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(generic)
	}
	return table(a.out)
}

// orDash is s, or "-" for nothing, in tables.
func orDash(s string) string { return cmp.Or(strings.TrimSpace(s), "-") }
