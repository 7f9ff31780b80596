package decision

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/store"
)

// Engine is what adapters call: Decide on the current snapshot, with panic
// recovery, metrics and the decision log around it.
type Engine struct {
	Store   *store.Store
	Metrics *observability.Metrics // optional
	Log     logr.Logger
	Options Options
}

// Check decides r. A panic anywhere below is recovered, counted and answered
// with a 503 deny: a bug must never crash the process or allow a request.
func (e *Engine) Check(ctx context.Context, r *request.Request) (d *Decision) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			// A panic value may quote the input it choked on.
			d = Internal(observability.Redact(fmt.Sprintf("panic: %v", p), credentials(r)...))
			e.Options.explain(d, "")
			if e.Metrics != nil {
				e.Metrics.Panics.WithLabelValues(r.Transport).Inc()
			}
			e.Log.Error(nil, "recovered from panic while deciding", observability.KeyTransport, r.Transport,
				observability.KeyHost, r.Host, observability.KeyRequestID, r.RequestID, "panic", d.Detail)
		}
		e.Record(r, d, time.Since(start))
	}()
	opts := e.Options
	opts.at = start
	return Decide(ctx, r, e.Store.Load(), opts)
}

// observe counts d. A decision made under a policy counts on the series
// the compiled policy keeps for its outcome (store.Compiled.Counter): that
// is the policy the decision has just read, where the map of every
// policy's series costs a few cache misses per request with thousands of
// policies (BenchmarkDecisionSpread in test/bench). A new snapshot's
// policies find the same series again, so counts carry over.
func (e *Engine) observe(r *request.Request, d *Decision, took time.Duration) {
	c := d.compiled
	if c == nil {
		e.Metrics.ObserveDecision(r.Transport, d.Allow, string(d.Reason), d.Policy, took)
		return
	}
	key := store.CounterKey{Owner: e.Metrics, Transport: r.Transport, Reason: string(d.Reason), Allow: d.Allow}
	s := c.Counter(key, func() any {
		return e.Metrics.Series(r.Transport, d.Allow, string(d.Reason), c.Key)
	}).(*observability.DecisionSeries)
	s.Observe(took)
}

// Record counts and logs a decision. Adapters call it themselves for
// requests they reject before Check (malformed input).
func (e *Engine) Record(r *request.Request, d *Decision, took time.Duration) {
	if e.Metrics != nil {
		e.observe(r, d, took)
	}
	// Every denial is logged (the person on call asks "why was this
	// denied?", and dependency failures are operational problems); allowed
	// requests, the bulk of the traffic, only at verbosity 1.
	log := e.Log
	if d.Allow {
		log = e.Log.V(1)
	}
	if !log.Enabled() {
		return
	}
	kv := []any{
		observability.KeyTransport, r.Transport,
		observability.KeyRequestID, r.RequestID,
		observability.KeyHost, r.Host,
		observability.KeyMethod, r.Method,
		observability.KeyPath, r.Path, // never the query: it may carry a token
		observability.KeyDecision, verdict(d.Allow),
		observability.KeyStatus, d.Status,
		observability.KeyReason, string(d.Reason),
		observability.KeyPolicy, d.Policy,
		observability.KeyRule, d.Rule,
		observability.KeyAuthenticator, d.Authenticator,
		observability.KeyDetail, d.Detail,
		observability.KeyLatency, took.String(),
	}
	if d.Identity != nil && d.Allow {
		kv = append(kv, observability.KeySubject, d.Identity.Subject)
	}
	log.Info("decision", kv...)
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// BadRequest is the decision for an original request authgate cannot put in
// canonical form. It is a deny: nginx turns the 400 into a 500.
func BadRequest(detail string) *Decision {
	return &Decision{Status: http.StatusBadRequest, Reason: ReasonBadRequest, Detail: detail}
}

// BadRequest is the decision for an original request the adapter cannot put
// in canonical form, with the reason code sent or omitted as the server is
// configured; the adapter records it with Record.
func (e *Engine) BadRequest(detail string) *Decision {
	d := BadRequest(detail)
	e.Options.explain(d, "")
	return d
}

// Internal is the decision after an internal failure (a recovered panic).
func Internal(detail string) *Decision {
	return &Decision{Status: http.StatusServiceUnavailable, Reason: ReasonInternalError, Detail: detail}
}

// Body is the short, safe body of a denial: the status line and the reason
// code (unless omitted, like X-Authgate-Reason), nothing about the policy.
func (d *Decision) Body() string {
	if d.omitReason {
		return fmt.Sprintf("%d %s\n", d.Status, http.StatusText(d.Status))
	}
	return fmt.Sprintf("%d %s (%s)\n", d.Status, http.StatusText(d.Status), d.Reason)
}
