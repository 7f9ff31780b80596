// Package observability sets up authgate's logging (logr over zap) and
// metrics (Prometheus, one struct on an injected registry: nothing is
// registered globally, so tests and multiple instances stay independent).
package observability

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are authgate's Prometheus metrics. Labels come from closed sets
// (transport, decision, reason, policy names) and never from request data.
type Metrics struct {
	Decisions        *prometheus.CounterVec
	DecisionDuration *prometheus.HistogramVec
	Panics           *prometheus.CounterVec
	JWKSFetches      *prometheus.CounterVec
	Discoveries      *prometheus.CounterVec
	CacheEvents      *prometheus.CounterVec
	PolicyProblems   prometheus.Gauge
	Policies         *prometheus.GaugeVec
	SnapshotBuilds   *prometheus.CounterVec
	SnapshotBuildAt  prometheus.Gauge
	UpstreamDuration *prometheus.HistogramVec
	UpstreamErrors   *prometheus.CounterVec
	StaleAnswers     *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them, with the Go and process
// collectors, on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_decisions_total",
			Help: "Decisions made, by transport, verdict and reason.",
		}, []string{"transport", "decision", "reason", "policy"}),
		DecisionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authgate_decision_duration_seconds",
			Help: "Time to decide one request, from the adapter's receipt to its answer.",
			// 10us to ~1.3s: cache hits sit at the bottom, IdP round trips at the top.
			Buckets: prometheus.ExponentialBuckets(10e-6, 2.5, 14),
		}, []string{"transport"}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_panics_recovered_total",
			Help: "Panics recovered in request handlers (each answered with a 503 deny).",
		}, []string{"transport"}),
		JWKSFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_jwks_fetches_total",
			Help: "Forced JWKS fetches (unknown kid or no key set yet), by result.",
		}, []string{"result"}),
		Discoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_oidc_discoveries_total",
			Help: "OIDC discovery fetches, by result.",
		}, []string{"result"}),
		CacheEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_cache_events_total",
			Help: "Verified-credential cache events (hit, miss, eviction), by cache.",
		}, []string{"cache", "event"}),
		Policies: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authgate_policies_active",
			Help: "Policies in the current snapshot, by enforcement (Enforce or DryRun).",
		}, []string{"enforcement"}),
		PolicyProblems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_policies_rejected",
			Help: "Policies left out of the current snapshot (invalid or host conflict).",
		}),
		SnapshotBuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_snapshot_builds_total",
			Help: "Policy snapshots built.",
		}, []string{"result"}),
		SnapshotBuildAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_snapshot_last_build_timestamp_seconds",
			Help: "When the current policy snapshot was built (Unix time).",
		}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_upstream_request_duration_seconds",
			Help:    "Calls to session resolvers and introspection endpoints, by authenticator kind.",
			Buckets: prometheus.ExponentialBuckets(0.5e-3, 2, 14),
		}, []string{"kind"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_upstream_errors_total",
			Help: "Failed calls to session resolvers and introspection endpoints, by kind and error class (timeout, refused, status, malformed, other).",
		}, []string{"kind", "error"}),
		StaleAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_upstream_stale_answers_total",
			Help: "Answers served past their expiry because the upstream was failing (staleIfError).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.UpstreamDuration, m.UpstreamErrors, m.StaleAnswers)
	reg.MustRegister(m.Decisions, m.DecisionDuration, m.Panics, m.JWKSFetches, m.Discoveries,
		m.CacheEvents, m.Policies, m.PolicyProblems, m.SnapshotBuilds, m.SnapshotBuildAt,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveDecision counts one decision.
func (m *Metrics) ObserveDecision(transport string, allow bool, reason, policy string, took time.Duration) {
	verdict := "deny"
	if allow {
		verdict = "allow"
	}
	m.Decisions.WithLabelValues(transport, verdict, reason, policy).Inc()
	m.DecisionDuration.WithLabelValues(transport).Observe(took.Seconds())
}

// JWTObserver adapts Metrics to the jwt provider's Observer.
type JWTObserver struct{ M *Metrics }

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// JWKSFetch counts a forced JWKS fetch.
func (o JWTObserver) JWKSFetch(err error) { o.M.JWKSFetches.WithLabelValues(result(err)).Inc() }

// Discovery counts an OIDC discovery fetch.
func (o JWTObserver) Discovery(err error) { o.M.Discoveries.WithLabelValues(result(err)).Inc() }

// Hit counts a token cache hit.
func (o JWTObserver) Hit() { o.M.CacheEvents.WithLabelValues("jwt", "hit").Inc() }

// Miss counts a token cache miss.
func (o JWTObserver) Miss() { o.M.CacheEvents.WithLabelValues("jwt", "miss").Inc() }

// Evict counts a token cache eviction.
func (o JWTObserver) Evict() { o.M.CacheEvents.WithLabelValues("jwt", "evict").Inc() }

// RemoteObserver adapts Metrics to a resolver-backed authenticator kind
// ("session", "introspection").
type RemoteObserver struct {
	M    *Metrics
	Kind string
}

// Hit counts a cache hit.
func (o RemoteObserver) Hit() { o.M.CacheEvents.WithLabelValues(o.Kind, "hit").Inc() }

// Miss counts a cache miss.
func (o RemoteObserver) Miss() { o.M.CacheEvents.WithLabelValues(o.Kind, "miss").Inc() }

// Evict counts a cache eviction.
func (o RemoteObserver) Evict() { o.M.CacheEvents.WithLabelValues(o.Kind, "evict").Inc() }

// Upstream records one upstream call.
func (o RemoteObserver) Upstream(took time.Duration, errClass string) {
	o.M.UpstreamDuration.WithLabelValues(o.Kind).Observe(took.Seconds())
	if errClass != "" {
		o.M.UpstreamErrors.WithLabelValues(o.Kind, errClass).Inc()
	}
}

// Stale counts an answer served past its expiry.
func (o RemoteObserver) Stale() { o.M.StaleAnswers.WithLabelValues(o.Kind).Inc() }
