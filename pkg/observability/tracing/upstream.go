package tracing

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Names of the upstream spans.
const (
	SpanJWKSFetch     = "jwks fetch"
	SpanDiscovery     = "oidc discovery"
	SpanSession       = "session resolve"
	SpanIntrospection = "token introspection"
)

// StartUpstream starts a client span for a call to rawURL, as a child of the
// span in ctx and on that span's tracer provider. Without a span in ctx
// (tracing off, or a background refresh no request waits for) it returns
// ctx and a no-op span without allocating, so callers need no tracer of
// their own and pay nothing when tracing is off.
func StartUpstream(ctx context.Context, name, method, rawURL string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	attrs := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(method)}
	if u, err := url.Parse(rawURL); err == nil {
		attrs = append(attrs, urlAttributes(u)...)
	}
	return parent.TracerProvider().Tracer(ScopeName).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// EndUpstream records how the call ended (status 0 when no HTTP status is
// known) and ends the span.
func EndUpstream(span trace.Span, status int, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	class := ErrorClass(err)
	if class == "" {
		class = statusClass(status)
	}
	if class != "" {
		span.SetAttributes(semconv.ErrorTypeKey.String(class))
		span.SetStatus(codes.Error, class)
	}
	span.End()
}

// urlAttributes describe u without its query, fragment or user info.
func urlAttributes(u *url.URL) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.ServerAddress(u.Hostname()),
		semconv.URLScheme(u.Scheme),
		semconv.URLPath(u.EscapedPath()),
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// Transport records a client span for each request sent through Base when
// the request's context carries a span (a check being traced), and passes
// the trace on in traceparent so a resolver that traces continues it.
type Transport struct {
	Base http.RoundTripper // default http.DefaultTransport
	Name string            // the span name, e.g. SpanSession
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	parent := trace.SpanFromContext(req.Context())
	if !parent.SpanContext().IsValid() {
		return base.RoundTrip(req)
	}
	ctx, span := parent.TracerProvider().Tracer(ScopeName).Start(req.Context(), t.Name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(urlAttributes(req.URL), semconv.HTTPRequestMethodKey.String(req.Method))...))
	// A RoundTripper must not modify the caller's request: inject into a
	// copy.
	out := req.Clone(ctx)
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(out.Header))
	res, err := base.RoundTrip(out)
	status := 0
	if res != nil {
		status = res.StatusCode
	}
	EndUpstream(span, status, err)
	return res, err
}

// Client returns a copy of c (nil: a zero client) whose requests are traced
// by a Transport over c's own transport, under span name.
func Client(c *http.Client, name string) *http.Client {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	out.Transport = &Transport{Base: out.Transport, Name: name}
	return out
}
