package observability

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// populated returns metrics on a fresh registry with one series in every
// vector, so that promlint and the name list see every family.
func populated(t *testing.T) (*prometheus.Registry, *Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.GRPCServerMetrics()
	m.RegisterCacheSize("jwt", func() int { return 3 })
	m.ObserveDecision("http", false, "no_credential", "shop/web", time.Millisecond)
	m.Panics.WithLabelValues("http")
	jwt := JWTObserver{M: m}
	jwt.JWKSFetch(nil)
	jwt.Discovery(errors.New("down"))
	jwt.Hit()
	jwt.KeySetFetched("https://idp.example.com/jwks")
	jwt.UnknownKid("refetched")
	remote := RemoteObserver{M: m, Kind: "session"}
	remote.Upstream(time.Millisecond, "timeout")
	remote.Stale()
	m.Policies.WithLabelValues("Enforce").Set(1)
	m.SetPolicyStates(1, nil)
	m.SnapshotBuilds.WithLabelValues("ok").Inc()
	m.SnapshotBuildDuration.Observe(0.001)
	m.HTTPRequests.WithLabelValues("200", "get").Inc()
	m.HTTPDuration.WithLabelValues("get").Observe(0.001)
	return reg, m
}

// TestMetricNamesPassPromlint: names, units and help texts follow the
// Prometheus conventions, so none has to be renamed later.
func TestMetricNamesPassPromlint(t *testing.T) {
	reg, _ := populated(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	authgate := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "authgate_") {
			authgate++
		}
	}
	if authgate < 20 {
		t.Fatalf("only %d authgate_* families gathered: the test no longer populates them", authgate)
	}
}

func TestObserveDecisionSplitsThePolicyKey(t *testing.T) {
	tests := map[string]struct {
		policy, wantNS, wantName string
	}{
		"namespaced":        {policy: "shop/web", wantNS: "shop", wantName: "web"},
		"standalone":        {policy: "web", wantNS: "", wantName: "web"},
		"no policy claimed": {policy: "", wantNS: "", wantName: ""},
		"name with a slash": {policy: "a/b/c", wantNS: "a", wantName: "b/c"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			m.ObserveDecision("grpc", false, "no_rule", tc.policy, time.Millisecond)
			m.ObserveDecision("grpc", false, "no_rule", tc.policy, time.Millisecond)
			if got := decisions(t, reg, "grpc", "deny", "no_rule", tc.wantNS, tc.wantName); got != 2 {
				t.Fatalf("decisions{policy_namespace=%q,policy=%q} = %v, want 2", tc.wantNS, tc.wantName, got)
			}
		})
	}
}

// TestObserveDecisionDoesNotAllocate guards the hot path: once a label
// combination has been seen, counting a decision allocates nothing.
func TestObserveDecisionDoesNotAllocate(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.ObserveDecision("grpc", true, "allowed", "shop/web", time.Microsecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveDecision("grpc", true, "allowed", "shop/web", time.Microsecond)
	}); n != 0 {
		t.Fatalf("ObserveDecision allocates %v times per call", n)
	}
}

// TestObserveDecisionManyPolicies: thousands of label combinations, each
// seen several times and from several goroutines, are each counted exactly,
// whether the cache answers from its read-only map or from the dirty one.
func TestObserveDecisionManyPolicies(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	const policies, rounds = 3000, 3
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for r := range rounds {
				for i := range policies {
					if (i+g+r)%4 == 0 {
						continue // each goroutine skips a different quarter
					}
					m.ObserveDecision("http", false, "invalid_token", "ns/p"+strconv.Itoa(i), time.Microsecond)
				}
			}
		})
	}
	// Scrapes meanwhile see each series once: a series is in the read
	// map or in pending, never both (a duplicate fails the gather).
	done := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		defer close(scraped)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := reg.Gather(); err != nil {
				scraped <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if err := <-scraped; err != nil {
		t.Fatalf("scrape during counting: %v", err)
	}
	if n, err := testutil.GatherAndCount(reg, "authgate_decisions_total"); err != nil || n != policies {
		t.Errorf("%d series (%v), want %d", n, err, policies)
	}
	for _, i := range []int{0, 1, 1499, 2999} {
		got := decisions(t, reg, "http", "deny", "invalid_token", "ns", "p"+strconv.Itoa(i))
		if got != 3*rounds { // 4 goroutines, each skipping one in four rounds-worth
			t.Errorf("policy p%d counted %v times, want %d", i, got, 3*rounds)
		}
	}
}

// decisions is the value of authgate_decisions_total with the given labels
// as a scrape of reg sees it, 0 when there is no such series.
func decisions(t *testing.T, reg prometheus.Gatherer, transport, verdict, reason, ns, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"transport": transport, "decision": verdict, "reason": reason, "policy_namespace": ns, "policy": name}
	for _, mf := range mfs {
		if mf.GetName() != "authgate_decisions_total" {
			continue
		}
		if mf.GetType() != dto.MetricType_COUNTER {
			t.Fatalf("authgate_decisions_total is a %v", mf.GetType())
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				t.Fatalf("series with labels %v", m.GetLabel())
			}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			// A CounterVec child exports when it was created; so must
			// the series that replaced it.
			if m.GetCounter().GetCreatedTimestamp() == nil {
				t.Errorf("series %v without a created timestamp", m.GetLabel())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func BenchmarkObserveDecision(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveDecision("grpc", true, "allowed", "shop/web", time.Microsecond)
		}
	})
}

func TestSetPolicyStates(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.SetPolicyStates(3, []string{"Invalid", "HostConflict", "HostConflict"})
	want := map[string]float64{PolicyReady: 3, PolicyInvalid: 1, PolicyConflict: 2}
	for state, n := range want {
		if got := testutil.ToFloat64(m.PolicyStates.WithLabelValues(state)); got != n {
			t.Errorf("authgate_policies{state=%q} = %v, want %v", state, got, n)
		}
	}
	// A later snapshot without problems must bring the counts back to zero.
	m.SetPolicyStates(4, nil)
	if got := testutil.ToFloat64(m.PolicyStates.WithLabelValues(PolicyConflict)); got != 0 {
		t.Errorf("conflicts after a clean snapshot = %v", got)
	}
}

func TestJWKSURLLabelDropsCredentials(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":     {in: "https://idp.example.com/.well-known/jwks.json", want: "https://idp.example.com/.well-known/jwks.json"},
		"query":     {in: "https://idp.example.com/jwks?api_key=s3cr3t", want: "https://idp.example.com/jwks"},
		"user info": {in: "https://user:s3cr3t@idp.example.com/jwks", want: "https://idp.example.com/jwks"},
		"fragment":  {in: "https://idp.example.com/jwks#s3cr3t", want: "https://idp.example.com/jwks"},
		"garbage":   {in: "://", want: "unparsable"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := JWKSURLLabel(tc.in); got != tc.want {
				t.Fatalf("JWKSURLLabel(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCacheSizeIsReadAtScrapeTime(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	n := 1
	m.RegisterCacheSize("session", func() int { return n })
	m.RegisterCacheSize("jwt", func() int { return 7 })
	n = 5
	want := `
# HELP authgate_cache_entries Entries held by each verified-credential cache (expired ones included until touched or evicted).
# TYPE authgate_cache_entries gauge
authgate_cache_entries{cache="jwt"} 7
authgate_cache_entries{cache="session"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authgate_cache_entries"); err != nil {
		t.Fatal(err)
	}
}
