package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/devissuer"
)

// identityHeaders are every header config/samples/nginx/authgate.conf copies
// from authgate's answer. Each test that reaches the app checks all of them,
// so a header the case does not expect must be absent, not merely ignored.
var identityHeaders = []string{
	"X-User-Id", "X-Tenant", "X-Gateway", "X-Auth-Request-User",
	"X-Authgear-Session-Valid", "X-Authgear-User-Id", "X-Authgear-User-Anonymous",
	"X-Authgear-User-Verified", "X-Authgear-User-Can-Reauthenticate", "X-Authgear-User-Roles",
	"X-Authgear-Session-Amr", "X-Authgear-Session-Authenticated-At",
}

// forged are identity headers a client makes up, in the spellings that slip
// past naive filters: other case, underscores. The values mallory and evil
// must never reach the app; the others must not survive unless authgate
// itself sets the same header.
var forged = []string{
	"X-User-Id", "mallory",
	"x-authgear-user-id", "mallory",
	"X_User_Id", "mallory",
	"x_user_id", "mallory",
	"X-Auth-Request-User", "mallory",
	"X-Tenant", "evil",
	"X-Gateway", "evil",
	"X-Authgear-Session-Valid", "true",
	"X-Authgear-User-Roles", "admin",
}

const (
	challenge        = `Bearer realm="shop.example.com"`
	invalidChallenge = `Bearer realm="shop.example.com", error="invalid_token"`
	// userClaim prefixes the claims Authgear puts in its access tokens.
	userClaim  = "https://authgear.com/claims/user/"
	rolesClaim = userClaim + "roles"
)

func TestNginxAuthRequest(t *testing.T) {
	s := startStack(t, stackConfig{})

	alice := s.mint(t, devissuer.Token{Subject: "alice"})
	admin := s.mint(t, devissuer.Token{Subject: "root", Claims: map[string]any{rolesClaim: []string{"admin"}}})
	expired := s.mint(t, devissuer.Token{Subject: "alice", TTL: -time.Hour})
	full := s.mint(t, devissuer.Token{Subject: "carol", Claims: map[string]any{
		"tenant":                         "acme",
		"amr":                            []string{"pwd", "otp"},
		"auth_time":                      1700000000,
		userClaim + "roles":              []string{"staff", "billing"},
		userClaim + "is_anonymous":       false,
		userClaim + "is_verified":        true,
		userClaim + "can_reauthenticate": true,
	}})
	other, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatalf("failed to start a second issuer: %v", err)
	}
	t.Cleanup(func() { _ = other.Close() })
	// Right iss, aud and kid, wrong key: only the signature gives it away.
	foreign, err := other.Mint(devissuer.Token{Subject: "alice", Issuer: s.iss.URL, Audience: []string{"shop"}})
	if err != nil {
		t.Fatalf("failed to mint on the second issuer: %v", err)
	}

	asAlice := map[string]string{
		"X-User-Id": "alice", "X-Authgear-User-Id": "alice",
		"X-Authgear-Session-Valid": "true", "X-Gateway": "authgate",
	}
	tests := map[string]struct {
		method string   // default GET
		target string   // the raw request target, sent as written
		header []string // name, value pairs, names sent in this case
		status int
		// challenge is the WWW-Authenticate the client must get; "" means none.
		challenge string
		// upstream is every identity header the app must see ("" or unlisted:
		// absent); nil means the request must not reach the app at all.
		upstream map[string]string
	}{
		"valid token reaches the app as alice": {
			target: "/", header: []string{"Authorization", "Bearer " + alice},
			status: http.StatusOK, upstream: asAlice,
		},
		"token in the access_token cookie": {
			target: "/orders?page=2", header: []string{"Cookie", "theme=dark; access_token=" + alice},
			status: http.StatusOK, upstream: asAlice,
		},
		"every authgear claim becomes a header": {
			target: "/", header: []string{"Authorization", "Bearer " + full},
			status: http.StatusOK, upstream: map[string]string{
				"X-User-Id": "carol", "X-Tenant": "acme", "X-Gateway": "authgate",
				"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "carol",
				"X-Authgear-User-Anonymous": "false", "X-Authgear-User-Verified": "true",
				"X-Authgear-User-Can-Reauthenticate": "true", "X-Authgear-User-Roles": "staff,billing",
				"X-Authgear-Session-Amr": "pwd otp", "X-Authgear-Session-Authenticated-At": "1700000000",
			},
		},
		"forged identity headers with a valid token": {
			target: "/", header: append([]string{"Authorization", "Bearer " + alice}, forged...),
			status: http.StatusOK, upstream: asAlice,
		},
		"forged identity headers on an anonymous public page": {
			target: "/public/page", header: forged,
			status: http.StatusOK, upstream: map[string]string{"X-Gateway": "authgate"},
		},
		"no token": {
			target: "/", status: http.StatusUnauthorized, challenge: challenge,
		},
		"token signed by another key": {
			target: "/", header: []string{"Authorization", "Bearer " + foreign},
			status: http.StatusUnauthorized, challenge: invalidChallenge,
		},
		"expired token": {
			target: "/", header: []string{"Authorization", "Bearer " + expired},
			status: http.StatusUnauthorized, challenge: invalidChallenge,
		},
		"garbage token": {
			target: "/", header: []string{"Authorization", "Bearer not.a.jwt"},
			status: http.StatusUnauthorized, challenge: invalidChallenge,
		},
		"non-admin token on /admin": {
			target: "/admin/users", header: []string{"Authorization", "Bearer " + alice},
			status: http.StatusForbidden,
		},
		"admin token on /admin": {
			target: "/admin/users", header: []string{"Authorization", "Bearer " + admin},
			status: http.StatusOK, upstream: map[string]string{
				"X-User-Id": "root", "X-Authgear-User-Id": "root", "X-Authgear-Session-Valid": "true",
				"X-Gateway": "authgate", "X-Authgear-User-Roles": "admin",
			},
		},
		// nginx resolves this one itself before choosing a location;
		// authgate, given the raw $request_uri, must resolve it the same way.
		"dot segments into /admin without a token": {
			target: "/public/../admin", status: http.StatusUnauthorized, challenge: challenge,
		},
		"encoded dot segments into /admin without a token": {
			target: "/public/%2e%2e/admin", status: http.StatusUnauthorized, challenge: challenge,
		},
		// Read as /admin/public by RFC 3986 parsers but /public by ones that
		// merge slashes first: authgate refuses to guess (400), which nginx
		// turns into a 500. Never the anonymous /public allow.
		"empty segment before dot-dot is refused": {
			target: "/admin//../public", status: http.StatusInternalServerError,
		},
		"client-sent X-Original-URL is replaced": {
			target: "/admin", header: []string{"X-Original-URL", "http://shop.example.com/public", "X-Original-Method", "GET"},
			status: http.StatusUnauthorized, challenge: challenge,
		},
		"POST to a GET-only public path needs a token": {
			method: http.MethodPost, target: "/public/form",
			status: http.StatusUnauthorized, challenge: challenge,
		},
		// nginx routes an absolute-form request on the request line's host;
		// authgate must decide for that host, not for the Host header.
		"absolute-form request line with another Host header": {
			target: "http://shop.example.com/admin/users", header: []string{"Host", "other.example.org"},
			status: http.StatusUnauthorized, challenge: challenge,
		},
		// The sample's catch-all server: a host the config does not name
		// never reaches the app, nor picks another host's policy.
		"host the config does not name": {
			target: "/", header: []string{"Host", "evil.example.com", "Authorization", "Bearer " + alice},
			status: http.StatusMisdirectedRequest,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.up.Reset()
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
			checkUpstream(t, s, tc.upstream)
		})
	}
}

