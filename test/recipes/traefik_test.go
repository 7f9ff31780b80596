package recipes

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/test/upstream"
)

const traefikRecipe = "config/traefik/middleware.yaml"

// traefikMiddleware mirrors traefik.io/v1alpha1 Middleware with a
// forwardAuth spec, field for field as documented. Source: traefik/traefik
// pkg/provider/kubernetes/crd/traefikio/v1alpha1/middleware.go ForwardAuth;
// https://doc.traefik.io/traefik/middlewares/http/forwardauth/
type traefikMiddleware struct {
	typeMeta `json:",inline"`
	Spec     struct {
		ForwardAuth *struct {
			Address                  string         `json:"address"`
			TrustForwardHeader       *bool          `json:"trustForwardHeader"`
			AuthResponseHeaders      []string       `json:"authResponseHeaders"`
			AuthResponseHeadersRegex string         `json:"authResponseHeadersRegex"`
			AuthRequestHeaders       []string       `json:"authRequestHeaders"`
			TLS                      map[string]any `json:"tls"`
			AddAuthCookiesToResponse []string       `json:"addAuthCookiesToResponse"`
			HeaderField              string         `json:"headerField"`
			ForwardBody              bool           `json:"forwardBody"`
			MaxBodySize              *int64         `json:"maxBodySize"`
			PreserveLocationHeader   bool           `json:"preserveLocationHeader"`
			PreserveRequestMethod    bool           `json:"preserveRequestMethod"`
		} `json:"forwardAuth"`
	} `json:"spec"`
}

