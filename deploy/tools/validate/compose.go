package validate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Compose loads the compose file as docker compose would (interpolation
// from env alone, no .env file, the compose-spec schema enforced, paths
// resolved and checked for consistency) and checks every service:
// an image pinned by tag or digest; and for Meshwork's own services (whose
// image is one of meshwork/...), the hardening the images allow: a
// read-only root file system, a non-root numeric user, all capabilities
// dropped, no-new-privileges.
func Compose(ctx context.Context, file string, env []string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithEnv(env),
		cli.WithDiscardEnvFile,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{"*"}), // every service, opt-in ones too
	)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var errs []error
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		id := fmt.Sprintf("%s: service %s", file, name)
		if err := PinnedImage(s.Image); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		if !strings.Contains(s.Image, "meshwork/") {
			continue
		}
		errs = append(errs, composeServiceConfig(id, s))
		if !s.ReadOnly {
			errs = append(errs, fmt.Errorf("%s: read_only must be true", id))
		}
		uid, _, _ := strings.Cut(s.User, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("%s: user %q: want a non-root numeric UID", id, s.User))
		}
		if !slices.ContainsFunc(s.CapDrop, func(c string) bool { return strings.EqualFold(c, "ALL") }) || len(s.CapAdd) > 0 {
			errs = append(errs, fmt.Errorf("%s: cap_drop must hold ALL, and cap_add nothing", id))
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") && !slices.Contains(s.SecurityOpt, "no-new-privileges") {
			errs = append(errs, fmt.Errorf("%s: security_opt must hold no-new-privileges:true", id))
		}
	}
	return p, errors.Join(errs...)
}

// composeServiceConfig checks the configuration file a Meshwork service of
// the compose file mounts at the image's /etc/meshwork/config.yaml, as the
// service (named by its image) would load it.
func composeServiceConfig(id string, s types.ServiceConfig) error {
	svc := s.Image[strings.LastIndex(s.Image, "/")+1:]
	svc, _, _ = strings.Cut(svc, ":")
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind || v.Target != "/etc/meshwork/config.yaml" {
			continue
		}
		data, err := os.ReadFile(v.Source)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		mounts := map[string]string{}
		for _, w := range s.Volumes {
			if w.Type == types.VolumeTypeBind && w.Target != v.Target {
				mounts[w.Target] = w.Source
			}
		}
		if _, err := ServiceConfig(svc, v.Source, data, nil, mounts); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("%s: no configuration file bound at /etc/meshwork/config.yaml", id)
}
