package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/test/resolver"
)

// sessionPolicyYAML is config/samples/web.yaml's session authenticator on the
// host the nginx sample serves, resolved by the Authgear test double at
// %[1]s. Both caches are off, so every request with a cookie asks the
// resolver and a revocation or a fault shows on the very next request.
// spec.signIn names a host of its own: over the auth_request contract
// authgate must still answer 401, so a Location naming it would mean
// authgate redirected, and nginx would have turned that into a 500.
const sessionPolicyYAML = `apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: shop
  namespace: shop
spec:
  hosts: ["shop.example.com", "*.shop.example.com"]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver:
        url: %[1]s
        contract: authgear
        timeout: 2s
      cacheTTL: 0s
      negativeCacheTTL: 0s
  rules:
  - name: public
    match: {pathPrefix: /public, methods: [GET, HEAD]}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    require:
    - {claim: "https://authgear.com/claims/user/roles", contains: admin}
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-Gateway: {value: authgate}
  signIn:
    url: "https://authgate-redirected.invalid/login?redirect_uri={url}"
`

// signIn is where the sample's @authgate_signin sends browsers.
const signIn = "https://auth.example.com/login?redirect_uri="

// browserAccept is what a browser sends on a top-level navigation.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// The session cookies the resolver knows, and one it revoked.
const (
	aliceCookie   = "alice-session"
	rootCookie    = "root-session"
	revokedCookie = "revoked-session"
)

// sessionStack is a stack whose policy resolves cookies through rv.
type sessionStack struct {
	*stack
	rv *resolver.Authgear
}

func startSessionStack(t *testing.T) *sessionStack {
	t.Helper()
	rv := resolver.NewAuthgear(resolver.AuthgearConfig{})
	t.Cleanup(rv.Close)
	rv.AddSession(aliceCookie, resolver.Session{
		UserID: "alice", Verified: true, CanReauthenticate: true,
		Roles: []string{"staff", "billing"}, AMR: []string{"pwd", "otp"},
		AuthenticatedAt: time.Unix(1700000000, 0),
	})
	rv.AddSession(rootCookie, resolver.Session{UserID: "root", Roles: []string{"admin"}})
	rv.AddSession(revokedCookie, resolver.Session{UserID: "alice"})
	rv.Revoke(revokedCookie)
	s := startStack(t, stackConfig{policy: fmt.Sprintf(sessionPolicyYAML, rv.ResolveURL())})
	return &sessionStack{stack: s, rv: rv}
}

// cookie is the request header carrying a session cookie among others, of
// which authgate must forward only the session.
func cookie(value string) []string {
	return []string{"Cookie", "theme=dark; session=" + value + "; tracking=xyz"}
}

// aliceHeaders are the identity headers alice's session yields: every one
// the resolver said, under the authgear preset's names.
var aliceHeaders = map[string]string{
	"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "alice",
	"X-Authgear-User-Anonymous": "false", "X-Authgear-User-Verified": "true",
	"X-Authgear-User-Can-Reauthenticate": "true", "X-Authgear-User-Roles": "staff,billing",
	"X-Authgear-Session-Amr": "pwd otp", "X-Authgear-Session-Authenticated-At": "1700000000",
	"X-Gateway": "authgate",
}

// sessionForged adds the underscore spelling of the Authgear user header to
// forged; X-Authgear-User-Id itself is there in lower case.
var sessionForged = slices.Concat(forged, []string{
	"X-Authgear-User-Id", "mallory",
	"X_Authgear_User_Id", "mallory",
	"X-Authgear-User-Anonymous", "evil",
})

