package otlp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

func TestNewRejects(t *testing.T) {
	tests := map[string]Config{
		"no port":         {Endpoint: "collector", SampleRatio: 1},
		"a URL":           {Endpoint: "http://collector:4317/v1/traces", SampleRatio: 1},
		"ratio above one": {Endpoint: "collector:4317", SampleRatio: 1.5},
		"negative ratio":  {Endpoint: "collector:4317", SampleRatio: -0.1},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if tp, err := New(context.Background(), cfg); err == nil {
				_ = tp.Shutdown(context.Background())
				t.Fatalf("New(%+v) succeeded, want an error", cfg)
			}
		})
	}
}

// TestSampler: the caller's decision wins; only traces authgate starts are
// sampled by ratio.
func TestSampler(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := func(sampled bool) trace.SpanContext {
		flags := trace.TraceFlags(0)
		if sampled {
			flags = trace.FlagsSampled
		}
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: flags, Remote: true})
	}
	tests := map[string]struct {
		ratio  float64
		parent *trace.SpanContext
		want   bool
	}{
		"sampled caller, ratio 0":   {ratio: 0, parent: ptr(parent(true)), want: true},
		"unsampled caller, ratio 1": {ratio: 1, parent: ptr(parent(false)), want: false},
		"no caller, ratio 1":        {ratio: 1, want: true},
		"no caller, ratio 0":        {ratio: 0, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(Sampler(tc.ratio)))
			ctx := context.Background()
			if tc.parent != nil {
				ctx = trace.ContextWithRemoteSpanContext(ctx, *tc.parent)
			}
			_, span := tp.Tracer("test").Start(ctx, "check")
			defer span.End()
			if got := span.SpanContext().IsSampled(); got != tc.want {
				t.Errorf("sampled = %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestResource(t *testing.T) {
	tests := map[string]struct {
		env         map[string]string
		wantName    string
		wantVersion string
		wantPod     string
	}{
		"defaults":              {wantName: "authgate", wantVersion: "v1.2.3"},
		"operator's attributes": {env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=authgate-0"}, wantName: "authgate", wantVersion: "v1.2.3", wantPod: "authgate-0"},
		"operator's name":       {env: map[string]string{"OTEL_SERVICE_NAME": "edge-auth"}, wantName: "edge-auth", wantVersion: "v1.2.3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OTEL_SERVICE_NAME", "")
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			res, err := Resource(context.Background(), "v1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			got := map[attribute.Key]string{}
			for _, kv := range res.Attributes() {
				got[kv.Key] = kv.Value.String()
			}
			if got["service.name"] != tc.wantName || got["service.version"] != tc.wantVersion || got["k8s.pod.name"] != tc.wantPod {
				t.Errorf("resource %v, want service %q version %q pod %q", got, tc.wantName, tc.wantVersion, tc.wantPod)
			}
		})
	}
}

// collector is an OTLP/gRPC trace receiver on 127.0.0.1:0.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	attrs map[string]string // resource attributes seen
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			c.attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.names = append(c.names, sp.GetName())
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// TestExportFlushesOnShutdown: spans still queued in the batcher reach the
// collector when the provider shuts down, with the service in the resource.
func TestExportFlushesOnShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{attrs: map[string]string{}}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	tp, err := New(context.Background(), Config{Endpoint: ln.Addr().String(), Insecure: true, SampleRatio: 1, ServiceVersion: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "envoy.service.auth.v3.Authorization/Check")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.names) != 1 || col.names[0] != "envoy.service.auth.v3.Authorization/Check" {
		t.Errorf("collector got spans %v, want the one ended before shutdown", col.names)
	}
	if col.attrs["service.name"] != "authgate" || col.attrs["service.version"] != "v9" {
		t.Errorf("resource %v, want service authgate v9", col.attrs)
	}
}

// TestUnreachableCollector: a collector that is down neither fails New (the
// connection is lazy) nor blocks a span; only Shutdown reports it, within
// its deadline.
func TestUnreachableCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tp, err := New(context.Background(), Config{Endpoint: addr, Insecure: true, SampleRatio: 1})
	if err != nil {
		t.Fatalf("New with a collector that is down: %v", err)
	}
	start := time.Now()
	_, span := tp.Tracer("test").Start(context.Background(), "check")
	span.End()
	if took := time.Since(start); took > time.Second {
		t.Errorf("a span took %v with the collector down", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tp.Shutdown(ctx) // an error is expected: the span could not be sent
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v, past its deadline", took)
	}
}