// traefikIngressRoute mirrors traefik.io/v1alpha1 IngressRoute, only the
// fields the recipe uses.
type traefikIngressRoute struct {
	typeMeta `json:",inline"`
	Spec     struct {
		EntryPoints []string `json:"entryPoints"`
		Routes      []struct {
			Match       string `json:"match"`
			Kind        string `json:"kind"`
			Middlewares []struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"middlewares"`
			Services []struct {
				Name string `json:"name"`
				Port int    `json:"port"`
			} `json:"services"`
		} `json:"routes"`
	} `json:"spec"`
}

func loadTraefikRecipe(t *testing.T) traefikMiddleware {
	t.Helper()
	objs := objects(t, traefikRecipe)
	if len(objs["Middleware"]) != 1 || len(objs["IngressRoute"]) != 1 || len(objs) != 2 {
		t.Fatal("want one Middleware and one IngressRoute")
	}
	var mw traefikMiddleware
	strict(t, "the Middleware", objs["Middleware"][0], &mw)
	var route traefikIngressRoute
	strict(t, "the IngressRoute", objs["IngressRoute"][0], &route)
	for _, o := range []typeMeta{mw.typeMeta, route.typeMeta} {
		if o.APIVersion != "traefik.io/v1alpha1" {
			t.Errorf("%s apiVersion = %q, want traefik.io/v1alpha1", o.Kind, o.APIVersion)
		}
	}
	uses := false
	for _, r := range route.Spec.Routes {
		for _, m := range r.Middlewares {
			if m.Name == mw.Metadata.Name && (m.Namespace == "" || m.Namespace == mw.Metadata.Namespace) {
				uses = true
			}
		}
	}
	if !uses || route.Metadata.Namespace != mw.Metadata.Namespace {
		t.Errorf("the IngressRoute must use the Middleware %s/%s", mw.Metadata.Namespace, mw.Metadata.Name)
	}
	if mw.Spec.ForwardAuth == nil {
		t.Fatal("the Middleware has no forwardAuth")
	}
	return mw
}

func TestTraefikRecipeConfig(t *testing.T) {
	fa := loadTraefikRecipe(t).Spec.ForwardAuth
	if fa.Address != authURL {
		t.Errorf("address = %q, want %q", fa.Address, authURL)
	}
	if fa.TrustForwardHeader == nil || *fa.TrustForwardHeader {
		t.Error("trustForwardHeader must be set to false: Traefik must replace a client's X-Forwarded-* before authgate trusts them")
	}
	checkHeaderList(t, "authResponseHeaders", fa.AuthResponseHeaders)
	if fa.AuthResponseHeadersRegex != "" {
		t.Error("authResponseHeadersRegex is set; the recipe lists the headers by name")
	}
	for _, h := range []string{"Authorization", "Cookie", "Accept"} {
		if !slices.ContainsFunc(fa.AuthRequestHeaders, func(s string) bool { return strings.EqualFold(s, h) }) {
			t.Errorf("authRequestHeaders lacks %s, which authgate reads", h)
		}
	}
	for _, h := range fa.AuthRequestHeaders {
		if l := strings.ToLower(h); l == "x-original-url" || l == "x-original-method" || strings.HasPrefix(l, "x-forwarded-") {
			t.Errorf("authRequestHeaders passes the client's %s to authgate", h)
		}
	}
	if fa.ForwardBody {
		t.Error("forwardBody is set: authgate decides on headers only")
	}
}

// traefikStack is the shipped Middleware's settings, imitated, in front of
// the echo app, asking an in-process authgate.
type traefikStack struct {
	a   *authgate
	up  *upstream.Server
	url string // the imitation's base URL
}

func startTraefik(t *testing.T, a *authgate, authgateHTTPAddr string) *traefikStack {
	t.Helper()
	fa := loadTraefikRecipe(t).Spec.ForwardAuth
	// The address names the chart's Service; keep its path, dial loopback.
	addr, err := url.Parse(fa.Address)
	if err != nil {
		t.Fatalf("address: %v", err)
	}
	addr.Host = authgateHTTPAddr
	up := upstream.New()
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	srv := httptest.NewServer(newForwardAuth(addr.String(), fa.AuthRequestHeaders, fa.AuthResponseHeaders, upURL))
	t.Cleanup(srv.Close)
	return &traefikStack{a: a, up: up, url: srv.URL}
}

// TestTraefikRecipeThroughForwardAuth runs the shipped Middleware's settings
// against authgate trusting the imitation's address (127.0.0.1/32).
func TestTraefikRecipeThroughForwardAuth(t *testing.T) {
	a := startAuthgate(t, "127.0.0.1/32")
	s := startTraefik(t, a, a.srv.HTTPAddr())
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
		location     string            // the Location the client must get; "" none
		upstream     map[string]string // nil: the app is not reached
	}{
		"valid token reaches the app, every forged identity header replaced": {
			host: "shop.example.com", target: "/orders?page=2",
			header: merge(forged, map[string]string{"Authorization": "Bearer " + alice}),
			status: http.StatusOK, upstream: asAlice,
		},
		"anonymous public page, forged identity removed": {
			host: "shop.example.com", target: "/public/about", header: forged,
			status: http.StatusOK, upstream: map[string]string{"X-Gateway": "authgate"},
		},
		"API client without a token gets 401 and the challenge": {
			host: "shop.example.com", target: "/orders",
			status: http.StatusUnauthorized, challenge: `Bearer realm="shop.example.com"`,
		},
		"browser without a token is sent to sign in": {
			host: "shop.example.com", target: "/orders",
			header: map[string]string{"Accept": "text/html,application/xhtml+xml"},
			status: http.StatusFound, location: "https://auth.example.com/login?redirect_uri=http%3A%2F%2Fshop.example.com%2Forders",
		},
		"role missing on /admin": {
			host: "shop.example.com", target: "/admin/users",
			header: map[string]string{"Authorization": "Bearer " + member},
			status: http.StatusForbidden,
		},
		// The client names a public URL in X-Original-URL (the nginx
		// contract) while asking for /admin: Traefik's X-Forwarded-* from a
		// trusted peer decide (and the recipe does not pass it on anyway).
		"client X-Original-URL does not override X-Forwarded-*": {
			host: "shop.example.com", target: "/admin/users",
			header: map[string]string{"X-Original-URL": "http://shop.example.com/public/x", "X-Original-Method": "GET"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="shop.example.com"`,
		},
		"client X-Forwarded-* are replaced by Traefik's": {
			host: "shop.example.com", target: "/admin/users",
			header: map[string]string{"X-Forwarded-Host": "blog.example.com", "X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="shop.example.com"`,
		},
		"dependency failure is 503": {
			host: "down.example.com", target: "/",
			header: map[string]string{"Authorization": "Bearer " + a.mintDown(t)},
			status: http.StatusServiceUnavailable,
		},
	}
	c := client(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.up.Reset()
			req := newRequest(t, http.MethodGet, s.url+tc.target)
			req.Host = tc.host
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, _ := do(t, c, req)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge && tc.location == "" {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if loc := resp.Header.Get("Location"); loc != tc.location {
				t.Errorf("Location = %q, want %q", loc, tc.location)
			}
			reqs := s.up.Requests()
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

	t.Run("authgate unreachable fails closed", func(t *testing.T) {
		dead := startTraefik(t, a, closedAddr(t))
		req := newRequest(t, http.MethodGet, dead.url+"/public/about")
		req.Host = "shop.example.com"
		resp, _ := do(t, c, req)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status = %d, want Traefik's 500", resp.StatusCode)
		}
		if n := len(dead.up.Requests()); n != 0 {
			t.Errorf("the app was reached %d times, want never", n)
		}
	})
}

// TestTraefikRecipeUntrusted runs the same settings against an authgate
// whose --trusted-proxies misses the proxy (10.0.0.0/8 while it calls from
// 127.0.0.1): Traefik's X-Forwarded-* are ignored, authgate reads its own
// host, which no policy claims, and refuses everything.
func TestTraefikRecipeUntrusted(t *testing.T) {
	a := startAuthgate(t, "10.0.0.0/8")
	s := startTraefik(t, a, a.srv.HTTPAddr())
	alice := a.mint(t, "alice", nil)
	c := client(t)

	tests := map[string]map[string]string{
		"valid token": {"Authorization": "Bearer " + alice},
		"public page": nil,
		// authRequestHeaders keeps a client's X-Original-URL from authgate;
		// TestHTTPForwardedContract shows what it would do there.
		"client X-Original-URL naming a public page": {"X-Original-URL": "http://shop.example.com/public/x", "X-Original-Method": "GET"},
	}
	for name, header := range tests {
		t.Run(name, func(t *testing.T) {
			s.up.Reset()
			req := newRequest(t, http.MethodGet, s.url+"/public/about")
			req.Host = "shop.example.com"
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, _ := do(t, c, req)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status = %d, want 403 (authgate's own host is no policy's)", resp.StatusCode)
			}
			if n := len(s.up.Requests()); n != 0 {
				t.Errorf("the app was reached %d times, want never", n)
			}
		})
	}
}

// TestHTTPForwardedContract is the X-Forwarded-* contract of GET /auth
// itself, spoken directly: from a trusted peer the forwarded headers decide
// and beat X-Original-URL; from an untrusted one they are ignored.
func TestHTTPForwardedContract(t *testing.T) {
	forwarded := func(uri string) map[string]string {
		return map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
			"X-Forwarded-Host": "shop.example.com", "X-Forwarded-Uri": uri,
		}
	}
	original := map[string]string{"X-Original-URL": "https://shop.example.com/public/x", "X-Original-Method": "GET"}
	tests := map[string]struct {
		trusted string
		header  map[string]string
		status  int
	}{
		"trusted: forwarded public page is allowed": {
			trusted: "127.0.0.1/32", header: forwarded("/public/x"), status: http.StatusOK,
		},
		"trusted: forwarded /admin needs a token": {
			trusted: "127.0.0.1/32", header: forwarded("/admin"), status: http.StatusUnauthorized,
		},
		"trusted: X-Original-URL cannot override X-Forwarded-*": {
			trusted: "127.0.0.1/32", header: merge(forwarded("/admin"), original), status: http.StatusUnauthorized,
		},
		"untrusted: forwarded headers are ignored": {
			trusted: "10.0.0.0/8", header: forwarded("/public/x"), status: http.StatusForbidden,
		},
		// Why the Traefik recipe sets authRequestHeaders: from an untrusted
		// peer the nginx contract applies, and X-Original-URL decides.
		"untrusted: X-Original-URL is the nginx contract": {
			trusted: "10.0.0.0/8", header: merge(forwarded("/admin"), original), status: http.StatusOK,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := startAuthgate(t, tc.trusted)
			req := newRequest(t, http.MethodGet, "http://"+a.srv.HTTPAddr()+"/auth")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, _ := do(t, client(t), req)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