func TestNginxSession(t *testing.T) {
	s := startSessionStack(t)

	tests := map[string]struct {
		method string   // default GET
		target string   // the raw request target
		header []string // name, value pairs
		status int
		// challenge is the WWW-Authenticate the client must get; "" means none.
		challenge string
		// location is the Location the client must get; "" means none.
		location string
		// resolved says the request must cost exactly one resolver call;
		// otherwise it must cost none.
		resolved bool
		// upstream is every identity header the app must see; nil means the
		// request must not reach the app.
		upstream map[string]string
	}{
		"valid session reaches the app as alice": {
			target: "/orders", header: cookie(aliceCookie),
			status: http.StatusOK, resolved: true, upstream: aliceHeaders,
		},
		"valid session on a browser navigation": {
			target: "/orders", header: append(cookie(aliceCookie), "Accept", browserAccept),
			status: http.StatusOK, resolved: true, upstream: aliceHeaders,
		},
		"forged identity headers with alice's session": {
			target: "/", header: append(cookie(aliceCookie), sessionForged...),
			status: http.StatusOK, resolved: true, upstream: aliceHeaders,
		},
		"forged identity headers on an anonymous public page": {
			target: "/public/page", header: sessionForged,
			status: http.StatusOK, upstream: map[string]string{"X-Gateway": "authgate"},
		},
		// The authgear preset tells the app the cookie it may see is bad.
		"revoked session on a public page stays public": {
			target: "/public/page", header: cookie(revokedCookie),
			status: http.StatusOK, resolved: true,
			upstream: map[string]string{"X-Gateway": "authgate", "X-Authgear-Session-Valid": "false"},
		},
		"admin role from the resolver opens /admin": {
			target: "/admin/users", header: cookie(rootCookie),
			status: http.StatusOK, resolved: true, upstream: map[string]string{
				"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "root",
				"X-Authgear-User-Anonymous": "false", "X-Authgear-User-Verified": "false",
				"X-Authgear-User-Can-Reauthenticate": "false", "X-Authgear-User-Roles": "admin",
				"X-Gateway": "authgate",
			},
		},
		"alice on /admin": {
			target: "/admin/users", header: append(cookie(aliceCookie), "Accept", browserAccept),
			status: http.StatusForbidden, resolved: true,
		},

		// API clients keep authgate's 401 and its challenge.
		"revoked session, API client": {
			target: "/orders", header: append(cookie(revokedCookie), "Accept", "application/json"),
			status: http.StatusUnauthorized, challenge: invalidChallenge, resolved: true,
		},
		"unknown session, API client": {
			target: "/orders", header: append(cookie("made-up"), "Accept", "application/json"),
			status: http.StatusUnauthorized, challenge: invalidChallenge, resolved: true,
		},
		"no session, API client": {
			target: "/orders", header: []string{"Accept", "application/json"},
			status: http.StatusUnauthorized, challenge: challenge,
		},
		"no session, no Accept": {
			target: "/orders", status: http.StatusUnauthorized, challenge: challenge,
		},
		// A form post is not a navigation to redirect: its body would be lost.
		"no session, POST accepting HTML": {
			method: http.MethodPost, target: "/orders", header: []string{"Accept", browserAccept},
			status: http.StatusUnauthorized, challenge: challenge,
		},

		// Browsers are sent to sign in by nginx's error_page; authgate's
		// WWW-Authenticate rides along on the 302, as the sample says.
		"no session, browser": {
			target: "/orders?page=2", header: []string{"Accept", browserAccept},
			status: http.StatusFound, challenge: challenge,
			location: signIn + "http://shop.example.com/orders?page=2",
		},
		"no session, HEAD from a browser": {
			method: http.MethodHead, target: "/orders", header: []string{"Accept", browserAccept},
			status: http.StatusFound, challenge: challenge,
			location: signIn + "http://shop.example.com/orders",
		},
		"revoked session, browser": {
			target: "/orders", header: append(cookie(revokedCookie), "Accept", browserAccept),
			status: http.StatusFound, challenge: invalidChallenge, resolved: true,
			location: signIn + "http://shop.example.com/orders",
		},
		// Media types are case-insensitive; the sample's map is too.
		"unknown session, browser": {
			target: "/", header: append(cookie("made-up"), "Accept", "TEXT/HTML"),
			status: http.StatusFound, challenge: invalidChallenge, resolved: true,
			location: signIn + "http://shop.example.com/",
		},
		// nginx cannot percent-encode: a target that would need it returns
		// the browser to the root rather than to a URL cut at its "&".
		"no session, browser, target needing encoding": {
			target: "/search?q=a&redirect_uri=https://evil.example", header: []string{"Accept", browserAccept},
			status: http.StatusFound, challenge: challenge,
			location: signIn + "http://shop.example.com/",
		},
		"no session, browser, escaped target": {
			target: "/files/caf%C3%A9", header: []string{"Accept", browserAccept},
			status: http.StatusFound, challenge: challenge,
			location: signIn + "http://shop.example.com/",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.up.Reset()
			before := s.rv.Calls()
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			resp := s.do(t, method, tc.target, tc.header...)

			if resp.status != tc.status {
				t.Errorf("status = %d, want %d", resp.status, tc.status)
			}
			if got := strings.Join(resp.header.Values("WWW-Authenticate"), " | "); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if got := strings.Join(resp.header.Values("Location"), " | "); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			checkResolved(t, s.rv, before, tc.resolved)
			checkUpstream(t, s.stack, tc.upstream)
		})
	}
}

