package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func attrs(kvs []attribute.KeyValue) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range kvs {
		out[kv.Key] = kv.Value.String()
	}
	return out
}

// refusedURL is a loopback URL nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr + "/resolve?secret=query"
}

// TestTransport: a call made inside a traced check gets a client span that
// is the check's child, describes the upstream without the query, records
// failures by class, and passes the trace on; a call outside a trace is
// left alone.
func TestTransport(t *testing.T) {
	var (
		mu             sync.Mutex
		gotTraceparent string
	)
	traceparent := func() string {
		mu.Lock()
		defer mu.Unlock()
		return gotTraceparent
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotTraceparent = r.Header.Get("Traceparent")
		mu.Unlock()
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer up.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))

	tests := map[string]struct {
		url         string
		traced      bool
		wantStatus  string
		wantErrType string
	}{
		"ok":             {url: up.URL + "/resolve?session=secret", traced: true, wantStatus: "200"},
		"5xx":            {url: up.URL + "/fail?session=secret", traced: true, wantStatus: "502", wantErrType: "502"},
		"refused":        {url: refusedURL(t), traced: true, wantErrType: "refused"},
		"not in a trace": {url: up.URL + "/resolve", traced: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			gotTraceparent = ""
			mu.Unlock()
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			ctx := context.Background()
			var parent trace.Span
			if tc.traced {
				ctx, parent = tp.Tracer("test").Start(ctx, "check", trace.WithSpanKind(trace.SpanKindServer))
			}
			client := Client(&http.Client{}, SpanSession)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := client.Do(req)
			if err == nil {
				_ = res.Body.Close()
			}
			if req.Header.Get("Traceparent") != "" {
				t.Error("the caller's request was modified")
			}
			if parent != nil {
				parent.End()
			}
			spans := exp.GetSpans()
			if !tc.traced {
				if len(spans) != 0 || traceparent() != "" {
					t.Fatalf("untraced call: %d spans, traceparent %q; want none", len(spans), traceparent())
				}
				return
			}
			if len(spans) != 2 || spans[0].Name != SpanSession {
				t.Fatalf("want the client span then the parent, got %d spans", len(spans))
			}
			sp := spans[0]
			if sp.Parent.SpanID() != parent.SpanContext().SpanID() || sp.SpanKind != trace.SpanKindClient {
				t.Errorf("client span parent %v kind %v, want the check's span, client", sp.Parent.SpanID(), sp.SpanKind)
			}
			got := attrs(sp.Attributes)
			want := map[attribute.Key]string{
				"http.request.method": "GET", "server.address": "127.0.0.1", "url.scheme": "http",
				"http.response.status_code": tc.wantStatus, "error.type": tc.wantErrType,
			}
			if tc.wantErrType != "refused" {
				want["server.port"] = port
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if p := got["url.path"]; p != "/resolve" && p != "/fail" {
				t.Errorf("url.path = %q, want the path without the query", p)
			}
			for k, v := range got {
				if strings.Contains(v, "secret") {
					t.Errorf("%s = %q carries the query", k, v)
				}
			}
			if (tc.wantErrType != "") != (sp.Status.Code == codes.Error) || strings.Contains(sp.Status.Description, "secret") {
				t.Errorf("status %v %q, want an error exactly when the call failed, without its message", sp.Status.Code, sp.Status.Description)
			}
			if tc.wantErrType != "refused" && !strings.Contains(traceparent(), sp.SpanContext.SpanID().String()) {
				t.Errorf("upstream got traceparent %q, want the client span's", traceparent())
			}
		})
	}
}

// TestStartUpstreamWithoutTraceIsFree: outside a trace (tracing off, or a
// background refresh) an upstream span costs no allocation.
func TestStartUpstreamWithoutTraceIsFree(t *testing.T) {
	ctx := context.Background()
	fail := errors.New("boom")
	allocs := testing.AllocsPerRun(100, func() {
		_, span := StartUpstream(ctx, SpanJWKSFetch, http.MethodGet, "https://idp.example.com/jwks?x=1")
		EndUpstream(span, 0, fail)
	})
	if allocs != 0 {
		t.Errorf("%v allocations outside a trace, want 0", allocs)
	}
}