// checkUpstream checks what reached the app: nothing when want is nil, else
// exactly one request carrying exactly the identity headers in want, and no
// header with an underscore or a forged value at all.
func checkUpstream(t *testing.T, s *stack, want map[string]string) {
	t.Helper()
	reqs := s.up.Requests()
	if want == nil {
		if len(reqs) != 0 {
			t.Errorf("the app was reached %d times, want never: %+v", len(reqs), reqs)
		}
		return
	}
	if len(reqs) != 1 {
		t.Fatalf("the app was reached %d times, want once", len(reqs))
	}
	got := reqs[0]
	if got.Host != testHost {
		t.Errorf("the app saw Host %q, want %q", got.Host, testHost)
	}
	for _, name := range identityHeaders {
		values := got.Header.Values(name)
		w, ok := want[name]
		switch {
		case !ok || w == "":
			if len(values) != 0 {
				t.Errorf("the app saw %s: %q, want none", name, values)
			}
		case !slices.Equal(values, []string{w}):
			t.Errorf("the app saw %s: %q, want [%q]", name, values, w)
		}
	}
	for name, values := range got.Header {
		if strings.Contains(name, "_") {
			t.Errorf("the app saw header %s: %q, want no header with an underscore", name, values)
		}
		for _, v := range values {
			if strings.Contains(v, "mallory") || strings.Contains(v, "evil") {
				t.Errorf("the app saw a forged value in %s: %q", name, v)
			}
		}
	}
}

// TestNginxFailsClosed stops authgate under a running nginx: every request,
// even to a public page, must then get a 500 and never reach the app. It has
// a stack of its own, so no other test sees authgate gone.
func TestNginxFailsClosed(t *testing.T) {
	s := startStack(t, stackConfig{})
	alice := s.mint(t, devissuer.Token{Subject: "alice"})

	// First prove the wiring works, so the 500s below mean "authgate down".
	if resp := s.do(t, http.MethodGet, "/", "Authorization", "Bearer "+alice); resp.status != http.StatusOK {
		t.Fatalf("before stopping authgate: status = %d, want 200", resp.status)
	}
	s.authgate.Stop(t)

	tests := map[string]struct {
		target string
		header []string
	}{
		"valid token":           {target: "/", header: []string{"Authorization", "Bearer " + alice}},
		"anonymous public page": {target: "/public/page"},
		"no token":              {target: "/admin"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.up.Reset()
			resp := s.do(t, http.MethodGet, tc.target, tc.header...)
			if resp.status != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", resp.status)
			}
			checkUpstream(t, s, nil)
		})
	}
}
