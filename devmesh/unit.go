package devmesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/meshwork/meshwork/internal/service"
	"github.com/meshwork/meshwork/internal/telemetry"
)

// closeTimeout bounds the graceful stop of one service.
const closeTimeout = 30 * time.Second

// unit is one of a site's services, running through the lifecycle every
// service shares (service.Service), as its own command would run it.
type unit struct {
	name string
	svc  service.Service
	// An HTTP service's API is served on its own listener until close.
	stopHTTP  context.CancelFunc
	served    chan error
	closeAuth func()
}

// startUnit starts svc; a service with an HTTP API (service.HTTPService)
// is served on ln, which it then owns, behind the secure dev mesh's
// authentication (sec; nil: open).
func startUnit(ctx context.Context, name string, svc service.Service, ln net.Listener, sec *security, logger *slog.Logger) (*unit, error) {
	if err := svc.Start(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		if ln != nil {
			ln.Close()
		}
		return nil, errors.Join(fmt.Errorf("%s: %w", name, err), svc.Close(cctx))
	}
	u := &unit{name: name, svc: svc, closeAuth: func() {}}
	if h, ok := svc.(service.HTTPService); ok && ln != nil {
		handler, closeAuth, err := sec.protect(h.Handler(), svc, logger)
		if err != nil {
			ln.Close()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			defer cancel()
			return nil, errors.Join(fmt.Errorf("%s: %w", name, err), svc.Close(cctx))
		}
		u.closeAuth = closeAuth
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		u.stopHTTP, u.served = stop, make(chan error, 1)
		go func() { u.served <- telemetry.ServeHTTP(sctx, ln, handler, logger) }()
	}
	return u, nil
}

// close stops serving the API, then the service.
func (u *unit) close() error {
	var errs []error
	if u.stopHTTP != nil {
		u.stopHTTP()
		errs = append(errs, <-u.served)
	}
	u.closeAuth()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := u.svc.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
	}
	return errors.Join(errs...)
}
