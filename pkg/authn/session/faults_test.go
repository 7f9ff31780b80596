package session_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/test/resolver"
)

func fault(f resolver.Fault) func(*resolver.Authgear) {
	return func(ag *resolver.Authgear) { ag.SetFault(f) }
}

// faultServer is what the fault tests need of a resolver double.
type faultServer interface {
	SetFault(resolver.Fault)
	SetDelay(time.Duration)
	Restore() error
}

// TestFaults: whatever goes wrong at the resolver is a 503, never a 401 and
// never an identity, and the next request after recovery succeeds without a
// restart.
func TestFaults(t *testing.T) {
	contracts := map[string]func(t *testing.T) (faultServer, policy.Session, []string){
		"authgear": func(t *testing.T) (faultServer, policy.Session, []string) {
			ag := newAuthgear(t)
			return ag, authgearPolicy(ag), []string{"cookie", "session=c-alice"}
		},
		"json": func(t *testing.T) (faultServer, policy.Session, []string) {
			kr := resolver.NewJSON(resolver.JSONConfig{})
			t.Cleanup(kr.Close)
			kr.AddSession("c-kim", resolver.JSONSession{IdentityID: "kim"})
			return kr, jsonPolicy(kr.WhoamiURL(), kr.CookieName()), []string{"cookie", kr.CookieName() + "=c-kim"}
		},
	}
	faults := map[string]struct {
		fault     resolver.Fault
		wantClass string
	}{
		"500":                    {fault: resolver.Status500, wantClass: "status"},
		"slow beyond timeout":    {fault: resolver.Slow, wantClass: "timeout"},
		"connection refused":     {fault: resolver.Refuse, wantClass: "refused"},
		"connection reset":       {fault: resolver.Reset, wantClass: "other"},
		"garbage headers / body": {fault: resolver.Garbage, wantClass: "malformed"},
	}
	for contract, start := range contracts {
		for name, tc := range faults {
			t.Run(contract+"/"+name, func(t *testing.T) {
				srv, cfg, headers := start(t)
				cfg.Timeout = 200 * time.Millisecond
				a := newHarness(t).authenticator(t, cfg)
				r := req(headers...)

				srv.SetFault(tc.fault)
				id, err := a.Authenticate(t.Context(), r)
				wantOutcome(t, id, err, failed)
				if got := remote.Classify(err); got != tc.wantClass {
					t.Errorf("error class = %q, want %q (%v)", got, tc.wantClass, err)
				}
				if err := srv.Restore(); err != nil {
					t.Fatal(err)
				}
				id, err = a.Authenticate(t.Context(), r)
				wantOutcome(t, id, err, accepted)
			})
		}
	}
}

// TestSlowWithinTimeout: a resolver that is slow but answers in time is
// not a failure.
func TestSlowWithinTimeout(t *testing.T) {
	ag := newAuthgear(t)
	ag.SetDelay(20 * time.Millisecond)
	ag.SetFault(resolver.Slow)
	a := newHarness(t).authenticator(t, authgearPolicy(ag))
	id, err := a.Authenticate(t.Context(), req("cookie", "session=c-alice"))
	wantOutcome(t, id, err, accepted)
}

func TestResolverNeverThere(t *testing.T) {
	url, err := resolver.RefusedURL()
	if err != nil {
		t.Fatal(err)
	}
	a := newHarness(t).authenticator(t, policy.Session{
		Cookies: []string{"session"}, URL: url + resolver.ResolvePath, Contract: policy.ContractAuthgear, Timeout: time.Second,
	})
	id, err := a.Authenticate(t.Context(), req("cookie", "session=c-alice"))
	wantOutcome(t, id, err, failed)
	if got := remote.Classify(err); got != "refused" {
		t.Errorf("error class = %q, want refused", got)
	}
}

// BenchmarkSessionCacheHit is the hot path for a browser with a session:
// a fresh request (its cookies parsed), the cache key computed, the answer
// found in the cache.
func BenchmarkSessionCacheHit(b *testing.B) {
	ag := newAuthgear(b)
	cfg := authgearPolicy(ag)
	cfg.Cookies = []string{"session", "legacy"}
	cfg.ForwardHeaders = []string{"User-Agent"}
	a := newHarness(b).authenticator(b, cfg)
	headers := map[string]string{
		"cookie":     "theme=dark; session=c-alice; _ga=GA1.2.3",
		"user-agent": "Mozilla/5.0 (benchmark)",
	}
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, req("cookie", headers["cookie"])); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := &request.Request{Transport: "http", Host: "app.example.com", Method: http.MethodGet, Path: "/", Headers: headers}
		if _, err := a.Authenticate(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := ag.Calls(); got != 1 {
		b.Fatalf("resolver calls = %d, want 1: the benchmark missed the cache", got)
	}
}
