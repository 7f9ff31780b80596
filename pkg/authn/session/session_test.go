package session_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/session"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/test/resolver"
)

// TestAuthgearContract: a session yields the claims an Authgear access token
// of the same user carries, with the token's claim names and JSON types, so
// rules written against tokens hold for sessions.
func TestAuthgearContract(t *testing.T) {
	tests := map[string]struct {
		cookies              []string // default: the resolver's cookie
		forwardAuthorization bool
		headers              []string
		want                 outcome
		wantSubject          string
		wantClaims           map[string]any
		wantCalls            int
	}{
		"valid cookie": {
			headers: []string{"cookie", "session=c-alice"}, want: accepted, wantSubject: "alice", wantCalls: 1,
			wantClaims: map[string]any{
				"sub":                          "alice",
				session.ClaimRoles:             []any{"staff", "billing"},
				session.ClaimIsAnonymous:       false,
				session.ClaimIsVerified:        true,
				session.ClaimCanReauthenticate: true,
				"amr":                          []any{"pwd", "otp"},
				"auth_time":                    float64(aliceAuthAt.Unix()),
			},
		},
		"anonymous user without roles, amr or auth time": {
			headers: []string{"cookie", "session=c-anon"}, want: accepted, wantSubject: "anon", wantCalls: 1,
			wantClaims: map[string]any{
				"sub":                          "anon",
				session.ClaimIsAnonymous:       true,
				session.ClaimIsVerified:        false,
				session.ClaimCanReauthenticate: false,
			},
		},
		"unknown cookie":   {headers: []string{"cookie", "session=c-nobody"}, want: rejected, wantCalls: 1},
		"revoked cookie":   {headers: []string{"cookie", "session=c-revoked"}, want: rejected, wantCalls: 1},
		"no cookie at all": {headers: []string{"user-agent", "test"}, want: rejected, wantCalls: 0},
		"empty cookie":     {headers: []string{"cookie", "session="}, want: rejected, wantCalls: 0},
		// The resolver reads its own cookie only; a policy naming another
		// one gets Authgear's "no session" answer (no validity header).
		"cookie the resolver does not read": {
			cookies: []string{"sid"}, headers: []string{"cookie", "sid=c-alice"}, want: rejected, wantCalls: 1,
		},
		"bearer token with forwardAuthorization": {
			forwardAuthorization: true, headers: []string{"authorization", "Bearer t-bob"}, want: accepted, wantSubject: "bob", wantCalls: 1,
			wantClaims: map[string]any{
				"sub":                          "bob",
				session.ClaimRoles:             []any{"admin"},
				session.ClaimIsAnonymous:       false,
				session.ClaimIsVerified:        true,
				session.ClaimCanReauthenticate: false,
				"amr":                          []any{"pwd"},
			},
		},
		"unknown bearer token with forwardAuthorization": {
			forwardAuthorization: true, headers: []string{"authorization", "Bearer t-nobody"}, want: rejected, wantCalls: 1,
		},
		// Without forwardAuthorization a bearer token is not this
		// authenticator's credential: nothing to send, so no call.
		"bearer token without forwardAuthorization": {
			headers: []string{"authorization", "Bearer t-bob"}, want: rejected, wantCalls: 0,
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
			a := newHarness(t).authenticator(t, cfg)

			id, err := a.Authenticate(t.Context(), req(tc.headers...))
			wantOutcome(t, id, err, tc.want)
			if got := ag.Calls(); got != tc.wantCalls {
				t.Errorf("resolver calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.want != accepted {
				return
			}
			if id.Subject != tc.wantSubject {
				t.Errorf("Subject = %q, want %q", id.Subject, tc.wantSubject)
			}
			if !reflect.DeepEqual(id.Claims.Map(), tc.wantClaims) {
				t.Errorf("Claims = %#v\nwant %#v", id.Claims.Map(), tc.wantClaims)
			}
			if !id.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt = %v; the Authgear resolver says nothing about expiry", id.ExpiresAt)
			}
		})
	}
}

