package authrequest

import (
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/authgate/authgate/pkg/observability/tracing"
	"github.com/authgate/authgate/pkg/request"
)

// serveTraced is ServeHTTP inside a server span. The parent is the trace of
// the request being checked, whose traceparent nginx, Traefik and Envoy
// forward with its other headers. The span's HTTP attributes describe that
// checked request (its method, host and path), which is what an operator
// looks for; http.route names authgate's endpoint, so span names stay few:
// "POST /auth", "GET /envoy".
func (h *Handler) serveTraced(w http.ResponseWriter, hr *http.Request, r *request.Request) {
	rt := route(hr.URL.Path)
	ctx, span := tracing.StartCheck(hr.Context(), h.Tracer, propagation.HeaderCarrier(hr.Header), "auth request", semconv.HTTPRoute(rt))
	defer span.End()
	d, envoy := h.decide(ctx, hr, r)
	method, _ := tracing.Method(r.Method)
	if method == "_OTHER" {
		method = "HTTP" // as semantic conventions name spans of unknown methods
	}
	span.SetName(method + " " + rt)
	tracing.Record(span, tracing.Outcome{
		Method: r.Method, Scheme: r.Scheme, Host: r.Host, Path: r.Path,
		Allow: d.Allow, Status: d.Status, Reason: string(d.Reason),
		Policy: d.Policy, Rule: d.Rule, Authenticator: d.Authenticator,
	})
	write(w, d, envoy)
}

// route is the endpoint a path is served by, for http.route: never the rest
// of the path, which is the checked request's and unbounded.
func route(p string) string {
	if _, ok := cutPrefixPath(p, "/auth"); ok {
		return "/auth"
	}
	if _, ok := cutPrefixPath(p, "/envoy"); ok {
		return "/envoy"
	}
	return "/"
}