// TestStartUpstream: inside a trace the span is a client child with the
// URL's parts, and a failure is recorded by class only.
func TestStartUpstream(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "check")
	_, span := StartUpstream(ctx, SpanDiscovery, http.MethodGet, "https://idp.example.com/tenant/.well-known/openid-configuration?secret=1")
	EndUpstream(span, 0, fmt.Errorf("fetching https://idp.example.com/?secret=1: %w", context.DeadlineExceeded))
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	sp := spans[0]
	got := attrs(sp.Attributes)
	want := map[attribute.Key]string{
		"server.address": "idp.example.com", "server.port": "443", "url.scheme": "https",
		"url.path": "/tenant/.well-known/openid-configuration", "error.type": "timeout",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if sp.Parent.SpanID() != parent.SpanContext().SpanID() || sp.Status.Description != "timeout" {
		t.Errorf("parent %v status %q", sp.Parent.SpanID(), sp.Status.Description)
	}
}

func TestMethod(t *testing.T) {
	tests := map[string]struct {
		in, want     string
		wantOriginal bool
	}{
		"known":   {in: "PATCH", want: "PATCH"},
		"unknown": {in: "BREW", want: "_OTHER", wantOriginal: true},
		"empty":   {in: "", want: "_OTHER"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, original := Method(tc.in)
			if got != tc.want || original != tc.wantOriginal {
				t.Errorf("Method(%q) = %q, %v; want %q, %v", tc.in, got, original, tc.want, tc.wantOriginal)
			}
		})
	}
}

func TestErrorClass(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"nil":        {err: nil, want: ""},
		"deadline":   {err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: "timeout"},
		"os timeout": {err: fmt.Errorf("x: %w", os.ErrDeadlineExceeded), want: "timeout"},
		"canceled":   {err: context.Canceled, want: "canceled"},
		"refused":    {err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}, want: "refused"},
		"other":      {err: errors.New("token abc.def.ghi is bad"), want: "_OTHER"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ErrorClass(tc.err); got != tc.want {
				t.Errorf("ErrorClass = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRecord: a deny is not a span error, a dependency failure is; empty
// policy names are left out rather than recorded as "".
func TestRecord(t *testing.T) {
	tests := map[string]struct {
		o         Outcome
		wantError bool
		want      map[attribute.Key]string
		absent    []attribute.Key
	}{
		"deny": {
			o:      Outcome{Method: "GET", Host: "a.com", Path: "/p", Status: 401, Reason: "invalid_token", Policy: "ns/p", Rule: "r"},
			want:   map[attribute.Key]string{"authgate.decision": "deny", "authgate.reason": "invalid_token", "http.response.status_code": "401", "authgate.policy": "ns/p"},
			absent: []attribute.Key{"authgate.authenticator", "error.type"},
		},
		"dependency failure": {
			o:         Outcome{Method: "GET", Host: "a.com", Path: "/p", Status: 503, Reason: "dependency_error", Authenticator: "web"},
			wantError: true,
			want:      map[attribute.Key]string{"error.type": "dependency_error", "authgate.authenticator": "web"},
			absent:    []attribute.Key{"authgate.policy", "authgate.rule"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			_, span := tp.Tracer("test").Start(context.Background(), "check")
			Record(span, tc.o)
			span.End()
			sp := exp.GetSpans()[0]
			got := attrs(sp.Attributes)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is set, want it absent", k)
				}
			}
			if (sp.Status.Code == codes.Error) != tc.wantError {
				t.Errorf("status %v, want error %v", sp.Status.Code, tc.wantError)
			}
		})
	}
}
