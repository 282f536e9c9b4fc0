// Command meshctl manages a Meshwork mesh from the command line: its sites
// and links, the catalog of its topics, the interest of each site, and the
// schemas of the registry.
//
//	meshctl sites
//	meshctl topics
//	meshctl describe topic shop.order.created -o yaml
//	meshctl interest add shop.order.created --site west
//	meshctl schemas check shop.order.created-value order.avsc
//
// Most commands ask the control plane's API: the server is --server, else
// $MESHCTL_SERVER, else the "controlplane" URL of .mesh/endpoints.json in
// the current directory (where `make run` runs the dev mesh). The interest
// commands also work straight against a site's Kafka where no control
// plane runs (--kafka), and the schemas commands against a registry
// (--registry).
//
// Exit status: 0 on success, 1 when the command failed (an unknown site or
// topic, a server that does not answer), 2 for a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef is a usage error of cmd (its path, e.g. "meshctl interest add").
func usagef(cmd string, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf("%s: %s\nRun '%s --help' for usage.", cmd, fmt.Sprintf(format, args...), cmd)}
}

// run runs meshctl with args and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr}
	root := a.root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ue *usageError
	var es *exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return es.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.msg)
		return 2
	case cobraUsage(err):
		fmt.Fprintf(stderr, "meshctl: %v\nRun 'meshctl --help' for usage.\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "meshctl: %v\n", err)
	return 1
}

// cobraUsage reports whether err is cobra's own complaint about the
// command line (an unknown command or a wrong number of arguments).
func cobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") ||
		strings.HasPrefix(msg, "requires ") || strings.Contains(msg, "invalid argument")
}
