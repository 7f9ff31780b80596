package session_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/session"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/test/resolver"
)

// TestCacheLifetimes: one resolver call per cacheTTL for a valid session,
// per negativeCacheTTL for an invalid one; a revocation is seen once the
// cached answer expires, not before.
func TestCacheLifetimes(t *testing.T) {
	tests := map[string]struct {
		cookie    string
		ttl       time.Duration
		between   func(*resolver.Authgear)
		step      time.Duration
		want      outcome // of the second request, `step` after the first
		wantCalls int
	}{
		"valid answer reused within cacheTTL":               {cookie: "c-alice", ttl: testTTL, step: testTTL - time.Second, want: accepted, wantCalls: 1},
		"valid answer refetched at cacheTTL":                {cookie: "c-alice", ttl: testTTL, step: testTTL, want: accepted, wantCalls: 2},
		"cacheTTL 0 caches nothing":                         {cookie: "c-alice", ttl: 0, want: accepted, wantCalls: 2},
		"invalid answer reused within negativeCacheTTL":     {cookie: "c-nobody", ttl: testTTL, step: testNegativeTTL - time.Second, want: rejected, wantCalls: 1},
		"invalid answer refetched at negativeCacheTTL":      {cookie: "c-nobody", ttl: testTTL, step: testNegativeTTL, want: rejected, wantCalls: 2},
		"revoked session still served within cacheTTL":      {cookie: "c-alice", ttl: testTTL, between: revoke("c-alice"), step: testTTL - time.Second, want: accepted, wantCalls: 1},
		"revoked session rejected once cacheTTL has passed": {cookie: "c-alice", ttl: testTTL, between: revoke("c-alice"), step: testTTL, want: rejected, wantCalls: 2},
		"a session created after a negative answer is seen at negativeCacheTTL": {
			cookie: "c-new", ttl: testTTL, between: func(ag *resolver.Authgear) { ag.AddSession("c-new", bob) },
			step: testNegativeTTL, want: accepted, wantCalls: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ag := newAuthgear(t)
			h := newHarness(t)
			cfg := authgearPolicy(ag)
			cfg.CacheTTL = tc.ttl
			a := h.authenticator(t, cfg)
			r := req("cookie", "session="+tc.cookie)

			_, _ = a.Authenticate(t.Context(), r)
			if tc.between != nil {
				tc.between(ag)
			}
			h.clock.Step(tc.step)
			id, err := a.Authenticate(t.Context(), r)
			wantOutcome(t, id, err, tc.want)
			if got := ag.Calls(); got != tc.wantCalls {
				t.Errorf("resolver calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func revoke(cookie string) func(*resolver.Authgear) {
	return func(ag *resolver.Authgear) { ag.Revoke(cookie) }
}

// TestCacheKeys: answers are shared only by requests with the same
// credential inputs: every configured cookie, present or not, and the
// Authorization header when it is forwarded.
func TestCacheKeys(t *testing.T) {
	tests := map[string]struct {
		cookies              []string
		forwardAuthorization bool
		first, second        []string
		wantFirst            string // subject, "" for rejected
		wantSecond           string
		wantCalls            int
	}{
		"different session cookies": {
			first: []string{"cookie", "session=c-alice"}, second: []string{"cookie", "session=c-anon"},
			wantFirst: "alice", wantSecond: "anon", wantCalls: 2,
		},
		"a valid and an invalid cookie": {
			first: []string{"cookie", "session=c-alice"}, second: []string{"cookie", "session=c-alice2"},
			wantFirst: "alice", wantSecond: "", wantCalls: 2,
		},
		"same cookie, unconfigured cookies differ": {
			first: []string{"cookie", "session=c-alice; theme=dark"}, second: []string{"cookie", "theme=light; session=c-alice"},
			wantFirst: "alice", wantSecond: "alice", wantCalls: 1,
		},
		"two configured cookies, only the second differs": {
			cookies: []string{"session", "legacy"},
			first:   []string{"cookie", "session=c-alice; legacy=l1"}, second: []string{"cookie", "session=c-alice; legacy=l2"},
			wantFirst: "alice", wantSecond: "alice", wantCalls: 2,
		},
		"two configured cookies, the second absent then present": {
			cookies: []string{"session", "legacy"},
			first:   []string{"cookie", "session=c-alice"}, second: []string{"cookie", "session=c-alice; legacy=l1"},
			wantFirst: "alice", wantSecond: "alice", wantCalls: 2,
		},
		"one value under two configured cookie names": {
			cookies: []string{"session", "legacy"},
			first:   []string{"cookie", "session=c-alice"}, second: []string{"cookie", "legacy=c-alice"},
			wantFirst: "alice", wantSecond: "", wantCalls: 2,
		},
		"same cookie, different forwarded bearer tokens": {
			forwardAuthorization: true,
			first:                []string{"cookie", "session=c-alice", "authorization", "Bearer t-bob"},
			second:               []string{"cookie", "session=c-alice", "authorization", "Bearer t-other"},
			wantFirst:            "bob", wantSecond: "alice", wantCalls: 2,
		},
		"same cookie, bearer tokens not forwarded": {
			first:     []string{"cookie", "session=c-alice", "authorization", "Bearer t-bob"},
			second:    []string{"cookie", "session=c-alice", "authorization", "Bearer t-other"},
			wantFirst: "alice", wantSecond: "alice", wantCalls: 1,
		},
		// Forwarded headers inform the resolver but are not credentials.
		"same cookie, different forwarded headers": {
			first:     []string{"cookie", "session=c-alice", "user-agent", "a"},
			second:    []string{"cookie", "session=c-alice", "user-agent", "b"},
			wantFirst: "alice", wantSecond: "alice", wantCalls: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ag := newAuthgear(t)
			cfg := authgearPolicy(ag)
			if tc.cookies != nil {
				cfg.Cookies = tc.cookies
			}
			cfg.ForwardAuthorization = tc.forwardAuthorization
			cfg.ForwardHeaders = []string{"User-Agent"}
			a := newHarness(t).authenticator(t, cfg)
			for i, step := range []struct {
				headers []string
				want    string
			}{{tc.first, tc.wantFirst}, {tc.second, tc.wantSecond}} {
				id, err := a.Authenticate(t.Context(), req(step.headers...))
				if step.want == "" {
					wantOutcome(t, id, err, rejected)
					continue
				}
				wantOutcome(t, id, err, accepted)
				if id.Subject != step.want {
					t.Errorf("request %d: Subject = %q, want %q", i+1, id.Subject, step.want)
				}
			}
			if got := ag.Calls(); got != tc.wantCalls {
				t.Errorf("resolver calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

// TestCacheScope: authenticators on one checker share answers only when
// they ask the same resolver the same way.
func TestCacheScope(t *testing.T) {
	tests := map[string]struct {
		second         func(first policy.Session, other *resolver.Authgear) policy.Session
		wantFirstCalls int
		wantOtherCalls int
	}{
		"same resolver and inputs share": {
			second:         func(p policy.Session, _ *resolver.Authgear) policy.Session { return p },
			wantFirstCalls: 1,
		},
		"another resolver does not share": {
			second:         func(p policy.Session, o *resolver.Authgear) policy.Session { p.URL = o.ResolveURL(); return p },
			wantFirstCalls: 1, wantOtherCalls: 1,
		},
		"another contract does not share": {
			second: func(p policy.Session, _ *resolver.Authgear) policy.Session {
				p.Contract = policy.ContractStatus
				p.IdentityHeaders = map[string]string{"sub": session.HeaderUserID}
				return p
			},
			wantFirstCalls: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ag, other := newAuthgear(t), newAuthgear(t)
			h := newHarness(t)
			cfg := authgearPolicy(ag)
			first := h.authenticator(t, cfg)
			second := h.authenticator(t, tc.second(cfg, other))
			r := req("cookie", "session=c-alice")
			for _, a := range []authn.Authenticator{first, second} {
				id, err := a.Authenticate(t.Context(), r)
				wantOutcome(t, id, err, accepted)
			}
			if ag.Calls() != tc.wantFirstCalls || other.Calls() != tc.wantOtherCalls {
				t.Errorf("resolver calls = %d and %d, want %d and %d", ag.Calls(), other.Calls(), tc.wantFirstCalls, tc.wantOtherCalls)
			}
		})
	}
}

// gate holds every resolver call until released.
type gate struct {
	next    http.RoundTripper
	release chan struct{}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-g.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.next.RoundTrip(r)
}

// TestConcurrentFirstRequestsCallOnce: 200 requests with one cookie, all
// of which missed the cache while the first call was held in flight, make
// exactly one resolver call and all get its answer.
func TestConcurrentFirstRequestsCallOnce(t *testing.T) {
	const n = 200
	ag := newAuthgear(t)
	g := &gate{release: make(chan struct{})}
	h := newHarnessWithTransport(t, func(next http.RoundTripper) http.RoundTripper { g.next = next; return g })
	a := h.authenticator(t, authgearPolicy(ag))

	var wg sync.WaitGroup
	subjects := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Each caller has its own request, as each proxy check does.
			id, err := a.Authenticate(context.Background(), req("cookie", "session=c-alice"))
			errs[i] = err
			if id != nil {
				subjects[i] = id.Subject
			}
		})
	}
	// Every caller has missed the cache before the one call may proceed,
	// so none of them was answered from the cache.
	waitFor(t, "every caller to miss the cache", func() bool { return h.obs.misses.Load() == n })
	close(g.release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || subjects[i] != "alice" {
			t.Fatalf("caller %d: subject %q, error %v", i, subjects[i], errs[i])
		}
	}
	if got := ag.Calls(); got != 1 {
		t.Fatalf("resolver calls = %d, want 1", got)
	}
	if got := h.obs.hits.Load(); got != 0 {
		t.Fatalf("cache hits = %d, want 0: the test did not overlap the callers", got)
	}
}

// TestErrorsAreNotCached: a failed call is retried by the next request, and
// the resolver's recovery is seen at once.
func TestErrorsAreNotCached(t *testing.T) {
	ag := newAuthgear(t)
	a := newHarness(t).authenticator(t, authgearPolicy(ag))
	r := req("cookie", "session=c-alice")

	ag.SetFault(resolver.Status500)
	for i := 1; i <= 2; i++ {
		id, err := a.Authenticate(t.Context(), r)
		wantOutcome(t, id, err, failed)
		if got := ag.Calls(); got != i {
			t.Fatalf("after failure %d: resolver calls = %d, want %d", i, got, i)
		}
	}
	ag.SetFault(resolver.None)
	id, err := a.Authenticate(t.Context(), r)
	wantOutcome(t, id, err, accepted)
	id, err = a.Authenticate(t.Context(), r)
	wantOutcome(t, id, err, accepted)
	if got := ag.Calls(); got != 3 {
		t.Fatalf("resolver calls = %d, want 3 (two failures, one success then cached)", got)
	}
}

// TestExpiryCapsCache: a session whose resolver says it ends before
// cacheTTL is not served from the cache past its end.
func TestExpiryCapsCache(t *testing.T) {
	tests := map[string]struct {
		session func(end time.Time) resolver.JSONSession
	}{
		"expires_at": {session: func(end time.Time) resolver.JSONSession {
			return resolver.JSONSession{IdentityID: "kim", ExpiresAt: end}
		}},
		"exp": {session: func(end time.Time) resolver.JSONSession {
			return resolver.JSONSession{IdentityID: "kim", ExpiresAt: end.Add(time.Hour), Exp: end}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kr := resolver.NewJSON(resolver.JSONConfig{})
			t.Cleanup(kr.Close)
			h := newHarness(t)
			// Whole seconds, as exp carries them; well inside cacheTTL.
			end := h.clock.Now().Truncate(time.Second).Add(10 * time.Second)
			kr.AddSession("c-kim", tc.session(end))
			a := h.authenticator(t, jsonPolicy(kr.WhoamiURL(), kr.CookieName()))
			r := req("cookie", kr.CookieName()+"=c-kim")

			id, err := a.Authenticate(t.Context(), r)
			wantOutcome(t, id, err, accepted)
			if !id.ExpiresAt.Equal(end) {
				t.Fatalf("ExpiresAt = %v, want %v", id.ExpiresAt, end)
			}
			h.clock.SetTime(end.Add(-time.Second))
			id, err = a.Authenticate(t.Context(), r)
			wantOutcome(t, id, err, accepted)
			if got := kr.Calls(); got != 1 {
				t.Fatalf("before the end: resolver calls = %d, want 1", got)
			}
			// The double still answers with the session (it runs on the
			// real clock), and the answer is already past its end.
			h.clock.SetTime(end)
			id, err = a.Authenticate(t.Context(), r)
			wantOutcome(t, id, err, rejected)
			if !errors.Is(err, authn.ErrExpired) {
				t.Errorf("err = %v, want ErrExpired", err)
			}
			if got := kr.Calls(); got != 2 {
				t.Fatalf("at the end: resolver calls = %d, want 2", got)
			}
		})
	}
}

// TestStaleIfError: with staleIfError the last good answer is served while
// the resolver fails, within the window only; never in place of the
// resolver's own "not valid".
func TestStaleIfError(t *testing.T) {
	tests := map[string]struct {
		staleIfError time.Duration
		trouble      func(*resolver.Authgear)
		step         time.Duration
		want         outcome
	}{
		"off by default":                    {trouble: fault(resolver.Status500), step: testTTL + time.Second, want: failed},
		"served within the window":          {staleIfError: time.Minute, trouble: fault(resolver.Status500), step: testTTL + time.Minute - time.Second, want: accepted},
		"served while the resolver refuses": {staleIfError: time.Minute, trouble: fault(resolver.Refuse), step: testTTL + time.Second, want: accepted},
		"not past the window":               {staleIfError: time.Minute, trouble: fault(resolver.Status500), step: testTTL + time.Minute, want: failed},
		"not over a revocation":             {staleIfError: time.Minute, trouble: revoke("c-alice"), step: testTTL + time.Second, want: rejected},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ag := newAuthgear(t)
			h := newHarness(t)
			cfg := authgearPolicy(ag)
			cfg.StaleIfError = tc.staleIfError
			a := h.authenticator(t, cfg)
			r := req("cookie", "session=c-alice")

			id, err := a.Authenticate(t.Context(), r)
			wantOutcome(t, id, err, accepted)
			tc.trouble(ag)
			h.clock.Step(tc.step)
			id, err = a.Authenticate(t.Context(), r)
			wantOutcome(t, id, err, tc.want)
			if tc.want == accepted {
				if id.Subject != "alice" || h.obs.stale.Load() != 1 {
					t.Fatalf("want alice's stale answer, got %q (stale count %d)", id.Subject, h.obs.stale.Load())
				}
			}
			if err := ag.Restore(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStaleIfErrorNeverHidesAnEndedSession: a json resolver's "active":
// false is a verdict on the session, so stale-if-error must not serve the
// old identity over it.
func TestStaleIfErrorNeverHidesAnEndedSession(t *testing.T) {
	var ended atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if ended.Load() {
			_, _ = io.WriteString(w, `{"active":false}`)
			return
		}
		_, _ = io.WriteString(w, `{"active":true,"identity":{"id":"kim"}}`)
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t)
	cfg := jsonPolicy(srv.URL, "sid")
	cfg.StaleIfError = time.Hour
	a := h.authenticator(t, cfg)
	r := req("cookie", "sid=c")

	id, err := a.Authenticate(t.Context(), r)
	wantOutcome(t, id, err, accepted)
	ended.Store(true)
	h.clock.Step(testTTL)
	id, err = a.Authenticate(t.Context(), r)
	wantOutcome(t, id, err, rejected)
}
