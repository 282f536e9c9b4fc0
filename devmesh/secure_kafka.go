package devmesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshwork/meshwork/internal/tlsconfig"
)

// kafkaOptions secure a site's embedded Kafka: TLS with the mesh's
// certificate, SASL/SCRAM-SHA-512 for every principal (the dev mesh itself
// as the superuser that makes the ACLs), ACLs enforced.
//
// kfake keeps its users and ACLs in its data directory and, on a restart,
// prefers them to the ones it is given; the dev mesh's users and ACLs are
// made from credentials.json and the policy at each start instead (the
// services' passwords are new each time, the policy may have changed), so
// the kept ones are removed first.
func (sec *security) kafkaOptions(dataDir string, logger *slog.Logger) ([]kfake.Opt, error) {
	for _, f := range []string{"sasl.json", "acls.json"} {
		if err := os.Remove(filepath.Join(dataDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	srv, err := tlsconfig.NewServer(sec.serverTLS(), "tls", tlsconfig.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	opts := []kfake.Opt{
		kfake.TLS(srv.Config()),
		kfake.EnableSASL(),
		kfake.EnableACLs(),
		kfake.Superuser(SASLMechanism, principalDevMesh, sec.passwords[principalDevMesh]),
	}
	for p, pw := range sec.passwords {
		if p != principalDevMesh {
			opts = append(opts, kfake.User(SASLMechanism, p, pw))
		}
	}
	return opts, nil
}

// createACLs gives every principal but the dev mesh's own the ACLs the
// policy implies (devPolicy.kafkaACLs), as the superuser.
func (s *site) createACLs(ctx context.Context) error {
	cl, err := s.adminClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var principals []string
	for p := range s.sec.passwords {
		if p != principalDevMesh {
			principals = append(principals, p)
		}
	}
	for _, b := range s.sec.policy.kafkaACLs(principals) {
		res, err := adm.CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = errors.Join(err, fmt.Errorf("%s %s %s: %w", r.Principal, r.Operation, r.Name, r.Err))
				}
			}
		}
		if err != nil {
			return fmt.Errorf("dev mesh: site %s kafka ACLs: %w", s.name, err)
		}
	}
	return nil
}
