package recipes

import (
	"net"
	"net/http"
	"testing"

	"github.com/authgate/authgate/test/envoy"
	"github.com/authgate/authgate/test/upstream"
)

// TestEnvoyRecipeThroughHarness runs authgate behind the Envoy-faithful
// harness configured from the recipe's ext_authz settings: allow with
// identity headers (client copies replaced), 401, 403, the route's host,
// and 503 both for authgate's dependency failure and for authgate down.
func TestEnvoyRecipeThroughHarness(t *testing.T) {
	s := loadEnvoyRecipe(t)
	a := startAuthgate(t)
	up := upstream.New()
	t.Cleanup(up.Close)

	proxy := startHarness(t, s.harnessConfig(a.srv.GRPCAddr(), up.URL))
	alice := a.mint(t, "alice", nil)
	member := a.mint(t, "bob", map[string]any{userClaim + "roles": []string{"staff"}})
	asAlice := map[string]string{
		"X-User-Id": "alice", "X-Authgear-User-Id": "alice",
		"X-Authgear-Session-Valid": "true", "X-Gateway": "authgate",
	}

	tests := map[string]struct {
		host, target string
		header       map[string]string
		status       int
		challenge    string
		upstream     map[string]string // identity headers the app must see; nil: not reached
	}{
		"valid token reaches the app, forged identity replaced": {
			host: "shop.example.com", target: "/orders",
			header: withForged(map[string]string{"Authorization": "Bearer " + alice}),
			status: http.StatusOK, upstream: asAlice,
		},
		"no token": {
			host: "shop.example.com", target: "/orders",
			status: http.StatusUnauthorized, challenge: `Bearer realm="shop.example.com"`,
		},
		"role missing on /admin": {
			host: "shop.example.com", target: "/admin/users",
			header: map[string]string{"Authorization": "Bearer " + member},
			status: http.StatusForbidden,
		},
		"anonymous public page, forged identity removed": {
			host: "shop.example.com", target: "/public/about", header: withForged(nil),
			status: http.StatusOK, upstream: map[string]string{"X-Gateway": "authgate"},
		},
		// The route's context_extensions host decides, not :authority:
		// blog.example.com's policy would allow this anonymously.
		"the route's host decides, not the client's": {
			host: "blog.example.com", target: "/orders",
			status: http.StatusUnauthorized, challenge: `Bearer realm="shop.example.com"`,
		},
	}
	c := client(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			up.Reset()
			req := newRequest(t, http.MethodGet, proxy+tc.target)
			req.Host = tc.host
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, _ := do(t, c, req)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			reqs := up.Requests()
			if tc.upstream == nil {
				if len(reqs) != 0 {
					t.Errorf("the app was reached %d times, want never", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("the app was reached %d times, want once", len(reqs))
			}
			checkIdentity(t, reqs[0].Header, tc.upstream)
		})
	}

	t.Run("dependency failure is 503, not 401", func(t *testing.T) {
		// The recipe's settings on a route whose host is down.example.com,
		// as a second virtual host would have: authgate cannot fetch the
		// issuer's keys and answers UNAVAILABLE with a 503 of its own.
		cfg := s.harnessConfig(a.srv.GRPCAddr(), up.URL)
		cfg.ContextExtensions = map[string]string{"host": "down.example.com"}
		down := startHarness(t, cfg)
		up.Reset()
		req := newRequest(t, http.MethodGet, down+"/")
		req.Host = "down.example.com"
		req.Header.Set("Authorization", "Bearer "+a.mintDown(t))
		resp, _ := do(t, c, req)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", resp.StatusCode)
		}
		if n := len(up.Requests()); n != 0 {
			t.Errorf("the app was reached %d times, want never", n)
		}
	})

	t.Run("authgate unreachable is status_on_error 503", func(t *testing.T) {
		// Nothing listens on gone: the call fails, and the recipe's
		// failure_mode_allow false and status_on_error decide.
		gone := closedAddr(t)
		dead := startHarness(t, s.harnessConfig(gone, up.URL))
		up.Reset()
		req := newRequest(t, http.MethodGet, dead+"/public/about")
		req.Host = "shop.example.com"
		resp, _ := do(t, c, req)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503 (status_on_error)", resp.StatusCode)
		}
		if n := len(up.Requests()); n != 0 {
			t.Errorf("the app was reached %d times, want never (fail closed)", n)
		}
	})
}

// withForged adds every forged identity header to h. Over Envoy authgate
// strips the headers the deciding policy may set and, always, the default
// X-Auth-Request-User; the HTTP recipes list all twelve in the proxy.
func withForged(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range forged {
		out[k] = v
	}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func startHarness(t *testing.T, cfg envoy.Config) string {
	t.Helper()
	p, err := envoy.New(cfg)
	if err != nil {
		t.Fatalf("envoy harness: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	u, err := p.Start()
	if err != nil {
		t.Fatalf("envoy harness: %v", err)
	}
	return u
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func newRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
