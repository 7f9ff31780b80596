// Package conformance runs one table of requests through every transport
// authgate serves — Envoy ext_authz gRPC (directly, and through the
// Envoy-faithful proxy to a real upstream), the nginx-style HTTP endpoint and
// the /envoy HTTP endpoint — and requires the same verdict, status and
// identity headers from each. One engine, every transport.
package conformance

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/envoy"
	"github.com/authgate/authgate/test/resolver"
	"github.com/authgate/authgate/test/upstream"
)

// identityHeaders are every header the test policies may set.
var identityHeaders = []string{
	"X-User-Id", "X-Tenant", "X-Gateway", "X-Auth-Request-User",
	"X-Authgear-Session-Valid", "X-Authgear-User-Id", "X-Authgear-User-Anonymous", "X-Authgear-User-Verified",
	"X-Authgear-User-Can-Reauthenticate", "X-Authgear-User-Roles", "X-Authgear-Session-Amr", "X-Authgear-Session-Authenticated-At",
}

const policies = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: ["shop.example.com", "*.shop.example.com"]
  authenticators:
  - name: bearer
    jwt:
      issuer: {{ISSUER}}
      audiences: ["shop"]
      from:
      - header: {name: Authorization, prefix: "Bearer "}
      - cookie: {name: access_token}
  rules:
  - name: public
    match: {pathPrefix: /public, methods: [GET, HEAD]}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    require:
    - {claim: "https://authgear.com/claims/user/roles", contains: admin}
  - name: orders
    match: {path: /api/orders, methods: [POST]}
    require:
    - {claim: scope, contains: "orders:write"}
    - {claim: tenant, oneOf: [acme, globex]}
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-User-Id: {claim: sub}
      X-Tenant: {claim: tenant}
      X-Gateway: {value: authgate}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: plain, namespace: blog}
spec:
  hosts: ["blog.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: {{ISSUER}}, jwksURI: {{JWKS}}, audiences: ["blog"]}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: down, namespace: ops}
spec:
  hosts: ["down.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: {{DOWN}}, audiences: ["ops"]}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: web, namespace: web}
spec:
  hosts: ["www.example.com"]
  authenticators:
  - name: opaque
    introspection:
      url: {{INTROSPECT}}
      clientID: authgate
      clientSecretRef: {name: web-introspection, key: clientSecret}
      from: [{header: {name: X-Api-Token}}]
  - name: web
    session:
      cookies: [session]
      resolver: {url: {{RESOLVER}}, forwardHeaders: [User-Agent]}
  rules:
  - name: assets
    match: {pathPrefix: /assets}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    require:
    - {claim: "https://authgear.com/claims/user/roles", contains: admin}
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
  signIn: {url: "https://auth.example.com/login?redirect_uri={url}"}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: broken, namespace: web}
spec:
  hosts: ["broken.example.com"]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver: {url: {{BROKEN}}}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: trial, namespace: ops}
spec:
  hosts: ["trial.example.com"]
  enforcement: DryRun
  authenticators:
  - name: bearer
    jwt: {issuer: {{ISSUER}}, audiences: ["shop"]}
  rules:
  - name: all
    match: {pathPrefix: /}
