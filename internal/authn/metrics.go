package authn

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// newFailures registers meshwork_auth_failures_total on reg, or returns
// the one already there (several surfaces of a process may share a
// registry).
func newFailures(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshwork_auth_failures_total",
		Help: "Requests refused because their credentials were missing or wrong, by reason.",
	}, []string{"reason"})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err) // a programming error: another metric of the same name
	}
	return c
}
