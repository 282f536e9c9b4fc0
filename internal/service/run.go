package service

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/config"
	"github.com/meshwork/meshwork/internal/telemetry"
	"github.com/meshwork/meshwork/internal/tlsconfig"
	"github.com/meshwork/meshwork/policy"
)

// DefaultShutdownTimeout bounds a graceful stop: what is still in flight
// then is redelivered by its broker or Kafka.
const DefaultShutdownTimeout = 20 * time.Second

// Command is a service's command line: everything Run needs to turn a
// configuration file into a running service.
type Command[C any] struct {
	// Name is the command's name, e.g. mesh-mqtt.
	Name string
	// Summary says in a sentence or two what the service does.
	Summary string
	// Reference is the generated configuration reference (Markdown), which
	// -config-reference prints; ReferencePath is where it lives in the
	// source tree, e.g. adapters/mqtt/CONFIG.md.
	Reference, ReferencePath string
	// Defaults returns the configuration a file overrides.
	Defaults func() C
	// Common returns the common block of a configuration.
	Common func(*C) *Common
	// New builds the service from a validated configuration.
	New func(C, Deps) (Service, error)
	// ShutdownTimeout bounds Close; 0 is DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// tlsOptions change the listener's TLS server (tests look at the
	// certificate files on every handshake).
	tlsOptions []tlsconfig.ServerOption
}

// UsageError is a mistake in the command line or in the configuration
// file; Main exits with status 2 for it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Main runs run with the command line's arguments and a context that
// SIGINT and SIGTERM cancel, so that run can stop gracefully, and exits:
// 0 on success and for -h, 2 for a UsageError, 1 for any other failure.
// Errors are printed after the command's name.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(name, err, os.Stderr))
}

func exitCode(name string, err error, stderr io.Writer) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, name+":", err)
		return 2
	}
	fmt.Fprintln(stderr, name+":", err)
	return 1
}

// Run is the main of a service's command: it reads the flags and the
// configuration file, then runs the service until ctx ends, serving
// /metrics, /healthz and /readyz (and the service's API) on its listen
// address, and stops it gracefully.
func (cmd Command[C]) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // usage goes where it belongs: stdout for -h, stderr for mistakes
	file := fs.String("config", "", "the service's YAML configuration `file` (required)")
	check := fs.Bool("check", false, "check the configuration file and exit: 0 when it is valid, 2 with every problem by file:line:column otherwise")
	reference := fs.Bool("config-reference", false, "print the configuration reference (every field, its default and meaning) and exit")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.usage(stdout, fs)
			return err
		}
		cmd.usage(stderr, fs)
		return &UsageError{err}
	}
	switch {
	case *version:
		fmt.Fprintln(stdout, cmd.Name, Version())
		return nil
	case *reference:
		fmt.Fprint(stdout, cmd.Reference)
		return nil
	case fs.NArg() > 0:
		cmd.usage(stderr, fs)
		return &UsageError{fmt.Errorf("unexpected arguments %q; the configuration comes from -config FILE", fs.Args())}
	case *file == "":
		cmd.usage(stderr, fs)
		return &UsageError{errors.New("-config FILE is required")}
	}
	cfg := cmd.Defaults()
	if err := config.Load(*file, &cfg); err != nil {
		return &UsageError{err}
	}
	if *check {
		// The policy file is part of what is checked: the service would
		// not start without it.
		if pc := cmd.Common(&cfg).Policy; pc.Enabled() {
			if _, err := policy.Load(pc.File); err != nil {
				return &UsageError{fmt.Errorf("policy.file: %w", err)}
			}
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *file)
		return nil
	}
	return cmd.serve(ctx, cfg, stderr)
}

