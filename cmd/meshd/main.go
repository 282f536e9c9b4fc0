// Command meshd runs Meshwork. Its dev subcommand starts a whole two-site
// mesh in one process for the quickstart:
//
//	meshd dev                      # sites east and west on their default ports
//	meshd dev -port east.kafka=9092 -dir /tmp/mesh
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/meshwork/meshwork/devmesh"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
)

func main() { service.Main("meshd", run) }

const usage = `Usage: meshd <command> [flags]

Commands:
  dev       run a whole two-site mesh (east, west) in this process
  version   print the version

Run 'meshd <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "meshd " + bi.Main.Version
	}
	return "meshd (devel)"
}

type portFlags []string

func (p *portFlags) String() string     { return strings.Join(*p, ",") }
func (p *portFlags) Set(v string) error { *p = append(*p, v); return nil }

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := devmesh.DefaultConfig()
	fs := flag.NewFlagSet("meshd dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		ports               portFlags
		configFile, dir     string
		adminPort           int
		logLevel, logFormat string
	)
	fs.StringVar(&configFile, "config", "", "YAML file with the mesh's sites, ports and logging (flags override it)")
	fs.StringVar(&dir, "dir", "", "directory for the mesh's data; Kafka logs persist there across restarts (default "+cfg.Dir+")")
	fs.Var(&ports, "port", "override a port, as site.service=port (services: kafka, mqtt); repeatable")
	fs.IntVar(&adminPort, "admin-port", -2, fmt.Sprintf("port of /metrics, /healthz and /readyz; -1 disables (default %d)", cfg.AdminPort))
	fs.StringVar(&logLevel, "log-level", "", "log level: debug, info, warn or error (default "+cfg.Log.Level+")")
	fs.StringVar(&logFormat, "log-format", "", "log format: text or json (default "+cfg.Log.Format+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: meshd dev [flags]\n\nRuns sites east and west, each with an embedded Kafka cluster and MQTT broker.\nDefault ports: east kafka 19092, mqtt 11883; west kafka 29092, mqtt 21883; admin 18000.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("meshd dev takes no arguments, got %q", fs.Args())
	}
	if configFile != "" {
		if err := config.Load(configFile, &cfg); err != nil {
			return err
		}
	}
	if dir != "" {
		cfg.Dir = dir
	}
	if adminPort != -2 {
		cfg.AdminPort = adminPort
	}
	if logLevel != "" {
		cfg.Log.Level = logLevel
	}
	if logFormat != "" {
		cfg.Log.Format = logFormat
	}
	for _, p := range ports {
		if err := cfg.SetPort(p); err != nil {
			return err
		}
	}
	logger, err := telemetry.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	mesh, err := devmesh.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nMeshwork dev mesh is running. Data in %s; endpoints in %s. Ctrl-C stops it.\n\n", cfg.Dir, mesh.EndpointsFile())
	mesh.Endpoints().PrintTable(stdout)
	fmt.Fprintln(stdout)
	<-ctx.Done()
	logger.Info("shutting down")
	if err := mesh.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