// checkResolved checks that the request cost one resolver call when resolved
// (and that only the session cookie was forwarded), none otherwise.
func checkResolved(t *testing.T, rv *resolver.Authgear, before int, resolved bool) {
	t.Helper()
	calls := rv.Calls() - before
	if !resolved {
		if calls != 0 {
			t.Errorf("the resolver was called %d times, want never", calls)
		}
		return
	}
	if calls != 1 {
		t.Errorf("the resolver was called %d times, want once", calls)
		return
	}
	last := rv.LastRequest()
	if len(last.Cookies) != 1 || last.Cookies[0].Name != resolver.DefaultAuthgearCookie {
		t.Errorf("the resolver got cookies %v, want only %q", last.Cookies, resolver.DefaultAuthgearCookie)
	}
}

// TestNginxSessionRevoked revokes a session that worked: with the policy's
// cache off, the next request through nginx is refused.
func TestNginxSessionRevoked(t *testing.T) {
	s := startSessionStack(t)
	s.rv.AddSession("bob-session", resolver.Session{UserID: "bob"})
	bob := cookie("bob-session")

	if resp := s.do(t, http.MethodGet, "/orders", bob...); resp.status != http.StatusOK {
		t.Fatalf("before revoking: status = %d, want 200", resp.status)
	}
	s.rv.Revoke("bob-session")
	s.up.Reset()
	resp := s.do(t, http.MethodGet, "/orders", append(bob, "Accept", "application/json")...)
	if resp.status != http.StatusUnauthorized {
		t.Errorf("after revoking: status = %d, want 401", resp.status)
	}
	if got := resp.header.Get("WWW-Authenticate"); got != invalidChallenge {
		t.Errorf("after revoking: WWW-Authenticate = %q, want %q", got, invalidChallenge)
	}
	checkUpstream(t, s.stack, nil)
}

// TestNginxSessionResolverFails breaks the resolver under a running stack:
// authgate answers 503 and nginx 500, for browsers too. Never a 401 or a
// 302, which would log a signed-in user out over an outage, and never the
// app, even for a public page: a cookie that cannot be checked is not
// treated as no cookie. Requests without a cookie ask no resolver and are
// unaffected. Then the resolver recovers, and so does the site.
func TestNginxSessionResolverFails(t *testing.T) {
	s := startSessionStack(t)
	browser := append(cookie(aliceCookie), "Accept", browserAccept)

	// First prove the wiring works, so the 500s below mean "resolver down".
	if resp := s.do(t, http.MethodGet, "/orders", cookie(aliceCookie)...); resp.status != http.StatusOK {
		t.Fatalf("before the fault: status = %d, want 200", resp.status)
	}

	failing := map[string]struct {
		target string
		header []string
	}{
		"valid session":              {target: "/orders", header: cookie(aliceCookie)},
		"valid session, browser":     {target: "/orders", header: browser},
		"unknown session, browser":   {target: "/orders", header: append(cookie("made-up"), "Accept", browserAccept)},
		"valid session, public page": {target: "/public/page", header: cookie(aliceCookie)},
	}
	for _, fault := range []resolver.Fault{resolver.Status500, resolver.Reset, resolver.Garbage} {
		t.Run(fault.String(), func(t *testing.T) {
			s.rv.SetFault(fault)
			t.Cleanup(func() { s.rv.SetFault(resolver.None) })
			for name, tc := range failing {
				t.Run(name, func(t *testing.T) {
					s.up.Reset()
					before := s.rv.Calls()
					resp := s.do(t, http.MethodGet, tc.target, tc.header...)
					if resp.status != http.StatusInternalServerError {
						t.Errorf("status = %d, want 500", resp.status)
					}
					if loc := resp.header.Get("Location"); loc != "" {
						t.Errorf("Location = %q, want none", loc)
					}
					if n := s.rv.Calls() - before; n != 1 {
						t.Errorf("the resolver was called %d times, want once", n)
					}
					checkUpstream(t, s.stack, nil)
				})
			}
			t.Run("no session, browser", func(t *testing.T) {
				s.up.Reset()
				resp := s.do(t, http.MethodGet, "/orders", "Accept", browserAccept)
				if resp.status != http.StatusFound || resp.header.Get("Location") != signIn+"http://shop.example.com/orders" {
					t.Errorf("status = %d, Location = %q; want 302 to sign in", resp.status, resp.header.Get("Location"))
				}
				checkUpstream(t, s.stack, nil)
			})
		})
	}

	s.rv.SetFault(resolver.None)
	s.up.Reset()
	resp := s.do(t, http.MethodGet, "/orders", browser...)
	if resp.status != http.StatusOK {
		t.Fatalf("after the fault: status = %d, want 200", resp.status)
	}
	checkUpstream(t, s.stack, aliceHeaders)
}
