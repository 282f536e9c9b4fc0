package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoSystemdAnalyze says the systemd units could not be verified here:
// systemd-analyze is not installed (Debian: apt-get install systemd).
var ErrNoSystemdAnalyze = errors.New("systemd-analyze is not installed (Debian package systemd): the units were not verified")

// Hardening lists the options every Meshwork unit sets, so that a service
// runs with no privileges, a read-only view of the system and nothing of
// other users'.
var Hardening = []string{
	"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
	"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes", "RestrictSUIDSGID=yes",
	"LockPersonality=yes", "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet=",
}

// Systemd checks the unit files matching dir/*.service: each sets the
// Hardening options, and systemd-analyze verify accepts it. Nothing is
// installed: verify reads copies of the units whose /usr/local/bin/
// binaries are replaced by stand-ins in a temporary directory (verify
// wants an executable there). A template unit (name@.service) is verified
// as name@example.service. It returns ErrNoSystemdAnalyze, joined with any
// other problem, when systemd-analyze is missing.
func Systemd(ctx context.Context, dir string) error {
	units, err := filepath.Glob(filepath.Join(dir, "*.service"))
	if err != nil {
		return err
	}
	if len(units) == 0 {
		return fmt.Errorf("%s: no .service units", dir)
	}
	var errs []error
	tmp, err := os.MkdirTemp("", "meshwork-units-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	binDir := filepath.Join(tmp, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		return err
	}
	var copies []string
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			return err
		}
		for _, h := range Hardening {
			if !hasLine(data, h) {
				errs = append(errs, fmt.Errorf("%s: missing %s", u, h))
			}
		}
		for _, bin := range execBinaries(data) {
			if err := os.WriteFile(filepath.Join(binDir, bin), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				return err
			}
		}
		data = bytes.ReplaceAll(data, []byte("/usr/local/bin/"), []byte(binDir+"/"))
		name := filepath.Base(u)
		if strings.HasSuffix(name, "@.service") {
			name = strings.TrimSuffix(name, "@.service") + "@example.service"
			if err := os.WriteFile(filepath.Join(tmp, filepath.Base(u)), data, 0o644); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return err
		}
		copies = append(copies, filepath.Join(tmp, name))
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return errors.Join(append(errs, ErrNoSystemdAnalyze)...)
	}
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(vctx, analyze, append([]string{"verify", "--man=no"}, copies...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	// verify also reports problems of the host's own units that ours pull
	// in (none here: they want only network-online.target); any output
	// that names one of ours is a failure.
	if err != nil || bytes.Contains(out, []byte(tmp)) {
		errs = append(errs, fmt.Errorf("systemd-analyze verify: %v\n%s", err, strings.ReplaceAll(string(out), tmp+"/", dir+"/")))
	}
	return errors.Join(errs...)
}

func hasLine(data []byte, line string) bool {
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// execBinaries returns the names of the /usr/local/bin/ programs the
// unit's Exec lines run.
func execBinaries(unit []byte) []string {
	var out []string
	for _, l := range strings.Split(string(unit), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok || !strings.HasPrefix(k, "Exec") {
			continue
		}
		v = strings.TrimLeft(v, "-@+!:")
		if f := strings.Fields(v); len(f) > 0 && strings.HasPrefix(f[0], "/usr/local/bin/") {
			out = append(out, strings.TrimPrefix(f[0], "/usr/local/bin/"))
		}
	}
	return out
}
