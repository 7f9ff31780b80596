// Package tracing is authgate's OpenTelemetry instrumentation: the span
// helpers the adapters use to continue the caller's W3C trace from the
// checked request's headers, and the client spans of upstream calls (JWKS,
// OIDC discovery, session resolvers, introspection). It depends on the
// OpenTelemetry API only; the export pipeline is in package otlp, so the hot
// path does not link the SDK.
//
// Tracing is off unless an endpoint is configured. The adapters then hold a
// nil tracer and pay one comparison per request: no header is read, no span
// started, nothing allocated. Spans never carry a credential: no header
// values, no query strings and no error messages (which may echo input), only
// the checked request's method, host and path, the policy's own names and the
// closed set of reasons.
package tracing

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/authgate/authgate/pkg/request"
)

// ScopeName is the instrumentation scope of every span authgate records.
const ScopeName = "github.com/authgate/authgate"

// authgate's own attributes, next to the OpenTelemetry semantic conventions.
const (
	// KeyDecision is "allow" or "deny".
	KeyDecision = attribute.Key("authgate.decision")
	// KeyReason is the decision's reason, from a closed set.
	KeyReason = attribute.Key("authgate.reason")
	// KeyPolicy is the deciding policy, namespace/name.
	KeyPolicy = attribute.Key("authgate.policy")
	// KeyRule is the matched rule's name.
	KeyRule = attribute.Key("authgate.rule")
	// KeyAuthenticator is the name of the authenticator that decided.
	KeyAuthenticator = attribute.Key("authgate.authenticator")
)

// RPC attributes of the ext_authz span. They are the names tracing backends
// and otelgrpc know; semantic conventions 1.39 renamed rpc.system to
// rpc.system.name, so both are set.
var (
	rpcSystem     = attribute.Key("rpc.system").String("grpc")
	rpcSystemName = semconv.RPCSystemNameGRPC
	rpcService    = attribute.Key("rpc.service")
	rpcMethod     = semconv.RPCMethodKey
)

// StartCheck starts the server span of one check, continuing the trace in
// carrier: the checked request's headers (traceparent and tracestate), not
// the transport's own metadata, because the proxy's trace is the one the
// request belongs to.
func StartCheck(ctx context.Context, t trace.Tracer, carrier propagation.TextMapCarrier, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx = propagation.TraceContext{}.Extract(ctx, carrier)
	return t.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// GRPCCheck are the attributes of an ext_authz Check span.
func GRPCCheck(service, method string) []attribute.KeyValue {
	return []attribute.KeyValue{rpcSystem, rpcSystemName, rpcService.String(service), rpcMethod.String(method)}
}

// Outcome is what a check span records about the checked request and the
// answer. Path is without the query, which may carry a token.
type Outcome struct {
	Method, Scheme, Host, Path string

	Allow                               bool
	Status                              int
	Reason, Policy, Rule, Authenticator string
}

// Record puts o on the span. A dependency failure or internal error (5xx) is
// the span's error; a deny is not, it is authgate doing its job.
func Record(span trace.Span, o Outcome) {
	method, original := Method(o.Method)
	verdict := "deny"
	if o.Allow {
		verdict = "allow"
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(method),
		semconv.ServerAddress(o.Host),
		semconv.URLPath(o.Path),
		semconv.HTTPResponseStatusCode(o.Status),
		KeyDecision.String(verdict),
		KeyReason.String(o.Reason),
	)
	if original {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(o.Method))
	}
	if o.Scheme != "" {
		attrs = append(attrs, semconv.URLScheme(o.Scheme))
	}
	for _, kv := range []attribute.KeyValue{KeyPolicy.String(o.Policy), KeyRule.String(o.Rule), KeyAuthenticator.String(o.Authenticator)} {
		if kv.Value.AsString() != "" {
			attrs = append(attrs, kv)
		}
	}
	span.SetAttributes(attrs...)
	if o.Status >= 500 {
		span.SetAttributes(semconv.ErrorTypeKey.String(o.Reason))
		span.SetStatus(codes.Error, o.Reason)
	}
}

// Method is m if it is a method semantic conventions name (the standard
// ones and QUERY), else "_OTHER" with original true (http.request.
// method_original then keeps m), so a client cannot make span names
// unbounded.
func Method(m string) (method string, original bool) {
	if request.MethodIndex(m) >= 0 || m == "QUERY" {
		return m, false
	}
	return "_OTHER", m != ""
}

// ErrorClass names an error for error.type and the span status without its
// message, which may carry a URL with a query or echo upstream input.
func ErrorClass(err error) string {
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "refused"
	}
	return "_OTHER"
}

// statusClass is error.type for an HTTP answer a client span counts as
// failed (4xx and 5xx, as semantic conventions say for client spans).
func statusClass(status int) string {
	if status < 400 {
		return ""
	}
	return strconv.Itoa(status)
}
