package observability

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// decisionsDesc describes authgate_decisions_total.
var decisionsDesc = prometheus.NewDesc("authgate_decisions_total",
	"Decisions made, by transport, verdict, reason and policy (namespace and name; empty when no policy claimed the host).",
	[]string{"transport", "decision", "reason", "policy_namespace", "policy"}, nil)

// decisionCounts holds authgate_decisions_total: one counter per label
// combination, thousands with thousands of policies. It is not a
// CounterVec: a CounterVec child keeps its label pairs ready for a scrape
// (five protobuf pairs and the value strings, ~860 bytes a series, 8.6 MB
// at 10,000 policies); here a series costs its key and one counter, and the
// label pairs are made at scrape time only (decisionCollector).
//
// Counting on the hot path is a map lookup with no allocation. Readers use
// the read-only map; a miss goes to pending under mu, and read and pending
// are merged into a new read-only map once the misses since the last merge
// reach read's size (as sync.Map does, but typed: a sync.Map would box the
// key, an allocation per lookup). Merging on every miss would cost O(n)
// per new label set: with 10,000 policies, a quadratic warm-up. pending
// holds only what read lacks, so the series are not indexed twice.
type decisionCounts struct {
	read    atomic.Pointer[map[decisionKey]*DecisionSeries]
	mu      sync.Mutex
	pending map[decisionKey]*DecisionSeries // what read lacks, under mu
	misses  int
}

// decisionKey is one label combination of authgate_decisions_total.
type decisionKey struct {
	transport, reason, policy string
	allow                     bool
}

// DecisionSeries is one label combination of authgate_decisions_total:
// its counter, with the duration histogram child of its transport resolved
// once. A caller that decides for one policy again and again may keep the
// series and count on it directly. Get one from Series only: a zero
// DecisionSeries has no histogram to observe into.
type DecisionSeries struct {
	count    atomic.Uint64
	created  time.Time // exported as the counter's created timestamp, as a CounterVec child's
	duration prometheus.Observer
}

// ObserveDecision counts one decision. policy is "namespace/name" (or a
// bare name in standalone mode, or "" when no policy claimed the host). It
// does not allocate once a label combination has been seen: it runs on
// every request.
func (m *Metrics) ObserveDecision(transport string, allow bool, reason, policy string, took time.Duration) {
	m.Series(transport, allow, reason, policy).Observe(took)
}

// Series returns the series of one label combination, made the first time
// it is asked for. Finding it is a lookup in a map of every combination
// seen, whose key holds three strings: with thousands of policies, its
// slots, the policy name and the series are each a likely cache miss. The
// decision engine therefore keeps each policy's series with the compiled
// policy it has in hand (store.Compiled.Counter), and calls this about once
// per combination per snapshot.
func (m *Metrics) Series(transport string, allow bool, reason, policy string) *DecisionSeries {
	k := decisionKey{transport: transport, reason: reason, policy: policy, allow: allow}
	if p := m.decisions.read.Load(); p != nil {
		if s := (*p)[k]; s != nil {
			return s
		}
	}
	return m.series(k)
}

// Observe counts one decision of the series that took took.
func (s *DecisionSeries) Observe(took time.Duration) {
	s.count.Add(1)
	s.duration.Observe(took.Seconds())
}

// series resolves and caches the series for a label combination the
// read-only map lacks.
func (m *Metrics) series(k decisionKey) *DecisionSeries {
	d := &m.decisions
	d.mu.Lock()
	defer d.mu.Unlock()
	var read map[decisionKey]*DecisionSeries
	if p := d.read.Load(); p != nil {
		read = *p
	}
	// A merge since the caller looked may have put k in read.
	if s, ok := read[k]; ok {
		return s
	}
	s, ok := d.pending[k]
	if !ok {
		s = &DecisionSeries{created: time.Now(), duration: m.DecisionDuration.WithLabelValues(k.transport)}
		if d.pending == nil {
			d.pending = map[decisionKey]*DecisionSeries{}
		}
		d.pending[k] = s
	}
	if d.misses++; d.misses >= len(read) {
		next := make(map[decisionKey]*DecisionSeries, len(read)+len(d.pending))
		for dk, ds := range read {
			next[dk] = ds
		}
		for dk, ds := range d.pending {
			next[dk] = ds
		}
		d.read.Store(&next)
		d.pending, d.misses = nil, 0
	}
	return s
}

// decisionCollector exports decisionCounts as authgate_decisions_total.
type decisionCollector struct{ m *Metrics }

// Describe implements prometheus.Collector.
func (c *decisionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- decisionsDesc }

// Collect implements prometheus.Collector. It takes the series under the
// lock and builds the metrics after, so a scrape never holds up a decision
// of a new label combination for longer than a copy of the pointers.
func (c *decisionCollector) Collect(ch chan<- prometheus.Metric) {
	d := &c.m.decisions
	d.mu.Lock()
	var read map[decisionKey]*DecisionSeries
	if p := d.read.Load(); p != nil {
		read = *p
	}
	keys := make([]decisionKey, 0, len(read)+len(d.pending))
	series := make([]*DecisionSeries, 0, len(read)+len(d.pending))
	for _, part := range [...]map[decisionKey]*DecisionSeries{read, d.pending} {
		for k, s := range part {
			keys = append(keys, k)
			series = append(series, s)
		}
	}
	d.mu.Unlock()
	for i, k := range keys {
		verdict := "deny"
		if k.allow {
			verdict = "allow"
		}
		ns, name, found := strings.Cut(k.policy, "/")
		if !found {
			ns, name = "", k.policy
		}
		s := series[i]
		m, err := prometheus.NewConstMetricWithCreatedTimestamp(decisionsDesc, prometheus.CounterValue,
			float64(s.count.Load()), s.created, k.transport, verdict, k.reason, ns, name)
		if err != nil {
			m = prometheus.NewInvalidMetric(decisionsDesc, err)
		}
		ch <- m
	}
}