// TestForwarding: the resolver gets the configured cookies, the
// Authorization header only with forwardAuthorization, the configured
// headers, and nothing else of the original request.
func TestForwarding(t *testing.T) {
	// Sent in every case; only the configured ones may reach the resolver.
	base := []string{
		"user-agent", "Mozilla/5.0 (authgate test)",
		"x-forwarded-for", "203.0.113.7",
		"x-internal-secret", "do-not-forward",
		"accept-language", "en",
	}
	tests := map[string]struct {
		cookies              []string
		forwardAuthorization bool
		headers              []string
		wantSubject          string
		wantCookie           string
		wantAuthorization    string
	}{
		"only the configured cookie": {
			cookies: []string{"session"}, headers: []string{"cookie", "theme=dark; session=c-alice; _ga=GA1.2.3"},
			wantSubject: "alice", wantCookie: "session=c-alice",
		},
		"two configured cookies, in policy order": {
			cookies: []string{"session", "legacy"}, headers: []string{"cookie", "legacy=l1; theme=dark; session=c-alice"},
			wantSubject: "alice", wantCookie: "session=c-alice; legacy=l1",
		},
		// Were the token forwarded, the resolver would answer for bob:
		// Authgear tries the bearer token before the cookie.
		"authorization not forwarded by default": {
			cookies: []string{"session"}, headers: []string{"cookie", "session=c-alice", "authorization", "Bearer t-bob"},
			wantSubject: "alice", wantCookie: "session=c-alice",
		},
		"authorization forwarded with forwardAuthorization": {
			cookies: []string{"session"}, forwardAuthorization: true,
			headers:     []string{"cookie", "theme=dark; session=c-alice", "authorization", "Bearer t-bob"},
			wantSubject: "bob", wantCookie: "session=c-alice", wantAuthorization: "Bearer t-bob",
		},
		"authorization alone, no cookie header": {
			cookies: []string{"session"}, forwardAuthorization: true, headers: []string{"cookie", "theme=dark", "authorization", "Bearer t-bob"},
			wantSubject: "bob", wantAuthorization: "Bearer t-bob",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ag := newAuthgear(t)
			cfg := authgearPolicy(ag)
			cfg.Cookies = tc.cookies
			cfg.ForwardAuthorization = tc.forwardAuthorization
			cfg.ForwardHeaders = []string{"User-Agent", "X-Forwarded-For"}
			a := newHarness(t).authenticator(t, cfg)

			id, err := a.Authenticate(t.Context(), req(append(append([]string{}, base...), tc.headers...)...))
			wantOutcome(t, id, err, accepted)
			if id.Subject != tc.wantSubject {
				t.Errorf("Subject = %q, want %q", id.Subject, tc.wantSubject)
			}
			last := ag.LastRequest()
			if last == nil {
				t.Fatal("the resolver was not called")
			}
			if last.Method != http.MethodGet || last.Path != resolver.ResolvePath {
				t.Errorf("request = %s %s, want GET %s", last.Method, last.Path, resolver.ResolvePath)
			}
			if got := last.Header.Values("Cookie"); !reflect.DeepEqual(got, nonEmpty(tc.wantCookie)) {
				t.Errorf("Cookie = %q, want %q", got, nonEmpty(tc.wantCookie))
			}
			if got := last.Header.Values("Authorization"); !reflect.DeepEqual(got, nonEmpty(tc.wantAuthorization)) {
				t.Errorf("Authorization = %q, want %q", got, nonEmpty(tc.wantAuthorization))
			}
			for h, want := range map[string]string{"User-Agent": "Mozilla/5.0 (authgate test)", "X-Forwarded-For": "203.0.113.7"} {
				if got := last.Header.Values(h); !reflect.DeepEqual(got, []string{want}) {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			for _, h := range []string{"X-Internal-Secret", "Accept-Language"} {
				if got := last.Header.Values(h); len(got) != 0 {
					t.Errorf("%s was forwarded (%q) though not configured", h, got)
				}
			}
		})
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// TestStatusContract: 2xx is a session with the identity in the configured
// headers, 401 and 403 are no session, anything else is the resolver
// failing.
func TestStatusContract(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		c, _ := r.Cookie("sid")
		var v string
		if c != nil {
			v = c.Value
		}
		switch v {
		case "ok", "ok-204":
			w.Header().Set("X-User-Id", "u-1")
			w.Header().Set("X-User-Email", "u1@example.com")
			w.Header().Set("X-Unmapped", "ignored")
			if v == "ok-204" {
				w.WriteHeader(http.StatusNoContent)
			}
		case "no-sub":
			w.Header().Set("X-User-Email", "u1@example.com")
		case "unauthorized":
			w.WriteHeader(http.StatusUnauthorized)
		case "forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "redirect":
			http.Redirect(w, r, "/login", http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)

	tests := map[string]struct {
		cookie     string
		want       outcome
		wantClaims map[string]any
	}{
		"200 with identity headers": {cookie: "ok", want: accepted, wantClaims: map[string]any{"sub": "u-1", "email": "u1@example.com"}},
		"204 with identity headers": {cookie: "ok-204", want: accepted, wantClaims: map[string]any{"sub": "u-1", "email": "u1@example.com"}},
		"401":                       {cookie: "unauthorized", want: rejected},
		"403":                       {cookie: "forbidden", want: rejected},
		"500":                       {cookie: "boom", want: failed},
		// A redirect to a login page is a misconfigured resolver URL,
		// not an answer, and must not be followed.
		"302": {cookie: "redirect", want: failed},
		// 2xx without the subject breaks the contract: no identity to
		// allow with, and not the caller's fault.
		"2xx without the subject header": {cookie: "no-sub", want: failed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newHarness(t).authenticator(t, policy.Session{
				Cookies: []string{"sid"}, URL: srv.URL + "/auth", Contract: policy.ContractStatus,
				IdentityHeaders: map[string]string{"sub": "X-User-Id", "email": "X-User-Email"},
				Timeout:         2 * time.Second, CacheTTL: testTTL, NegativeCacheTTL: testNegativeTTL,
			})
			before := calls.Load()
			id, err := a.Authenticate(t.Context(), req("cookie", "sid="+tc.cookie))
			wantOutcome(t, id, err, tc.want)
			if got := calls.Load() - before; got != 1 {
				t.Errorf("resolver calls = %d, want 1 (a redirect is not followed)", got)
			}
			if tc.want == accepted {
				if id.Subject != "u-1" || !reflect.DeepEqual(id.Claims.Map(), tc.wantClaims) {
					t.Errorf("identity = %q %#v, want u-1 %#v", id.Subject, id.Claims.Map(), tc.wantClaims)
				}
			}
		})
	}
}

// jsonPolicy is a session entry for a Kratos-style whoami endpoint.
func jsonPolicy(url, cookie string) policy.Session {
	return policy.Session{
		Cookies: []string{cookie}, URL: url, Contract: policy.ContractJSON, SubjectField: "identity.id",
		Timeout: 2 * time.Second, CacheTTL: testTTL, NegativeCacheTTL: testNegativeTTL,
	}
}

// TestJSONContract: the session object's fields are the claims, the
// subject is read at subjectField, and expires_at becomes ExpiresAt.
func TestJSONContract(t *testing.T) {
	expiresAt := time.Now().Add(time.Hour).Truncate(time.Second)
	tests := map[string]struct {
		cookie string
		want   outcome
	}{
		"valid session":   {cookie: "c-kim", want: accepted},
		"unknown session": {cookie: "c-nobody", want: rejected},
		"revoked session": {cookie: "c-revoked", want: rejected},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kr := resolver.NewJSON(resolver.JSONConfig{})
			t.Cleanup(kr.Close)
			kr.AddSession("c-kim", resolver.JSONSession{ID: "s-1", IdentityID: "kim", ExpiresAt: expiresAt,
				Traits: map[string]any{"email": "kim@example.com"}})
			kr.AddSession("c-revoked", resolver.JSONSession{ID: "s-2", IdentityID: "kim"})
			kr.Revoke("c-revoked")
			a := newHarness(t).authenticator(t, jsonPolicy(kr.WhoamiURL(), kr.CookieName()))

			id, err := a.Authenticate(t.Context(), req("cookie", kr.CookieName()+"="+tc.cookie+"; theme=dark"))
			wantOutcome(t, id, err, tc.want)
			last := kr.LastRequest()
			if last == nil {
				t.Fatal("the resolver was not called")
			}
			if got := last.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q, want application/json", got)
			}
			if got := last.Header.Get("Cookie"); got != kr.CookieName()+"="+tc.cookie {
				t.Errorf("Cookie = %q", got)
			}
			if tc.want != accepted {
				return
			}
			if id.Subject != "kim" {
				t.Errorf("Subject = %q, want kim", id.Subject)
			}
			for claim, want := range map[string]any{"sub": "kim", "id": "s-1", "active": true, "identity.traits.email": "kim@example.com"} {
				if got, ok := authn.Claim(id.Claims, claim); !ok || got != want {
					t.Errorf("claim %s = %#v, want %#v", claim, got, want)
				}
			}
			if !id.ExpiresAt.Equal(expiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", id.ExpiresAt, expiresAt)
			}
		})
	}
}

