package policy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshwork/meshwork/internal/identity"
	"github.com/meshwork/meshwork/internal/kafkatest"
)

func TestAuthorizerAllowsDeniesLogsAndCounts(t *testing.T) {
	var logs kafkatest.LogBuffer
	a := StaticAuthorizer(mustParse(t, example), WithDenialLog(slog.New(slog.NewTextHandler(&logs, nil))), WithDenialMetrics(prometheus.NewRegistry()))
	clock := time.Unix(1_800_000_000, 0)
	a.limiter.now = func() time.Time { return clock }
	viewer := identity.NewContext(context.Background(), identity.Principal{Name: "viewer", Method: identity.MethodBasic})

	if err := a.Allow(viewer, ActionRead, Subject("orders-value")); err != nil {
		t.Fatalf("viewer may read: %v", err)
	}
	err := a.Allow(viewer, ActionWrite, Subject("orders-value"))
	var de *DeniedError
	if !errors.As(err, &de) || de.Principal != "viewer" || de.Action != "write" || de.Resource != "subject:orders-value" {
		t.Fatalf("Allow = %v, want a DeniedError", err)
	}
	if want := "viewer may not write subject:orders-value: denied: no rule grants it (deny by default)"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if err := a.Allow(context.Background(), ActionRead, Mesh); err == nil || !strings.HasPrefix(err.Error(), "anonymous may not read mesh") {
		t.Fatalf("an anonymous request: %v", err)
	}
	for range 20 {
		_ = a.Allow(viewer, ActionWrite, Subject("orders-value"))
	}
	if n := testutil.ToFloat64(a.denials.WithLabelValues("write")); n != 21 {
		t.Fatalf("meshwork_authz_denials_total{action=write} = %v, want 21", n)
	}
	if n := strings.Count(logs.String(), "principal=viewer action=write"); n != logBurst {
		t.Fatalf("%d denials of viewer's writes logged in a minute, want %d:\n%s", n, logBurst, logs.String())
	}
	if !strings.Contains(logs.String(), `msg="authorization denied" principal=viewer action=write resource=subject:orders-value rule="" reason="denied: no rule grants it (deny by default)"`) {
		t.Fatalf("the denial's log line lacks its fields:\n%s", logs.String())
	}
	clock = clock.Add(time.Minute)
	_ = a.Allow(viewer, ActionWrite, Subject("orders-value"))
	if !strings.Contains(logs.String(), "not_logged_since=16") {
		t.Fatalf("the first line of the next minute does not count those not logged:\n%s", logs.String())
	}

	admin := identity.NewContext(context.Background(), identity.Principal{Name: "admin"})
	if err := a.Allow(admin, ActionDelete, Subject("payments-value")); err == nil || !strings.Contains(err.Error(), `denied by deny rule "no-payment-deletes" (deny[0])`) {
		t.Fatalf("deny rule: %v", err)
	}

	var none *Authorizer
	if none.Allow(viewer, ActionDelete, Subject("x")) != nil || none.Enabled() || !none.Decide(viewer, ActionDelete, "x").Allowed {
		t.Fatal("a nil Authorizer (no policy) refused")
	}
}

func TestLogLimiterIsBounded(t *testing.T) {
	l := newLogLimiter(2, time.Minute, 10)
	for i := range 1000 {
		l.allow(strings.Repeat("k", i%50) + "x")
	}
	if len(l.keys) > 11 {
		t.Fatalf("the limiter follows %d keys, want at most 10 and the shared one", len(l.keys))
	}
}
