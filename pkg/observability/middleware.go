package observability

import (
	"net/http"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// GRPCServerMetrics returns go-grpc-middleware's server metrics
// (grpc_server_started_total, grpc_server_handled_total{grpc_code},
// grpc_server_handling_seconds, ...) registered on the metrics' registry.
// The handling-time histogram uses the decision buckets, so it resolves
// cache hits as well as IdP round trips. Chain its UnaryServerInterceptor
// outside the recover interceptor: a recovered panic is then counted with the
// code the caller really received.
func (m *Metrics) GRPCServerMetrics() *grpcprom.ServerMetrics {
	sm := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(decisionBuckets),
	))
	m.reg.MustRegister(sm)
	return sm
}

// InstrumentHTTP wraps the HTTP auth endpoint in promhttp's middleware:
// requests by code and method, latency by method, and requests in flight.
// Wrap the handler that recovers panics, so that a recovered panic is counted
// as the 503 it answered. promhttp folds unknown methods into "unknown", so
// the method label stays bounded whatever clients send.
func (m *Metrics) InstrumentHTTP(next http.Handler) http.Handler {
	return promhttp.InstrumentHandlerInFlight(m.HTTPInFlight,
		promhttp.InstrumentHandlerCounter(m.HTTPRequests,
			promhttp.InstrumentHandlerDuration(m.HTTPDuration, next)))
}
