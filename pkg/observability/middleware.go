package observability

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/pkg/request"
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

// InstrumentHTTP wraps the HTTP auth endpoint in its metrics: requests by
// code and method, latency by method, and requests in flight, with the
// label values promhttp's middleware gives (method lower case, "unknown"
// for any method but the standard ones, so the label stays bounded whatever
// clients send). Wrap the handler that recovers panics, so that a recovered
// panic is counted as the 503 it answered.
//
// It is promhttp's InstrumentHandlerInFlight, Counter and Duration in one:
// those resolve the series on every request from a label map each and wrap
// the writer twice, which cost more than the decision of a cached
// credential. Here the series of each (method, code) are resolved once.
func (m *Metrics) InstrumentHTTP(next http.Handler) http.Handler {
	return &instrumented{m: m, next: next}
}

type instrumented struct {
	m     *Metrics
	next  http.Handler
	cache sync.Map // httpKey -> *httpSeries
}

type httpKey struct {
	method string // the label value
	code   int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (h *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.m.HTTPInFlight.Inc()
	defer h.m.HTTPInFlight.Dec()
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h.next.ServeHTTP(sw, r)
	s := h.series(httpKey{method: methodLabel(r.Method), code: sw.code()})
	s.duration.Observe(time.Since(start).Seconds())
	s.requests.Inc()
}

func (h *instrumented) series(k httpKey) *httpSeries {
	if s, ok := h.cache.Load(k); ok {
		return s.(*httpSeries)
	}
	s := &httpSeries{
		requests: h.m.HTTPRequests.WithLabelValues(strconv.Itoa(k.code), k.method),
		duration: h.m.HTTPDuration.WithLabelValues(k.method),
	}
	v, _ := h.cache.LoadOrStore(k, s)
	return v.(*httpSeries)
}

// methodLabels are request.Methods in lower case: promhttp's label values.
var methodLabels = func() (l [len(request.Methods)]string) {
	for i, m := range request.Methods {
		l[i] = strings.ToLower(m)
	}
	return l
}()

// methodLabel is the method label promhttp would give: a standard method in
// lower case (sent in upper or lower case), "get" for none (net/http reads
// an empty method as GET), "unknown" for any other.
func methodLabel(m string) string {
	if i := request.MethodIndex(m); i >= 0 {
		return methodLabels[i]
	}
	for _, l := range methodLabels {
		if m == l {
			return l
		}
	}
	if m == "" {
		return methodLabels[0]
	}
	return "unknown"
}

// statusWriter records the status the handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// code is the status sent: 200 if the handler wrote none (net/http sends
// 200 then).
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
