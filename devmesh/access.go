package devmesh

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshwork/meshwork/internal/authn"
	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/policy"
)

// The secure dev mesh's HTTP access: every service's API (registries, REST
// adapters, control plane, replicators' status, the admin server) asks
// for credentials, as service.Run has every service do, and decides what
// they may do by the mesh's policy.yaml. The users are the admin and the
// viewer of credentials.json and the mesh's own services (the control
// plane's health checks, a registry forwarding a write to the primary, an
// adapter registering a schema), each with its password file in secrets/.

// authConfig is the auth section of every service of the secure dev mesh.
func (sec *security) authConfig() authn.Config {
	names := make([]string, 0, len(sec.passwords))
	for p := range sec.passwords {
		names = append(names, p)
	}
	slices.Sort(names)
	var c authn.Config
	for _, p := range names {
		c.Users = append(c.Users, authn.User{Name: p, PasswordFile: sec.passwordFile(p)})
	}
	return c
}

// credentials are what principal sends to the mesh's HTTP surfaces.
func (sec *security) credentials(principal string) authn.Credentials {
	return authn.Credentials{Username: principal, PasswordFile: sec.passwordFile(principal)}
}

// policyConfig is the policy section of every service of the secure dev
// mesh.
func (sec *security) policyConfig() policy.Config {
	return policy.Config{File: filepath.Join(sec.dir, PolicyFile)}
}

// startPolicy reads the mesh's policy.yaml and follows it until ctx ends,
// for the services' authorizer; its reloads, and the services' denials and
// refused credentials, are counted in reg.
func (sec *security) startPolicy(ctx context.Context, logger *slog.Logger, reg prometheus.Registerer) error {
	c := sec.policyConfig()
	w, err := policy.NewWatcher(c.File, policy.WithLogger(logger), policy.WithMetrics(reg))
	if err != nil {
		return fmt.Errorf("dev mesh: %w", err)
	}
	sec.metrics = reg
	sec.authz = policy.NewAuthorizer(w.Policy, policy.WithDenialLog(logger), policy.WithDenialMetrics(reg))
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(wctx)
	}()
	sec.stopPolicy = func() { stop(); <-done }
	return nil
}

// close stops following the policy.
func (sec *security) close() {
	if sec != nil && sec.stopPolicy != nil {
		sec.stopPolicy()
		sec.stopPolicy = nil
	}
}

// authorizer is the policy's authorizer (nil in an open dev mesh, where
// every request is allowed).
func (sec *security) authorizer() *policy.Authorizer {
	if sec == nil {
		return nil
	}
	return sec.authz
}

// protect puts h, svc's API, behind the mesh's authentication, leaving
// /healthz and /readyz open, as service.Run serves every service; refusals
// have svc's error shape. h is returned as it is in an open dev mesh.
func (sec *security) protect(h http.Handler, svc any, logger *slog.Logger) (http.Handler, func(), error) {
	if sec == nil {
		return h, func() {}, nil
	}
	c := service.Common{Auth: sec.authConfig()}
	var opts []authn.Option
	if r, ok := svc.(service.AuthRefuser); ok {
		opts = append(opts, authn.WithRefusalBody(r.AuthRefusal))
	}
	return c.Protect(h, logger, sec.metrics, opts...)
}
