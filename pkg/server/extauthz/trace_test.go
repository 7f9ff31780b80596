package extauthz

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authgate/authgate/pkg/decision/decisiontest"
)

// anonymousEngine and traceparent come from decisiontest, shared with the
// other transport's tests.
var anonymousEngine = decisiontest.AnonymousEngine

const traceparent = decisiontest.Traceparent

// TestUntracedCheckAllocs: with tracing off (no Tracer), Check allocates
// exactly what deciding and answering allocate, even when the checked
// request carries a traceparent: no header is read, no span started.
func TestUntracedCheckAllocs(t *testing.T) {
	s := &Server{Engine: anonymousEngine(t)}
	req := checkRequest("shop.example.com", "/x", "GET", map[string]string{"traceparent": traceparent, "x-request-id": "r1"}, nil)
	ctx := context.Background()
	if res, _ := s.Check(ctx, req); res.GetOkResponse() == nil {
		t.Fatalf("want an allow, got %v", res)
	}
	decisiontest.NoExtraAllocs(t, "Check without a tracer", func() {
		r, _ := Request(req)
		_ = Response(s.Engine.Check(ctx, r), MetadataNone)
	}, func() { _, _ = s.Check(ctx, req) })
}

// TestCheckSpan: the span of a Check, for requests authgate can and cannot
// read, with and without the caller's trace.
func TestCheckSpan(t *testing.T) {
	tests := map[string]struct {
		req        *authv3.CheckRequest
		wantParent string
		want       map[attribute.Key]string
	}{
		"allowed, continuing the caller's trace": {
			req:        checkRequest("shop.example.com", "/x?token=secret", "GET", map[string]string{"traceparent": traceparent}, nil),
			wantParent: "00f067aa0ba902b7",
			want: map[attribute.Key]string{
				"rpc.system": "grpc", "rpc.service": "envoy.service.auth.v3.Authorization", "rpc.method": "Check",
				"url.path": "/x", "server.address": "shop.example.com", "url.scheme": "https", "http.request.method": "GET",
				"http.response.status_code": "200", "authgate.decision": "allow", "authgate.reason": "anonymous",
				"authgate.policy": "shop/shop", "authgate.rule": "public",
			},
		},
		"unreadable request, no caller trace": {
			req: checkRequest("", "/", "BREW", nil, nil),
			want: map[attribute.Key]string{
				"http.request.method": "_OTHER", "http.request.method_original": "BREW",
				"http.response.status_code": "400", "authgate.decision": "deny", "authgate.reason": "bad_request",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			s := &Server{Engine: anonymousEngine(t), Tracer: tp.Tracer("test")}
			if _, err := s.Check(context.Background(), tc.req); err != nil {
				t.Fatal(err)
			}
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.Name != "envoy.service.auth.v3.Authorization/Check" {
				t.Errorf("name %q", sp.Name)
			}
			if got := sp.Parent.SpanID(); (tc.wantParent == "" && got.IsValid()) || (tc.wantParent != "" && got.String() != tc.wantParent) {
				t.Errorf("parent %v, want %q", got, tc.wantParent)
			}
			got := map[attribute.Key]string{}
			for _, kv := range sp.Attributes {
				got[kv.Key] = kv.Value.String()
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if k == "url.query" || v == "secret" || v == "/x?token=secret" {
					t.Errorf("the query leaked into %s = %q", k, v)
				}
			}
		})
	}
}

// discard is a span processor that drops ended spans, so the benchmark
// measures recording a span, not an exporter.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

// BenchmarkCheck is the adapter's cost per Check with tracing off, on and
// sampled, and on but not sampled by the caller.
func BenchmarkCheck(b *testing.B) {
	sampled := checkRequest("shop.example.com", "/x", "GET", map[string]string{"traceparent": traceparent}, nil)
	unsampled := checkRequest("shop.example.com", "/x", "GET", map[string]string{"traceparent": traceparent[:len(traceparent)-2] + "00"}, nil)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discard{}))
	for name, bc := range map[string]struct {
		s   *Server
		req *authv3.CheckRequest
	}{
		"tracing off":                    {s: &Server{Engine: anonymousEngine(b)}, req: sampled},
		"tracing on, sampled":            {s: &Server{Engine: anonymousEngine(b), Tracer: tp.Tracer("bench")}, req: sampled},
		"tracing on, caller not sampled": {s: &Server{Engine: anonymousEngine(b), Tracer: tp.Tracer("bench")}, req: unsampled},
	} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, _ = bc.s.Check(ctx, bc.req)
			}
		})
	}
}
