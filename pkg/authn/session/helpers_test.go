package session_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/authn/remote/remotetest"
	"github.com/authgate/authgate/pkg/authn/session"
	"github.com/authgate/authgate/pkg/cache"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/test/resolver"
)

// Cache lifetimes the tests step the fake clock against.
const (
	testTTL         = 30 * time.Second
	testNegativeTTL = 2 * time.Second
)

// observer counts what the checker reports; misses tell the single-flight
// test when every caller has missed the cache.
type observer struct {
	hits, misses, stale atomic.Int64
}

func (o *observer) Hit()                           { o.hits.Add(1) }
func (o *observer) Miss()                          { o.misses.Add(1) }
func (o *observer) Evict()                         {}
func (o *observer) Upstream(time.Duration, string) {}
func (o *observer) Stale()                         { o.stale.Add(1) }

// harness is one Provider with its own cache, clock and transport, so no
// test sees another's cached answers or keep-alive connections.
type harness struct {
	clock *clocktesting.FakeClock
	obs   *observer
	p     *session.Provider
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWithTransport(t, nil)
}

// newHarnessWithTransport wraps the harness's own transport with wrap (when
// not nil), for tests that must hold a call in flight.
func newHarnessWithTransport(t testing.TB, wrap func(http.RoundTripper) http.RoundTripper) *harness {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := remote.NoRedirectClient()
	client.Transport = tr
	if wrap != nil {
		client.Transport = wrap(tr)
	}
	// The fake clock starts at the real time because the resolver doubles
	// stamp sessions (expires_at, exp) with the real clock.
	h := &harness{clock: clocktesting.NewFakeClock(time.Now()), obs: &observer{}}
	checker, err := remote.NewChecker(1000, h.obs, h.clock.Now)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	keyer, err := cache.NewKeyer(nil)
	if err != nil {
		t.Fatalf("NewKeyer: %v", err)
	}
	h.p, err = session.NewProvider(session.Config{HTTPClient: client, Checker: checker, Keyer: keyer})
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return h
}

func (h *harness) authenticator(t testing.TB, cfg policy.Session) authn.Authenticator {
	t.Helper()
	a, err := h.p.New("session", &cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// authgearPolicy is a session entry for the Authgear double with the
// default lifetimes; tests change what they are about.
func authgearPolicy(ag *resolver.Authgear) policy.Session {
	return policy.Session{
		Cookies:          []string{ag.CookieName()},
		URL:              ag.ResolveURL(),
		Contract:         policy.ContractAuthgear,
		Timeout:          2 * time.Second,
		CacheTTL:         testTTL,
		NegativeCacheTTL: testNegativeTTL,
	}
}

// Fixtures every Authgear double holds.
var (
	aliceAuthAt = time.Unix(1767225600, 0)
	alice       = resolver.Session{UserID: "alice", Verified: true, CanReauthenticate: true,
		Roles: []string{"staff", "billing"}, AMR: []string{"pwd", "otp"}, AuthenticatedAt: aliceAuthAt}
	anon = resolver.Session{UserID: "anon", Anonymous: true}
	bob  = resolver.Session{UserID: "bob", Verified: true, Roles: []string{"admin"}, AMR: []string{"pwd"}}
)

// newAuthgear starts an Authgear double with cookies c-alice and c-anon,
// access token t-bob, and a revoked cookie c-revoked.
func newAuthgear(t testing.TB) *resolver.Authgear {
	t.Helper()
	ag := resolver.NewAuthgear(resolver.AuthgearConfig{})
	t.Cleanup(ag.Close)
	ag.AddSession("c-alice", alice)
	ag.AddSession("c-anon", anon)
	ag.AddToken("t-bob", bob)
	ag.AddSession("c-revoked", alice)
	ag.Revoke("c-revoked")
	return ag
}

// req builds a request from lower-case header name/value pairs.
func req(kv ...string) *request.Request {
	h := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return &request.Request{Transport: "http", Host: "app.example.com", Method: http.MethodGet, Path: "/", Headers: h}
}

// The outcome classes and their check are shared with the other
// resolver-backed authenticator's tests.
type outcome = remotetest.Outcome

const (
	accepted = remotetest.Accepted
	rejected = remotetest.Rejected
	failed   = remotetest.Failed
)

var wantOutcome = remotetest.Want

// waitFor polls cond until it holds, failing the test after a generous
// bound; it waits for an event, it does not time anything.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
