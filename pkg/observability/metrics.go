// Package observability sets up authgate's logging (logr over zap) and
// metrics (Prometheus, one struct on an injected registry: nothing is
// registered globally, so tests and multiple instances stay independent).
package observability

import (
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are authgate's Prometheus metrics. Labels come from closed sets
// (transport, decision, reason, policy names) and never from request data.
type Metrics struct {
	// DecisionDuration is filled by ObserveDecision, as is
	// authgate_decisions_total (decisions.go).
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

	// PolicyStates counts the policies of the current snapshot by state
	// (ready, invalid, conflict); see SetPolicyStates.
	PolicyStates *prometheus.GaugeVec
	// SnapshotBuildDuration is how long compiling a snapshot took.
	SnapshotBuildDuration prometheus.Histogram
	// JWKSLastSuccess is when each JWKS URL's key set was last fetched
	// successfully (forced or background): its age is time() minus this.
	JWKSLastSuccess *prometheus.GaugeVec
	// UnknownKidRefetches counts refetches asked for by a token whose kid
	// is not in the key set, by result (refetched, rate_limited, error).
	UnknownKidRefetches *prometheus.CounterVec
	// HTTPRequests, HTTPDuration and HTTPInFlight instrument the HTTP auth
	// endpoint through promhttp's middleware (see InstrumentHTTP).
	HTTPRequests *prometheus.CounterVec
	HTTPDuration *prometheus.HistogramVec
	HTTPInFlight prometheus.Gauge

	reg prometheus.Registerer
	// decisions counts authgate_decisions_total by label combination.
	decisions decisionCounts
}

// Policy states of authgate_policies.
const (
	PolicyReady    = "ready"
	PolicyInvalid  = "invalid"
	PolicyConflict = "conflict"
)

// decisionBuckets run from 10us to ~1.5s: cache hits sit at the bottom, IdP
// round trips at the top.
var decisionBuckets = prometheus.ExponentialBuckets(10e-6, 2.5, 14)

// NewMetrics creates the metrics and registers them, with the Go and process
// collectors, on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		DecisionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_decision_duration_seconds",
			Help:    "Time to decide one request, from the adapter's receipt to its answer.",
			Buckets: decisionBuckets,
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
		PolicyStates: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authgate_policies",
			Help: "Policies of the current snapshot by state: ready (in force), invalid, or conflict (lost a host to an older policy).",
		}, []string{"state"}),
		SnapshotBuildDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "authgate_snapshot_build_duration_seconds",
			Help: "Time to compile a policy snapshot.",
			// 100us to ~6.5s: a handful of policies to many thousands.
			Buckets: prometheus.ExponentialBuckets(100e-6, 4, 9),
		}),
		JWKSLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authgate_jwks_last_success_timestamp_seconds",
			Help: "When the key set of each JWKS URL (without query) was last fetched successfully (Unix time); its age is time() minus this.",
		}, []string{"jwks_url"}),
		UnknownKidRefetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_jwks_unknown_kid_refetches_total",
			Help: "JWKS refetches asked for by a token whose kid is not in the key set, by result (refetched, rate_limited, error).",
		}, []string{"result"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_http_requests_total",
			Help: "Requests to the HTTP auth endpoint, by status code and method.",
		}, []string{"code", "method"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_http_request_duration_seconds",
			Help:    "Time to answer a request to the HTTP auth endpoint, by method.",
			Buckets: decisionBuckets,
		}, []string{"method"}),
		HTTPInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_http_requests_in_flight",
			Help: "Requests to the HTTP auth endpoint being answered.",
		}),
		reg: reg,
	}
	reg.MustRegister(m.PolicyStates, m.SnapshotBuildDuration, m.JWKSLastSuccess, m.UnknownKidRefetches,
		m.HTTPRequests, m.HTTPDuration, m.HTTPInFlight)
	reg.MustRegister(m.UpstreamDuration, m.UpstreamErrors, m.StaleAnswers)
	reg.MustRegister(&decisionCollector{m: m}, m.DecisionDuration, m.Panics, m.JWKSFetches, m.Discoveries,
		m.CacheEvents, m.Policies, m.PolicyProblems, m.SnapshotBuilds, m.SnapshotBuildAt,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetPolicyStates sets authgate_policies from a snapshot's counts: ready
// policies, and the store's problem reasons of the policies left out.
func (m *Metrics) SetPolicyStates(ready int, problemReasons []string) {
	counts := map[string]int{PolicyReady: ready, PolicyInvalid: 0, PolicyConflict: 0}
	for _, r := range problemReasons {
		counts[PolicyState(r)]++
	}
	for state, n := range counts {
		m.PolicyStates.WithLabelValues(state).Set(float64(n))
	}
}

// PolicyState maps a store.Problem reason to a state of authgate_policies.
// A host conflict is its own state (the policy is valid but lost a host to
// an older one); every other reason means the policy is invalid.
func PolicyState(problemReason string) string {
	if problemReason == "HostConflict" {
		return PolicyConflict
	}
	return PolicyInvalid
}

// RegisterCacheSize exports the size of one cache ("jwt", "session",
// "introspection") as authgate_cache_entries{cache}, read at scrape time.
func (m *Metrics) RegisterCacheSize(cache string, size func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "authgate_cache_entries",
		Help:        "Entries held by each verified-credential cache (expired ones included until touched or evicted).",
		ConstLabels: prometheus.Labels{"cache": cache},
	}, func() float64 { return float64(size()) }))
}

// JWKSURLLabel is the jwks_url label for a key set URL: scheme, host and
// path only, so that a credential put in the URL's user info or query never
// becomes a label value.
func JWKSURLLabel(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "unparsable"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
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

// KeySetFetched records a successful fetch of a JWKS URL's key set.
func (o JWTObserver) KeySetFetched(jwksURL string) {
	o.M.JWKSLastSuccess.WithLabelValues(JWKSURLLabel(jwksURL)).SetToCurrentTime()
}

// UnknownKid counts a refetch asked for by an unknown kid.
func (o JWTObserver) UnknownKid(result string) {
	o.M.UnknownKidRefetches.WithLabelValues(result).Inc()
}

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
