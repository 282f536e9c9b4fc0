// Command meshctl manages a Meshwork mesh from the command line. Its
// interest commands declare, remove and list the topics a site wants from
// the other sites:
//
//	meshctl interest add shop.order.created -site west
//	meshctl interest add 'shop\..*' -pattern -name nightly -ttl 24h -resume earliest
//	meshctl interest list -kafka 127.0.0.1:29092
//	meshctl interest remove shop.order.created -site west
//
// meshctl knows the mesh's sites from an endpoints file (-endpoints,
// $MESHWORK_ENDPOINTS, or the dev mesh's .mesh/endpoints.json), or else
// from the cluster: the site whose replicator group it holds, and the sites
// its leases name. It refuses a site the mesh does not have, and a site
// that is not the cluster's.
//
// Exit status: 0 on success, 1 when the command failed, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/meshwork/meshwork/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one word of the command tree: a group of subcommands, or a
// command that runs.
type command struct {
	name    string
	summary string
	subs    []command
	run     func(ctx context.Context, io stdio, path string, args []string) error
}

// stdio is where a command writes.
type stdio struct{ out, err io.Writer }

// commands is the command tree; add new commands here.
func commands() []command {
	return []command{
		{name: "interest", summary: "declare, remove and list the topics a site wants from the other sites", subs: []command{
			{name: "add", summary: "declare that a site wants a topic, or the topics matching a pattern", run: interestAdd},
			{name: "remove", summary: "remove a declared interest", run: interestRemove},
			{name: "list", summary: "list the interest leases of a site's cluster", run: interestList},
		}},
	}
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct {
	msg     string
	printed bool // the flag package already told the user
}

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "version" || args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintln(stdout, "meshctl", service.Version())
		return 0
	}
	err := dispatch(ctx, stdio{stdout, stderr}, "meshctl", commands(), args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintf(stderr, "%s\n", ue.msg)
		}
		return 2
	}
	fmt.Fprintf(stderr, "meshctl: %v\n", err)
	return 1
}

// dispatch finds the command named by args[0] among cmds and runs it.
func dispatch(ctx context.Context, io stdio, path string, cmds []command, args []string) error {
	if len(args) == 0 {
		printCommands(io.err, path, cmds)
		return &usageError{msg: path + ": no command given", printed: false}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printCommands(io.out, path, cmds)
		return nil
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		if c.run != nil {
			return c.run(ctx, io, path+" "+c.name, args[1:])
		}
		return dispatch(ctx, io, path+" "+c.name, c.subs, args[1:])
	}
	printCommands(io.err, path, cmds)
	return &usageError{msg: fmt.Sprintf("%s: unknown command %q", path, args[0])}
}

func printCommands(w io.Writer, path string, cmds []command) {
	fmt.Fprintf(w, "Usage: %s <command> [arguments]\n\nCommands:\n", path)
	var lines [][2]string
	var walk func(prefix string, cs []command)
	walk = func(prefix string, cs []command) {
		for _, c := range cs {
			if c.run != nil {
				lines = append(lines, [2]string{prefix + c.name, c.summary})
			}
			walk(prefix+c.name+" ", c.subs)
		}
	}
	walk("", cmds)
	width := 0
	for _, l := range lines {
		width = max(width, len(l[0]))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", path)
}

// newFlagSet returns the flag set of command path, whose usage shows
// synopsis (the arguments) and about.
func newFlagSet(io stdio, path, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\n%s\n\nFlags:\n", path, synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags wherever they are among the arguments, so
// "add TOPIC -pattern" works as well as "add -pattern TOPIC"; it returns the
// positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error(), printed: true}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// usagef is a usage error of the command fs parses.
func usagef(fs *flag.FlagSet, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf("%s: %s\nRun '%s -h' for usage.", fs.Name(), fmt.Sprintf(format, args...), fs.Name())}
}
