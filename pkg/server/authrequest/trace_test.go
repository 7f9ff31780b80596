package authrequest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authgate/authgate/pkg/decision/decisiontest"
	"github.com/authgate/authgate/pkg/request"
)

// anonymousEngine and traceparent come from decisiontest, shared with the
// other transport's tests.
var anonymousEngine = decisiontest.AnonymousEngine

const traceparent = decisiontest.Traceparent

// nopWriter discards the answer without allocating, so allocation counts
// are the handler's own.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

func nginxRequest(target string) *http.Request {
	hr := httptest.NewRequest(http.MethodGet, target, nil)
	hr.Header.Set("X-Original-URL", "https://shop.example.com/x?token=secret")
	hr.Header.Set("X-Original-Method", "POST")
	hr.Header.Set("Traceparent", traceparent)
	return hr
}

// TestUntracedServeAllocs: with tracing off (no Tracer), ServeHTTP
// allocates exactly what deciding and answering allocate, even when the
// request carries a traceparent: no header is read, no span started.
func TestUntracedServeAllocs(t *testing.T) {
	h := &Handler{Engine: anonymousEngine(t)}
	hr := nginxRequest("/auth")
	w := nopWriter{h: http.Header{}}
	r := new(request.Request)
	if d, _ := h.decide(hr.Context(), hr, r); !d.Allow {
		t.Fatalf("want an allow for %+v, got %+v", r, d)
	}
	decisiontest.NoExtraAllocs(t, "ServeHTTP without a tracer", func() {
		r := newRequest()
		d, envoy := h.decide(hr.Context(), hr, r)
		write(w, d, envoy)
		release(r)
	}, func() { h.ServeHTTP(w, hr) })
}

// TestServeSpan: the span of an auth request describes the checked request
// (not the subrequest) and names authgate's endpoint, never the path.
func TestServeSpan(t *testing.T) {
	tests := map[string]struct {
		hr       *http.Request
		wantName string
		want     map[attribute.Key]string
	}{
		"ingress-nginx": {
			hr:       nginxRequest("/auth"),
			wantName: "POST /auth",
			want: map[attribute.Key]string{
				"http.route": "/auth", "http.request.method": "POST", "url.path": "/x", "url.scheme": "https",
				"server.address": "shop.example.com", "http.response.status_code": "200",
				"authgate.decision": "allow", "authgate.reason": "anonymous", "authgate.policy": "shop/shop", "authgate.rule": "public",
			},
		},
		"envoy HTTP with a path below the prefix": {
			hr: func() *http.Request {
				hr := httptest.NewRequest(http.MethodGet, "http://shop.example.com/envoy/orders/42?token=secret", nil)
				hr.Header.Set("Traceparent", traceparent)
				return hr
			}(),
			wantName: "GET /envoy",
			want:     map[attribute.Key]string{"http.route": "/envoy", "url.path": "/orders/42", "authgate.decision": "allow"},
		},
		"unknown endpoint": {
			hr:       httptest.NewRequest(http.MethodGet, "/other/secret-path", nil),
			wantName: "HTTP /",
			want:     map[attribute.Key]string{"http.route": "/", "http.response.status_code": "400", "authgate.reason": "bad_request"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			h := &Handler{Engine: anonymousEngine(t), Tracer: tp.Tracer("test")}
			h.ServeHTTP(httptest.NewRecorder(), tc.hr)
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.Name != tc.wantName {
				t.Errorf("name %q, want %q", sp.Name, tc.wantName)
			}
			if tc.hr.Header.Get("Traceparent") != "" && sp.Parent.SpanID().String() != "00f067aa0ba902b7" {
				t.Errorf("parent %v, want the caller's span", sp.Parent.SpanID())
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
				if v == "secret" || v == "/x?token=secret" || v == "/other/secret-path" {
					t.Errorf("the query or an unknown path leaked into %s = %q", k, v)
				}
			}
		})
	}
}