func (cmd Command[C]) serve(ctx context.Context, cfg C, stderr io.Writer) error {
	common := cmd.Common(&cfg)
	logger, err := telemetry.NewLogger(stderr, common.Log)
	if err != nil {
		return &UsageError{err}
	}
	logger = logger.With("service", strings.TrimPrefix(cmd.Name, "mesh-"), "site", common.Site)
	for _, field := range config.InlineSecrets(&cfg) {
		logger.Warn("config: a secret is written inline; move it to a file (the field's _file form) or an environment variable (_env)", "field", field)
	}
	tp, err := telemetry.StartTracing(ctx, common.Telemetry, cmd.Name, common.Site, common.Trace.SampleRate)
	if err != nil {
		return &UsageError{err}
	}
	if tp != nil {
		telemetry.UseTracing(tp)
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				logger.Warn("telemetry: spans not exported at shutdown", "error", err)
			}
		}()
	}
	// The certificates are read before anything starts: a missing file
	// stops the service at once, naming its field.
	tlsServer, err := common.ListenerTLS(logger, cmd.tlsOptions...)
	if err != nil {
		return err
	}
	ln, err := telemetry.Listen(common.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsLn net.Listener
	if common.MetricsListen != "" {
		if metricsLn, err = telemetry.Listen(common.MetricsListen); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	metrics := telemetry.NewRegistry()
	deps := Deps{Logger: logger, Metrics: metrics}
	// The policy is read before anything starts, like the certificates,
	// and followed until the service has stopped.
	pw, err := common.PolicyWatcher(logger, metrics)
	if err != nil {
		return err
	}
	if pw != nil {
		deps.Authorizer = policy.NewAuthorizer(pw.Policy, policy.WithDenialLog(logger), policy.WithDenialMetrics(metrics))
		wctx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			_ = pw.Run(wctx)
		}()
		defer func() { stopWatching(); <-watched }()
		logger.Info("policy in force", "file", pw.Path())
	}
	svc, err := cmd.New(cfg, deps)
	if err != nil {
		return err
	}
	var authOpts []authn.Option
	if r, ok := svc.(AuthRefuser); ok {
		authOpts = append(authOpts, authn.WithRefusalBody(r.AuthRefusal))
	}
	scheme := "http"
	if tlsServer != nil {
		ln, scheme = tls.NewListener(ln, tlsServer.Config()), "https"
	}
	onListen := metrics
	if metricsLn != nil {
		onListen = nil
	}
	srv := telemetry.NewServer(onListen, logger)
	srv.AddCheck(strings.TrimPrefix(cmd.Name, "mesh-"), svc.Ready)
	if h, ok := svc.(HTTPService); ok {
		srv.Handle("/", h.Handler())
	}
	handler, closeAuth, err := common.Protect(srv.Handler(), logger, metrics, authOpts...)
	if err != nil { // a secret file or variable missing: nothing started yet
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return &UsageError{errors.Join(err, svc.Close(cctx))}
	}
	defer closeAuth()
	// The endpoints answer while the service starts: /healthz at once,
	// /readyz with what it still waits for.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 2)
	go func() { served <- telemetry.ServeHTTP(serveCtx, ln, handler, logger) }()
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", telemetry.MetricsHandler(metrics))
		go func() { served <- telemetry.ServeHTTP(serveCtx, metricsLn, mux, logger) }()
	}
	logger.Info("starting", "listen", ln.Addr().String(), "scheme", scheme, "auth", common.Auth.Enabled(), "metrics_listen", common.MetricsListen, "version", Version())

	var runErr, serveErr error
	serving := true
	if err := svc.Start(ctx); err != nil {
		runErr = fmt.Errorf("start: %w", err)
	} else {
		logger.Info("started")
		select {
		case <-ctx.Done():
		case serveErr = <-served: // the listener failed: stop the service too
			serving = false
		}
	}
	logger.Info("stopping: finishing what is in flight")
	stopServing()
	if serving {
		serveErr = <-served
	}
	if metricsLn != nil {
		serveErr = errors.Join(serveErr, <-served)
	}
	timeout := cmd.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	closeErr := svc.Close(cctx)
	if closeErr == nil && runErr == nil {
		logger.Info("stopped")
	}
	return errors.Join(runErr, serveErr, closeErr)
}

// usage writes the command's help: what it does, its flags, and where its
// configuration is documented.
func (cmd Command[C]) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s -config FILE [flags]\n\n%s\n\nFlags:\n", cmd.Name, strings.TrimSpace(cmd.Summary))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	listen := cmd.Common(new(C)).Listen
	if d := cmd.Defaults(); cmd.Common(&d).Listen != "" {
		listen = cmd.Common(&d).Listen
	}
	fmt.Fprintf(w, "\nThe configuration is one YAML file; '%s -config-reference' prints every field\n"+
		"with its default and meaning (also in %s).\n"+
		"The service serves /metrics, /healthz and /readyz on its listen address (default %s).\n",
		cmd.Name, cmd.ReferencePath, listen)
}
