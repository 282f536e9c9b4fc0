// Command deploycheck validates Meshwork's deployment files without a
// cluster, a container engine or the network:
//
//	deploycheck -root deploy [-acl-gaps]
//
// It builds every Kubernetes overlay under ROOT/k8s/overlays with
// kustomize, decodes each object strictly against the Kubernetes API
// types, the Prometheus operator's types and a typed model of Strimzi's
// v1beta2 API, and checks them against Meshwork's policy; loads and checks
// each overlay again with each component of ROOT/k8s/components (https,
// policy) in a temporary overlay, as an operator would enable it; loads
// and checks ROOT/compose/compose.yaml with compose-go; and verifies the systemd units
// in ROOT/systemd with systemd-analyze (skipped, with a message saying so,
// where systemd-analyze is not installed). See package validate.
//
// Exit status: 0 when everything passes, 1 otherwise, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/meshwork/meshwork/deploy/tools/validate"
)

func main() {
	code, err := run(context.Background(), os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploycheck:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("deploycheck", flag.ContinueOnError)
	root := fs.String("root", "deploy", "the deployment files' root `directory` (with k8s/, compose/, systemd/)")
	aclGaps := fs.Bool("acl-gaps", false, "list the Kafka ACLs the security policy implies that the overlay's KafkaUsers do not grant (by default, only their number)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	failed := false
	report := func(what string, start time.Time, err error) {
		if err != nil {
			failed = true
			fmt.Fprintf(out, "FAIL %s:\n%v\n", what, err)
			return
		}
		fmt.Fprintf(out, "ok   %s (%s)\n", what, time.Since(start).Round(time.Millisecond))
	}

	overlays, err := filepath.Glob(filepath.Join(*root, "k8s", "overlays", "*", "kustomization.yaml"))
	if err != nil || len(overlays) == 0 {
		return 1, fmt.Errorf("no overlays in %s/k8s/overlays (%v)", *root, err)
	}
	dec, err := validate.NewDecoder()
	if err != nil {
		return 1, err
	}
	for _, k := range overlays {
		start := time.Now()
		dir := filepath.Dir(k)
		n, err := checkOverlay(dec, dir, dir, false, out)
		report(fmt.Sprintf("kustomize %s: %d objects decoded strictly and checked", dir, n), start, err)
	}
	components, err := filepath.Glob(filepath.Join(*root, "k8s", "components", "*", "kustomization.yaml"))
	if err != nil {
		return 1, err
	}
	for _, c := range components {
		for _, k := range overlays {
			start := time.Now()
			comp, overlay := filepath.Base(filepath.Dir(c)), filepath.Base(filepath.Dir(k))
			n, err := checkComponent(dec, filepath.Join(*root, "k8s"), comp, overlay, *aclGaps, out)
			report(fmt.Sprintf("kustomize overlay %s with component %s (and its sections in the configuration files): %d objects decoded strictly and checked", overlay, comp, n), start, err)
		}
	}

	start := time.Now()
	compose := filepath.Join(*root, "compose", "compose.yaml")
	p, err := validate.Compose(ctx, compose, nil)
	n := 0
	if p != nil {
		n = len(p.Services)
	}
	report(fmt.Sprintf("compose %s: %d services", compose, n), start, err)

	start = time.Now()
	units := filepath.Join(*root, "systemd")
	err = validate.Systemd(ctx, units)
	switch {
	case errors.Is(err, validate.ErrNoSystemdAnalyze) && len(unwrapAll(err)) == 1:
		fmt.Fprintf(out, "SKIP systemd %s: %v\n", units, err)
	default:
		report("systemd-analyze verify "+units, start, err)
	}
	if failed {
		return 1, errors.New("the deployment files have problems (above)")
	}
	return 0, nil
}

// checkOverlay builds the overlay dir (named label in messages) and checks
// its objects; with aclGaps, it lists the policy's Kafka ACLs the
// overlay's KafkaUsers do not grant, else says how many there are.
func checkOverlay(dec *validate.Decoder, dir, label string, aclGaps bool, out io.Writer) (int, error) {
	objs, err := validate.Build(dir)
	if err != nil {
		return 0, err
	}
	typed, derr := dec.DecodeAll(objs)
	_, unknown, cerr := validate.ConfigMaps(typed)
	for _, u := range unknown {
		fmt.Fprintf(out, "note %s: %s's configuration file was not checked: its configuration type is not known to this check\n", label, u)
	}
	gaps, perr := validate.PolicyUsers(typed)
	switch {
	case aclGaps:
		for _, g := range gaps {
			fmt.Fprintf(out, "note %s: %s\n", label, g)
		}
	case len(gaps) > 0:
		fmt.Fprintf(out, "note %s: %d Kafka ACLs that the security policy implies (meshctl policy kafka-acls) are narrower or absent in the overlay's KafkaUsers; -acl-gaps lists them\n", label, len(gaps))
	}
	return len(objs), errors.Join(derr, validate.Policy(typed), cerr, perr)
}

// checkComponent checks overlay with component, as an operator enables it:
// in an overlay of its own, with the component's sections in every
// service's configuration file (validate.ComponentConfig).
func checkComponent(dec *validate.Decoder, k8sRoot, component, overlay string, aclGaps bool, out io.Writer) (int, error) {
	tmp, err := os.MkdirTemp("", "deploycheck-component-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	dir, err := validate.ComponentOverlay(filepath.Join(tmp, "k8s"), k8sRoot, overlay, "../../components/"+component)
	if err != nil {
		return 0, err
	}
	return checkOverlay(dec, dir, overlay+"+"+component, aclGaps, out)
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
