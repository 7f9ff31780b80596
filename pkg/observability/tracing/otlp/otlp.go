// Package otlp builds the OpenTelemetry export pipeline behind
// `authgate serve --otlp-endpoint`: an OTLP/gRPC exporter, a batching span
// processor, a parent-based sampler and a resource naming the service.
package otlp

import (
	"context"
	"fmt"
	"net"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ServiceName is the service.name in the resource, unless OTEL_SERVICE_NAME
// or OTEL_RESOURCE_ATTRIBUTES says otherwise.
const ServiceName = "authgate"

// Config configures the export pipeline.
type Config struct {
	// Endpoint is the OTLP/gRPC collector, host:port.
	Endpoint string
	// Insecure sends spans without TLS (a collector sidecar or in-cluster
	// service on a trusted network).
	Insecure bool
	// SampleRatio is the share of traces authgate starts itself (requests
	// that arrive without a traceparent) that are recorded. A request with a
	// traceparent follows its caller's sampling decision.
	SampleRatio float64
	// ServiceVersion is the service.version in the resource.
	ServiceVersion string
}

// New builds the tracer provider that exports to cfg.Endpoint. Spans are
// batched and sent in the background; a full queue drops spans rather than
// blocking a check, and an unreachable collector only costs the export
// errors, which the SDK hands to the process's OpenTelemetry error handler.
// The caller must Shutdown the provider to flush what is queued.
func New(ctx context.Context, cfg Config) (*sdktrace.TracerProvider, error) {
	if _, _, err := net.SplitHostPort(cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("OTLP endpoint %q must be host:port: %w", cfg.Endpoint, err)
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("trace sample ratio %v must be between 0 and 1", cfg.SampleRatio)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	// The gRPC connection is made lazily: a collector that is down at start
	// does not stop authgate from serving.
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create the OTLP trace exporter for %s: %w", cfg.Endpoint, err)
	}
	res, err := Resource(ctx, cfg.ServiceVersion)
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(Sampler(cfg.SampleRatio)),
	), nil
}

// Sampler follows the caller: a sampled traceparent is recorded, an
// unsampled one is not, and only traces authgate starts itself are sampled
// at ratio. This is the parentbased_traceidratio sampler an OpenTelemetry
// SDK reads from OTEL_TRACES_SAMPLER, so authgate's spans are never missing
// from a trace the proxy decided to keep.
func Sampler(ratio float64) sdktrace.Sampler {
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
}

// Resource names the service. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// (e.g. k8s.pod.name from the downward API) are applied last, so operators
// can add to or override it. A malformed OTEL_RESOURCE_ATTRIBUTES is an
// error: traces that silently lack the pod name are worse than a failed
// start that says why.
func Resource(ctx context.Context, version string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("failed to build the trace resource: %w", err)
	}
	return res, nil
}
