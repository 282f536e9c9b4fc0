package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/meshwork/meshwork/internal/config"
)

// OTLPConfig is where a service sends its OpenTelemetry spans: the
// `telemetry.otlp` block. With no endpoint here nor in the standard
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
// variables, the service emits no spans.
type OTLPConfig struct {
	// Endpoint is the URL of an OTLP/HTTP receiver, like
	// http://127.0.0.1:4318 (spans go to its /v1/traces). The standard
	// OTEL_EXPORTER_OTLP_* variables (headers, timeout, certificates)
	// apply too; this field, when set, wins over their endpoint.
	Endpoint string `yaml:"endpoint"`
}

// TelemetryConfig is the `telemetry` block of a service.
type TelemetryConfig struct {
	// OTLP is where spans go.
	OTLP OTLPConfig `yaml:"otlp"`
}

// Validate checks c; field paths are relative to the block.
func (c TelemetryConfig) Validate() error {
	if c.OTLP.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(c.OTLP.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config.Errorf("otlp.endpoint", "want the URL of an OTLP/HTTP receiver, like http://127.0.0.1:4318, got %q", c.OTLP.Endpoint)
	}
	return nil
}

// TracingConfigured reports whether c, or the environment, names an OTLP
// endpoint.
func (c TelemetryConfig) TracingConfigured() bool {
	return c.OTLP.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// StartTracing builds the tracer provider of service at site, exporting by
// OTLP/HTTP in batches, and sampling with sampleRate as the mesh's hops
// do (the same events: a span's trace id decides, see trace.Sampled), or
// following the parent's decision. It returns nil when tracing is not
// configured. The caller shuts the provider down, which flushes it.
func StartTracing(ctx context.Context, c TelemetryConfig, service, site string, sampleRate float64) (*sdktrace.TracerProvider, error) {
	if !c.TracingConfigured() {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if c.OTLP.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimRight(c.OTLP.Endpoint, "/")+"/v1/traces"))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	return NewTracerProvider(sdktrace.NewBatchSpanProcessor(exp), service, site, sampleRate), nil
}

// NewTracerProvider is a tracer provider of service at site that hands
// its spans to sp (tests give an in-memory one).
func NewTracerProvider(sp sdktrace.SpanProcessor, service, site string, sampleRate float64) *sdktrace.TracerProvider {
	res := resource.NewSchemaless(attribute.String("service.name", service), attribute.String("meshwork.site", site))
	return sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sampleRate))),
	)
}

// UseTracing makes tp the process's tracer provider, and W3C trace
// context its propagator: the mesh's components (the adapter core, the
// Kafka clients' kotel hooks) find it there, as OpenTelemetry intends
// for instrumentation. A service's command calls it once, at start.
func UseTracing(tp *sdktrace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
}

// Tracing returns the process's tracer provider when one was set with
// UseTracing, so that a component adds spans (and their cost) only when
// they go somewhere.
func Tracing() (oteltrace.TracerProvider, bool) {
	tp, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	return tp, ok
}