// TestJSONContractAnswers: answers the Kratos double never gives but a
// json-contract resolver may.
func TestJSONContractAnswers(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		want   outcome
	}{
		"inactive session":                     {status: 200, body: `{"active":false,"identity":{"id":"kim"}}`, want: rejected},
		"inactive session without an identity": {status: 200, body: `{"active":false}`, want: rejected},
		"active without a subject":             {status: 200, body: `{"active":true,"identity":{}}`, want: failed},
		"subject not a string":                 {status: 200, body: `{"identity":{"id":42}}`, want: failed},
		"not an object":                        {status: 200, body: `["kim"]`, want: failed},
		"null":                                 {status: 200, body: `null`, want: failed},
		"403":                                  {status: 403, body: `{}`, want: rejected},
		"503":                                  {status: 503, body: `{"identity":{"id":"kim"}}`, want: failed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			a := newHarness(t).authenticator(t, jsonPolicy(srv.URL, "sid"))
			id, err := a.Authenticate(t.Context(), req("cookie", "sid=c"))
			wantOutcome(t, id, err, tc.want)
		})
	}
}

func TestPresent(t *testing.T) {
	tests := map[string]struct {
		cookies              []string
		forwardAuthorization bool
		headers              []string
		want                 bool
	}{
		"configured cookie present":        {cookies: []string{"session"}, headers: []string{"cookie", "theme=dark; session=abc"}, want: true},
		"second configured cookie present": {cookies: []string{"session", "legacy"}, headers: []string{"cookie", "legacy=abc"}, want: true},
		"configured cookie empty":          {cookies: []string{"session"}, headers: []string{"cookie", "session=; theme=dark"}},
		"configured cookie absent":         {cookies: []string{"session"}, headers: []string{"cookie", "theme=dark"}},
		"no cookie header":                 {cookies: []string{"session"}},
		"cookie name differs only in case": {cookies: []string{"session"}, headers: []string{"cookie", "Session=abc"}},
		"authorization with forwardAuthorization": {
			cookies: []string{"session"}, forwardAuthorization: true, headers: []string{"authorization", "Bearer t"}, want: true,
		},
		"authorization without forwardAuthorization": {cookies: []string{"session"}, headers: []string{"authorization", "Bearer t"}},
		"blank authorization with forwardAuthorization": {
			cookies: []string{"session"}, forwardAuthorization: true, headers: []string{"authorization", "  "},
		},
		"forwardAuthorization only, no cookies configured": {forwardAuthorization: true, headers: []string{"authorization", "Bearer t"}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newHarness(t).authenticator(t, policy.Session{
				Cookies: tc.cookies, ForwardAuthorization: tc.forwardAuthorization,
				URL: "http://127.0.0.1:1/unused", Contract: policy.ContractAuthgear,
			})
			if got := a.Present(req(tc.headers...)); got != tc.want {
				t.Fatalf("Present = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLoadOutlivesRequest: a resolver call shared by several requests may
// outlive the request that started it (its caller gave up), and the HTTP
// adapter reuses a request's header map once it has answered. The call must
// send what that request carried, not what the map holds later. The values
// checked are what any correct version sends; what fails a version that
// reads the request from the call is the race detector (make test runs it),
// which reports that read against the test's reuse of the map.
func TestLoadOutlivesRequest(t *testing.T) {
	ag := newAuthgear(t)
	ag.SetDelay(300 * time.Millisecond)
	ag.SetFault(resolver.Slow)
	cfg := authgearPolicy(ag)
	cfg.ForwardHeaders = []string{"User-Agent"}
	a := newHarness(t).authenticator(t, cfg)

	first := req("cookie", "session=c-alice", "user-agent", "first")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.Authenticate(ctx, first); err == nil {
		t.Fatal("the first request should give up before the slow resolver answers")
	}
	// The adapter reuses the map for another request.
	clear(first.Headers)
	first.Headers["cookie"] = "session=c-revoked"
	first.Headers["user-agent"] = "second"

	// The same credential again: it waits on the call already under way.
	id, err := a.Authenticate(t.Context(), req("cookie", "session=c-alice", "user-agent", "first"))
	wantOutcome(t, id, err, accepted)
	if id.Subject != "alice" {
		t.Errorf("Subject = %q, want alice", id.Subject)
	}
	last := ag.LastRequest()
	if got := last.Header.Get("Cookie"); got != "session=c-alice" {
		t.Errorf("the resolver got Cookie %q, want the first request's session=c-alice", got)
	}
	if got := last.Header.Get("User-Agent"); got != "first" {
		t.Errorf("the resolver got User-Agent %q, want the first request's", got)
	}
	if n := ag.Calls(); n != 1 {
		t.Errorf("resolver called %d times, want 1 (one shared call)", n)
	}
}
