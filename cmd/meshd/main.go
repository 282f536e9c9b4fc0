// Command meshd runs Meshwork. Its dev subcommand starts a whole two-site
// mesh in one process for the quickstart:
//
//	meshd dev                      # sites east and west on their default ports
//	meshd dev -port east.kafka=9092 -dir /tmp/mesh
//
// meshd dev -h lists its flags and default ports; -config-reference prints
// the fields of its optional configuration file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
		return &service.UsageError{Err: errors.New("no command given")}
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "meshd", service.Version())
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &service.UsageError{Err: fmt.Errorf("unknown command %q", args[0])}
}

type portFlags []string

func (p *portFlags) String() string     { return strings.Join(*p, ",") }
func (p *portFlags) Set(v string) error { *p = append(*p, v); return nil }

// logFile is where meshd dev writes its log, in the mesh's directory.
const logFile = "meshd.log"

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := devmesh.DefaultConfig()
	fs := flag.NewFlagSet("meshd dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ports portFlags
	configFile := fs.String("config", "", "YAML `file` with the mesh's directory, sites, ports and logging; flags override it ('meshd dev -config-reference' lists its fields)")
	reference := fs.Bool("config-reference", false, "print the fields of the -config file, their defaults and meaning, and exit")
	dir := fs.String("dir", cfg.Dir, "`directory` of the mesh's data: Kafka logs persist there across restarts, with endpoints.json and "+logFile)
	var amqps portFlags
	fs.Var(&amqps, "amqp", "run an AMQP adapter for a site against a broker, as `site=amqp://user:password@host:port` (RabbitMQ with AMQP 1.0, ActiveMQ); repeatable, one broker per site")
	fs.Var(&ports, "port", "set one port, as `site.service=port` (services: "+strings.Join(devmesh.Services(), ", ")+"; 0 picks a free port), or controlplane=port; repeatable")
	adminPort := fs.Int("admin-port", cfg.AdminPort, "`port` of /metrics, /healthz and /readyz; 0 picks a free port, -1 disables it")
	logLevel := fs.String("log-level", cfg.Log.Level, "`level` of "+logFile+": debug, info, warn or error (warnings and errors also go to stderr)")
	logFormat := fs.String("log-format", cfg.Log.Format, "`format` of the log: text or json")
	secure := fs.Bool("secure", cfg.Secure, "run the mesh secured: TLS on every listener (CA in <dir>/tls/ca.pem), SASL/SCRAM-SHA-512 and ACLs on Kafka, MQTT with TLS and passwords, users admin and viewer in <dir>/credentials.json, policy in <dir>/policy.yaml")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			devUsage(stdout, fs, cfg)
			return err
		}
		devUsage(stderr, fs, cfg)
		return &service.UsageError{Err: err}
	}
	if *reference {
		fmt.Fprint(stdout, devmesh.ConfigReference)
		return nil
	}
	if fs.NArg() > 0 {
		return &service.UsageError{Err: fmt.Errorf("meshd dev takes no arguments, got %q; see meshd dev -h", fs.Args())}
	}
	if *configFile != "" {
		if err := config.Load(*configFile, &cfg); err != nil {
			return &service.UsageError{Err: err}
		}
	}
	// Flags given on the command line win over the file.
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "dir":
			cfg.Dir = *dir
		case "admin-port":
			cfg.AdminPort = *adminPort
		case "log-level":
			cfg.Log.Level = *logLevel
		case "log-format":
			cfg.Log.Format = *logFormat
		case "secure":
			cfg.Secure = *secure
		}
	})
	for _, p := range ports {
		errs = append(errs, cfg.SetPort(p))
	}
	for _, a := range amqps {
		errs = append(errs, cfg.SetAMQP(a))
	}
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return &service.UsageError{Err: err}
	}
	logger, closeLog, err := devLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	cfg.Logger = logger
	// With OTEL_EXPORTER_OTLP_ENDPOINT set (a Jaeger or Tempo), every
	// service of the dev mesh sends its spans there, all of them.
	tp, err := telemetry.StartTracing(ctx, telemetry.TelemetryConfig{}, "meshd", "dev", 1)
	if err != nil {
		return err
	}
	if tp != nil {
		telemetry.UseTracing(tp)
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(sctx)
		}()
	}
	mesh, err := devmesh.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nMeshwork dev mesh is running: two sites, each with Kafka, MQTT, a schema registry, an MQTT adapter, a REST adapter and a replicator.\n"+
		"Data in %s; endpoints in %s; log in %s. Ctrl-C stops it.\n\n",
		cfg.Dir, mesh.EndpointsFile(), filepath.Join(cfg.Dir, logFile))
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

// devLogger writes the whole log at the configured level to meshd.log in
// the mesh's directory, and warnings and errors also to stderr, so that
// the endpoint table stays the last thing a terminal shows.
func devLogger(cfg devmesh.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("dev mesh: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(cfg.Dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("dev mesh: %w", err)
	}
	toFile, err := telemetry.NewLogger(f, cfg.Log)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	warn := cfg.Log
	warn.Level = "warn"
	toStderr, err := telemetry.NewLogger(stderr, warn)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return slog.New(slog.NewMultiHandler(toFile.Handler(), toStderr.Handler())), func() { f.Close() }, nil
}

func devUsage(w io.Writer, fs *flag.FlagSet, cfg devmesh.Config) {
	fmt.Fprintf(w, "Usage: meshd dev [flags]\n\n"+
		"Runs a whole Meshwork mesh in this process, for trying it out and for development:\n"+
		"sites %s, each with an embedded Kafka cluster, MQTT broker, schema registry,\n"+
		"MQTT adapter and replicator, on 127.0.0.1. It prints the endpoints once everything\n"+
		"is ready, and stops on Ctrl-C; the data stays in -dir for the next start.\n\nDefault ports:\n",
		strings.Join(cfg.SiteNames(), ", "))
	for _, s := range cfg.Sites {
		var parts []string
		for _, svc := range slices.Sorted(maps.Keys(s.Ports)) {
			parts = append(parts, fmt.Sprintf("%s %d", svc, s.Ports[svc]))
		}
		fmt.Fprintf(w, "  %-6s %s\n", s.Name, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "  admin  %d (/metrics /healthz /readyz)\n", cfg.AdminPort)
	fmt.Fprintf(w, "  controlplane %d (meshctl's server; -port controlplane=N, -1 runs none)\n\nFlags:\n", cfg.ControlPlanePort)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
