package server

import (
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/observability/tracing"
)

// tracer is authgate's tracer on tp, or nil when tracing is off: the
// adapters test for nil and skip reading headers and starting spans.
func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracing.ScopeName)
}

// upstreamClients are the HTTP clients of the session and introspection
// providers. Without tracing both are c as given (nil: the providers'
// default). With tracing each records a client span per call under its own
// name, over c's transport, so a deny-list or custom transport still applies
// beneath it. JWKS and discovery are not wrapped here: jwx fetches key sets
// on its own goroutines without the request's context, so package jwt
// starts those spans itself.
func upstreamClients(c *http.Client, traced bool) (sessions, introspection *http.Client) {
	if !traced {
		return c, c
	}
	if c == nil {
		c = remote.NoRedirectClient()
	}
	return tracing.Client(c, tracing.SpanSession), tracing.Client(c, tracing.SpanIntrospection)
}
