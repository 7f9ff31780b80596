package extauthz

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/propagation"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/observability/tracing"
)

// The span of a Check is named as semantic conventions name gRPC server
// spans: the full method.
var (
	checkSpanName = authv3.Authorization_Check_FullMethodName[1:]
	checkAttrs    = tracing.GRPCCheck(authv3.Authorization_ServiceDesc.ServiceName, "Check")
)

// decideTraced is decide inside a server span. The parent is the trace of the
// request Envoy is checking, read from its headers (Envoy lower-cases them,
// as TraceContext looks them up): that is the trace an operator follows from
// the proxy's access log to authgate's decision. The span ends even when the
// decision panics (RecoverInterceptor answers above it).
func (s *Server) decideTraced(ctx context.Context, f *checkFields) *decision.Decision {
	headers := propagation.MapCarrier(f.headers)
	ctx, span := tracing.StartCheck(ctx, s.Tracer, headers, checkSpanName, checkAttrs...)
	defer span.End()
	r, d := s.decide(ctx, f)
	tracing.Record(span, tracing.Outcome{
		Method: r.Method, Scheme: r.Scheme, Host: r.Host, Path: r.Path,
		Allow: d.Allow, Status: d.Status, Reason: string(d.Reason),
		Policy: d.Policy, Rule: d.Rule, Authenticator: d.Authenticator,
	})
	return d
}