`

type stack struct {
	resolver *resolver.Authgear
	intro    *resolver.Introspection
	iss      *devissuer.Issuer
	up       *upstream.Server
	srv      *server.Server
	grpc     authv3.AuthorizationClient
	health   healthpb.HealthClient
	proxyURL string
	proxy    *envoy.Proxy
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	down, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	down.SetFailing(true)
	up := upstream.New()
	authgear := resolver.NewAuthgear(resolver.AuthgearConfig{})
	intro := resolver.NewIntrospection(resolver.IntrospectionConfig{})
	broken := resolver.NewAuthgear(resolver.AuthgearConfig{})
	broken.SetFault(resolver.Status500)

	srv, err := server.New(ctx, server.Config{
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Log: logr.Discard(), ShutdownGrace: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{resolver: authgear, intro: intro, iss: iss, up: up, srv: srv, grpc: authv3.NewAuthorizationClient(conn), health: healthpb.NewHealthClient(conn)}

	// Not ready before the first snapshot: health says so, Check fails closed.
	if st := s.healthStatus(t); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health before policies = %v, want NOT_SERVING", st)
	}
	if code := httpGet(t, "http://"+srv.MetricsAddr()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before policies = %d, want 503", code)
	}

	yaml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{JWKS}}", iss.JWKSURI(), "{{DOWN}}", down.URL,
		"{{RESOLVER}}", authgear.ResolveURL(), "{{INTROSPECT}}", intro.IntrospectURL(), "{{BROKEN}}", broken.ResolveURL()).Replace(policies)
	secrets := func(_, name, key string) ([]byte, bool) {
		if name == "web-introspection" && key == "clientSecret" {
			return []byte(intro.ClientSecret() + "\n"), true
		}
		return nil, false
	}
	ps, err := source.ParseFile("conformance.yaml", []byte(yaml), secrets)
	if err != nil {
		t.Fatal(err)
	}
	srv.Apply(ps)
	if st := s.healthStatus(t); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after policies = %v, want SERVING", st)
	}
	if code := httpGet(t, "http://"+srv.MetricsAddr()+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after policies = %d", code)
	}

	// The proxy as a careful operator configures Envoy: fail closed with 503.
	s.proxy, err = envoy.New(envoy.Config{AuthzAddr: srv.GRPCAddr(), Upstream: up.URL, Timeout: 5 * time.Second, StatusOnError: http.StatusServiceUnavailable})
	if err != nil {
		t.Fatal(err)
	}
	if s.proxyURL, err = s.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.proxy.Close()
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		up.Close()
		authgear.Close()
		intro.Close()
		broken.Close()
		_ = iss.Close()
		_ = down.Close()
	})
	return s
}

func (s *stack) healthStatus(t *testing.T) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	return res.GetStatus()
}

func httpGet(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

func (s *stack) mint(t *testing.T, tok devissuer.Token) string {
	t.Helper()
	v, err := s.iss.Mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verdict is what one transport answered, reduced to what must agree.
type verdict struct {
	status    int
	challenge string
	identity  map[string]string // identity headers set (HTTP: on the 200; gRPC: in OkHttpResponse)
}

func (v verdict) String() string {
	return fmt.Sprintf("%d %q %v", v.status, v.challenge, v.identity)
}

type testCase struct {
	method string
	host   string
	target string
	header http.Header
}

func (c testCase) httpRequest() *http.Request {
	r := httptest.NewRequest(c.method, "http://"+c.host+c.target, nil)
	r.RemoteAddr = "192.0.2.10:40000"
	for k, vs := range c.header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

// viaGRPC asks the ext_authz server directly with the CheckRequest Envoy
// would build for the request.
func (s *stack) viaGRPC(t *testing.T, c testCase) verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.grpc.Check(ctx, envoy.BuildCheckRequest(c.httpRequest(), nil))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	v := verdict{identity: map[string]string{}}
	if codes.Code(res.GetStatus().GetCode()) == codes.OK {
		v.status = http.StatusOK
		for _, h := range res.GetOkResponse().GetHeaders() {
			v.identity[http.CanonicalHeaderKey(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
		}
		return v
	}
	d := res.GetDeniedResponse()
	v.status = int(d.GetStatus().GetCode())
	for _, h := range d.GetHeaders() {
		if strings.EqualFold(h.GetHeader().GetKey(), "www-authenticate") {
			v.challenge = h.GetHeader().GetValue()
		}
	}
	wantCode := map[int]codes.Code{401: codes.Unauthenticated, 403: codes.PermissionDenied, 503: codes.Unavailable, 400: codes.InvalidArgument}[v.status]
	if got := codes.Code(res.GetStatus().GetCode()); got != wantCode {
		t.Errorf("gRPC status %v for HTTP %d, want %v", got, v.status, wantCode)
	}
	return v
}

// viaAuthRequest asks the HTTP endpoint the way nginx auth_request does.
func (s *stack) viaAuthRequest(t *testing.T, c testCase) verdict {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.srv.HTTPAddr()+"/auth", nil)
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	req.Header.Set("X-Original-URL", "https://"+c.host+c.target)
	req.Header.Set("X-Original-Method", c.method)
	return s.doHTTP(t, req)
}

// viaEnvoyHTTP asks the /envoy endpoint as Envoy's HTTP ext_authz service
// does: the original request's own host, path and headers, below a prefix.
func (s *stack) viaEnvoyHTTP(t *testing.T, c testCase) verdict {
	t.Helper()
	req, _ := http.NewRequest(c.method, "http://"+s.srv.HTTPAddr()+"/envoy"+c.target, nil)
	req.Host = c.host
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	return s.doHTTP(t, req)
}

func (s *stack) doHTTP(t *testing.T, req *http.Request) verdict {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	v := verdict{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), identity: map[string]string{}}
	if res.StatusCode == http.StatusOK {
		for _, name := range identityHeaders {
			if val := res.Header.Get(name); val != "" {
				v.identity[name] = val
			}
		}
		if cc := res.Header.Get("Cache-Control"); cc == "" {
			t.Errorf("an allow must say how long it may be cached")
		}
	}
	return v
}

// viaEnvoyProxy sends the request through the Envoy-faithful proxy to the
// upstream, and reports what the client got and what reached the upstream.
func (s *stack) viaEnvoyProxy(t *testing.T, c testCase) (verdict, bool) {
	t.Helper()
	s.up.Reset()
	req, _ := http.NewRequest(c.method, s.proxyURL+c.target, nil)
	req.Host = c.host
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	v := verdict{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), identity: map[string]string{}}
	seen, reached := s.up.Last()
	if reached {
		for _, name := range identityHeaders {
			if vals := seen.Header.Values(name); len(vals) > 0 {
				v.identity[name] = strings.Join(vals, ",")
			}
		}
		for name := range seen.Header {
			if strings.Contains(name, "_") {
				t.Errorf("underscore header %s reached the upstream", name)
			}
		}
	}
	return v, reached
}

func TestConformance(t *testing.T) {
	s := newStack(t)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	alice := s.mint(t, devissuer.Token{Subject: "alice", Audience: []string{"shop"}, Claims: map[string]any{
		"tenant": "acme", "scope": "orders:read orders:write", "amr": []string{"pwd"},
		"https://authgear.com/claims/user/roles":       []string{"viewer"},
		"https://authgear.com/claims/user/is_verified": true,
	}})
	admin := s.mint(t, devissuer.Token{Alg: "ES256", Subject: "root", Audience: []string{"shop"}, Claims: map[string]any{
		"https://authgear.com/claims/user/roles": []string{"admin"},
	}})
	ed := s.mint(t, devissuer.Token{Alg: "EdDSA", Subject: "ed", Audience: []string{"blog"}})
	expired := s.mint(t, devissuer.Token{Subject: "alice", Audience: []string{"shop"}, TTL: -time.Hour})
	wrongAud := s.mint(t, devissuer.Token{Subject: "alice", Audience: []string{"blog"}})
	const challenge = `Bearer realm="shop.example.com"`

	aliceHeaders := map[string]string{
		"X-User-Id": "alice", "X-Tenant": "acme", "X-Gateway": "authgate",
		"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "alice", "X-Authgear-User-Roles": "viewer",
		"X-Authgear-User-Verified": "true", "X-Authgear-Session-Amr": "pwd",
	}
	forged := http.Header{"X-User-Id": {"mallory"}, "X-Authgear-User-Id": {"mallory"}, "X_user_id": {"mallory"}, "X-Tenant": {"evil"}, "X-Authgear-Session-Valid": {"true"}}
	with := func(h http.Header, more http.Header) http.Header {
		out := h.Clone()
		for k, v := range more {
			out[k] = v
		}
		return out
	}

	tests := map[string]struct {
		c     testCase
		want  verdict
		reach bool
	}{
		"allowed, identity headers": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/api/cart?x=1", header: bearer(alice)},
			want: verdict{status: 200, identity: aliceHeaders}, reach: true,
		},
		"allowed, token in a cookie, host with port and upper case": {
			c:    testCase{method: "GET", host: "Shop.Example.com:443", target: "/", header: http.Header{"Cookie": {"theme=dark; access_token=" + alice}}},
			want: verdict{status: 200, identity: aliceHeaders}, reach: true,
		},
		"forged identity headers are replaced": {
			c:    testCase{method: "GET", host: "www.shop.example.com", target: "/", header: with(bearer(alice), forged)},
			want: verdict{status: 200, identity: aliceHeaders}, reach: true,
		},
		"forged identity headers on an anonymous request are removed": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/public/index.html", header: forged},
			want: verdict{status: 200, identity: map[string]string{"X-Gateway": "authgate"}}, reach: true,
		},
		"no credential": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/api/cart"},
			want: verdict{status: 401, challenge: challenge},
		},
		"expired token": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/api/cart", header: bearer(expired)},
			want: verdict{status: 401, challenge: challenge + `, error="invalid_token"`},
		},
		"wrong audience": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/api/cart", header: bearer(wrongAud)},
			want: verdict{status: 401, challenge: challenge + `, error="invalid_token"`},
		},
		"garbage token": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/api/cart", header: bearer("a.b.c")},
			want: verdict{status: 401, challenge: challenge + `, error="invalid_token"`},
		},
		"failed condition": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/admin/users", header: bearer(alice)},
			want: verdict{status: 403},
		},
		"condition holds (ES256)": {
			c: testCase{method: "GET", host: "shop.example.com", target: "/admin/users", header: bearer(admin)},
			want: verdict{status: 200, identity: map[string]string{
				"X-User-Id": "root", "X-Gateway": "authgate", "X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "root", "X-Authgear-User-Roles": "admin",
			}}, reach: true,
		},
		"all conditions of an exact rule": {
			c:    testCase{method: "POST", host: "shop.example.com", target: "/api/orders", header: bearer(alice)},
			want: verdict{status: 200, identity: aliceHeaders}, reach: true,
		},
		"scope missing": {
			c:    testCase{method: "POST", host: "shop.example.com", target: "/api/orders", header: bearer(admin)},
			want: verdict{status: 403, challenge: challenge + `, error="insufficient_scope"`},
		},
		"dot segments are decided as /admin": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/public/%2e%2e/admin"},
			want: verdict{status: 401, challenge: challenge},
		},
		"a path that reads as /admin to a router that keeps dots": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/admin/../public/x"},
			want: verdict{status: 401, challenge: challenge},
		},
		"matrix dot-dot reads as /admin to Tomcat": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/public/..;/admin"},
			want: verdict{status: 401, challenge: challenge},
		},
		"matrix parameter reads as /admin to Spring": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/admin;x=1", header: bearer(alice)},
			want: verdict{status: 403},
		},
		"exact rule with a trailing slash": {
			c:    testCase{method: "POST", host: "shop.example.com", target: "/api/orders/", header: bearer(admin)},
			want: verdict{status: 403, challenge: challenge + `, error="insufficient_scope"`},
		},
		"encoded slash is refused": {
			c:    testCase{method: "GET", host: "shop.example.com", target: "/public%2F..%2Fadmin"},
			want: verdict{status: 400},
		},
		"unknown host": {
			c:    testCase{method: "GET", host: "evil.example.com", target: "/", header: bearer(alice)},
			want: verdict{status: 403},
		},
		"default response header (EdDSA, jwksURI)": {
			c:    testCase{method: "GET", host: "blog.example.com", target: "/post", header: bearer(ed)},
			want: verdict{status: 200, identity: map[string]string{"X-Auth-Request-User": "ed"}}, reach: true,
		},
		"JWKS unreachable is 503, never 401": {
			c:    testCase{method: "GET", host: "down.example.com", target: "/", header: bearer(alice)},
			want: verdict{status: 503},
		},
		"DryRun allows what it would deny": {
			c:    testCase{method: "GET", host: "trial.example.com", target: "/"},
			want: verdict{status: 200, identity: map[string]string{}}, reach: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			transports := map[string]verdict{
				"grpc":         s.viaGRPC(t, tc.c),
				"auth_request": s.viaAuthRequest(t, tc.c),
				"envoy_http":   s.viaEnvoyHTTP(t, tc.c),
			}
			proxied, reached := s.viaEnvoyProxy(t, tc.c)
			transports["envoy_proxy"] = proxied
			for transport, got := range transports {
				if got.String() != tc.want.String() {
					t.Errorf("%s: got %v\n want %v", transport, got, tc.want)
				}
			}
			if reached != tc.reach {
				t.Errorf("upstream reached = %v, want %v", reached, tc.reach)
			}
		})
	}
}

// TestEnvoyFailsClosedWhenAuthgateIsDown: with authgate gone, the Envoy
// proxy answers status_on_error and never reaches the upstream.
func TestEnvoyFailsClosedWhenAuthgateIsDown(t *testing.T) {
	up := upstream.New()
	defer up.Close()
	// An address nothing listens on: a listener opened and closed.
	ln := httptest.NewServer(http.NotFoundHandler())
	addr := ln.Listener.Addr().String()
	ln.Close()
	p, err := envoy.New(envoy.Config{AuthzAddr: addr, Upstream: up.URL, Timeout: time.Second, StatusOnError: http.StatusServiceUnavailable})
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if code := httpGet(t, u+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", code)
	}
	if _, reached := up.Last(); reached {
		t.Fatal("the upstream was reached with authgate down")
	}
}

// TestMetricsCountDecisions scrapes /metrics after a few decisions.
func TestMetricsCountDecisions(t *testing.T) {
	s := newStack(t)
	_ = s.viaAuthRequest(t, testCase{method: "GET", host: "shop.example.com", target: "/api"})
	_ = s.viaGRPC(t, testCase{method: "GET", host: "nowhere.example.com", target: "/"})
	res, err := http.Get("http://" + s.srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`authgate_decisions_total{decision="deny",policy="shop",policy_namespace="shop",reason="no_credential",transport="http"} 1`,
		`authgate_decisions_total{decision="deny",policy="",policy_namespace="",reason="unknown_host",transport="grpc"} 1`,
		`authgate_decision_duration_seconds_bucket{transport="grpc"`,
		`authgate_policies_active{enforcement="Enforce"} 5`,
		`authgate_policies_active{enforcement="DryRun"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSamplePoliciesServe loads config/samples from disk into a server, as
// `authgate serve --policies config/samples` would.
func TestSamplePoliciesServe(t *testing.T) {
	dir, err := filepath.Abs("../../config/samples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Config{Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	var got []*policy.Policy
	f := &source.Folder{Dir: dir, Log: logr.Discard(), OnUpdate: func(ps []*policy.Policy) { got = ps; srv.Apply(ps) }}
	if err := f.Load(); err != nil {
		t.Fatalf("samples do not load: %v", err)
	}
	if len(got) < 2 || len(srv.Store().Load().Problems()) != 0 {
		t.Fatalf("samples: %d policies, problems %+v", len(got), srv.Store().Load().Problems())
	}
}

// TestSessionConformance runs cookie sessions and opaque tokens through
// every transport: same verdicts, same identity headers as a JWT would give.
func TestSessionConformance(t *testing.T) {
	s := newStack(t)
	s.resolver.AddSession("alice-cookie", resolver.Session{UserID: "alice", Verified: true, Roles: []string{"viewer"}, AMR: []string{"pwd"}})
	s.resolver.AddSession("root-cookie", resolver.Session{UserID: "root", Roles: []string{"admin"}})
	s.intro.AddToken("opaque-alice", map[string]any{"sub": "alice", "exp": float64(time.Now().Add(time.Hour).Unix())})
	s.intro.AddToken("opaque-expired", map[string]any{"sub": "alice", "exp": float64(time.Now().Add(-time.Hour).Unix())})
	cookie := func(v string) http.Header {
		return http.Header{"Cookie": {"theme=dark; session=" + v}, "Accept": {"application/json"}}
	}
	const challenge = `Bearer realm="www.example.com"`
	alice := map[string]string{
		"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "alice", "X-Authgear-User-Anonymous": "false",
		"X-Authgear-User-Verified": "true", "X-Authgear-User-Can-Reauthenticate": "false", "X-Authgear-User-Roles": "viewer",
		"X-Authgear-Session-Amr": "pwd",
	}
	tests := map[string]struct {
		c     testCase
		want  verdict
		reach bool
	}{
		"valid session cookie": {
			c:    testCase{method: "GET", host: "www.example.com", target: "/account", header: cookie("alice-cookie")},
			want: verdict{status: 200, identity: alice}, reach: true,
		},
		"forged Authgear headers are replaced": {
			c: testCase{method: "GET", host: "www.example.com", target: "/account", header: func() http.Header {
				h := cookie("alice-cookie")
				h["X-Authgear-User-Id"] = []string{"mallory"}
				h["X_authgear_user_id"] = []string{"mallory"}
				h["X-Authgear-User-Roles"] = []string{"admin"}
				return h
			}()},
			want: verdict{status: 200, identity: alice}, reach: true,
		},
		"session condition holds": {
			c: testCase{method: "GET", host: "www.example.com", target: "/admin", header: cookie("root-cookie")},
			want: verdict{status: 200, identity: map[string]string{
				"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "root", "X-Authgear-User-Anonymous": "false",
				"X-Authgear-User-Verified": "false", "X-Authgear-User-Can-Reauthenticate": "false", "X-Authgear-User-Roles": "admin",
			}}, reach: true,
		},
		"session condition fails": {
			c:    testCase{method: "GET", host: "www.example.com", target: "/admin", header: cookie("alice-cookie")},
			want: verdict{status: 403},
		},
		"unknown session cookie": {
			c:    testCase{method: "GET", host: "www.example.com", target: "/account", header: cookie("nope")},
			want: verdict{status: 401, challenge: challenge + `, error="invalid_token"`},
		},
		"no session, API client": {
			c:    testCase{method: "GET", host: "www.example.com", target: "/account", header: http.Header{"Accept": {"application/json"}}},
			want: verdict{status: 401, challenge: challenge},
		},
		"opaque token through introspection": {
			c:    testCase{method: "GET", host: "www.example.com", target: "/api", header: http.Header{"X-Api-Token": {"opaque-alice"}}},
			want: verdict{status: 200, identity: map[string]string{"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "alice"}}, reach: true,
		},
		"inactive opaque token": {
			c:    testCase{method: "GET", host: "www.example.com", target: "/api", header: http.Header{"X-Api-Token": {"opaque-expired"}}},
			want: verdict{status: 401, challenge: challenge + `, error="invalid_token"`},
		},
		"resolver failing is 503, never 401": {
			c:    testCase{method: "GET", host: "broken.example.com", target: "/", header: cookie("alice-cookie")},
			want: verdict{status: 503},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			transports := map[string]verdict{
				"grpc":         s.viaGRPC(t, tc.c),
				"auth_request": s.viaAuthRequest(t, tc.c),
				"envoy_http":   s.viaEnvoyHTTP(t, tc.c),
			}
			proxied, reached := s.viaEnvoyProxy(t, tc.c)
			transports["envoy_proxy"] = proxied
			for transport, got := range transports {
				if got.String() != tc.want.String() {
					t.Errorf("%s: got %v\n want %v", transport, got, tc.want)
				}
			}
			if reached != tc.reach {
				t.Errorf("upstream reached = %v, want %v", reached, tc.reach)
			}
		})
	}
	// The same cookie, asked through four transports and many cases, cost
	// one resolver call per distinct cookie: answers are cached.
	if n := s.resolver.Calls(); n > 4 {
		t.Errorf("resolver calls = %d, want at most one per distinct credential (4)", n)
	}
}

// TestSignInRedirect: a browser without a session is sent to sign in where
// the proxy passes a redirect on (Envoy gRPC and HTTP, Traefik); the nginx
// contract keeps the 401 (nginx would turn a 302 into a 500) and nginx
// redirects with error_page.
func TestSignInRedirect(t *testing.T) {
	s := newStack(t)
	browser := testCase{method: "GET", host: "www.example.com", target: "/account?tab=1", header: http.Header{"Accept": {"text/html,application/xhtml+xml"}}}
	wantLocation := "https://auth.example.com/login?redirect_uri=" + url.QueryEscape("https://www.example.com/account?tab=1")

	// gRPC: a denied response with 302 and Location.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cr := envoy.BuildCheckRequest(browser.httpRequest(), nil)
	cr.GetAttributes().GetRequest().GetHttp().Scheme = "https"
	res, err := s.grpc.Check(ctx, cr)
	if err != nil {
		t.Fatal(err)
	}
	d := res.GetDeniedResponse()
	if d.GetStatus().GetCode() != 302 || codes.Code(res.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Fatalf("gRPC: %v", res)
	}
	var loc string
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == "location" {
			loc = h.GetHeader().GetValue()
		}
	}
	if loc != wantLocation {
		t.Fatalf("gRPC Location = %q, want %q", loc, wantLocation)
	}

	// Through the Envoy proxy, the browser gets the redirect.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", s.proxyURL+browser.target, nil)
	req.Host = browser.host
	req.Header = browser.header.Clone()
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://auth.example.com/login?redirect_uri=") {
		t.Fatalf("Envoy proxy: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// nginx contract: 401, never a 3xx.
	if v := s.viaAuthRequest(t, browser); v.status != http.StatusUnauthorized {
		t.Fatalf("auth_request: %v, want 401", v)
	}
	// An API client keeps its 401 everywhere.
	api := browser
	api.header = http.Header{"Accept": {"application/json"}}
	if v := s.viaGRPC(t, api); v.status != http.StatusUnauthorized {
		t.Fatalf("gRPC API client: %v", v)
	}
}
