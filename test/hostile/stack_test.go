package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/netguard"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/envoy"
	"github.com/authgate/authgate/test/resolver"
	"github.com/authgate/authgate/test/upstream"
)

// policies protect shop.example.com with JWTs and www.example.com with
// Authgear sessions; the meta policies point their key and resolver URLs at
// the cloud metadata address, which the servers here deny.
const policies = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: ["shop.example.com", "xn--bcher-kva.example.com", "*.shop.example.com"]
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
    - {claim: roles, contains: admin}
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-User-Id: {claim: sub}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: web, namespace: web}
spec:
  hosts: ["www.example.com"]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver: {url: {{RESOLVER}}}
  rules:
  - name: public
    match: {pathPrefix: /public}
    allowAnonymous: true
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: meta-jwks, namespace: tenant}
spec:
  hosts: ["meta-jwks.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: {{ISSUER}}, jwksURI: "http://169.254.169.254/latest/meta-data/jwks", audiences: ["shop"]}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: meta-discovery, namespace: tenant}
spec:
  hosts: ["meta-discovery.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "http://[fe80::a9fe:a9fe]", audiences: ["shop"]}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: meta-session, namespace: tenant}
spec:
  hosts: ["meta-session.example.com"]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver: {url: "http://169.254.169.254/resolve"}
  rules:
  - name: all
    match: {pathPrefix: /}
`

// stack is authgate with the doubles it calls, and the proxy-faithful
// clients that call it.
type stack struct {
	iss      *devissuer.Issuer
	resolver *resolver.Authgear
	srv      *server.Server
	// untrusted serves the same policies but trusts no proxy: every peer's
	// X-Forwarded-* headers are client input there.
	untrusted *server.Server
	grpc      authv3.AuthorizationClient
	up        *upstream.Server
	proxyURL  string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	authgear := resolver.NewAuthgear(resolver.AuthgearConfig{})
	up := upstream.New()
	s := &stack{iss: iss, resolver: authgear, up: up}

	yaml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{RESOLVER}}", authgear.ResolveURL()).Replace(policies)
	ps, err := source.ParseFile("hostile.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := func(trusted []netip.Prefix) (*server.Server, chan error) {
		srv, err := server.New(ctx, server.Config{
			HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
			TrustedProxies: trusted,
			// As --deny-link-local sets it.
			DenyUpstream:  netguard.LinkLocal,
			Log:           logr.Discard(),
			ShutdownGrace: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		srv.Apply(ps)
		if probs := srv.Store().Load().Problems(); len(probs) != 0 {
			t.Fatalf("policies not in force: %+v", probs)
		}
		return srv, done
	}
	var done, doneUntrusted chan error
	s.srv, done = start([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	s.untrusted, doneUntrusted = start(nil)

	conn, err := grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s.grpc = authv3.NewAuthorizationClient(conn)
	proxy, err := envoy.New(envoy.Config{AuthzAddr: s.srv.GRPCAddr(), Upstream: up.URL, Timeout: 5 * time.Second, StatusOnError: http.StatusServiceUnavailable})
	if err != nil {
		t.Fatal(err)
	}
	if s.proxyURL, err = proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proxy.Close()
		_ = conn.Close()
		cancel()
		for _, d := range []chan error{done, doneUntrusted} {
			if err := <-d; err != nil {
				t.Errorf("server: %v", err)
			}
		}
		up.Close()
		authgear.Close()
		_ = iss.Close()
	})
	// Both servers start fetching the shop key set when the policies load
	// (Provider.Warm, in the background), and both count at the one issuer.
	// A valid token through each waits for its fetch, so that no warm-up
	// fetch lands in a test's count of JWKS fetches.
	tok := s.mint(t, devissuer.Token{Audience: []string{"shop"}})
	for _, srv := range []*server.Server{s.srv, s.untrusted} {
		if a := rawHTTP(t, srv.HTTPAddr(), "/auth", [][2]string{
			{"X-Original-URL", "https://shop.example.com/"}, {"X-Original-Method", http.MethodGet}, {"Authorization", "Bearer " + tok},
		}); a.status != http.StatusOK {
			t.Fatalf("warming the key set: %d, want 200", a.status)
		}
	}
	return s
}

// req is one original request as a client sent it. Headers keep their order,
// spelling and repeats.
type req struct {
	method string // default GET
	host   string // default shop.example.com
	target string // raw path and query; default /api
	header [][2]string
	// originalURL replaces the X-Original-URL nginx would build from host
	// and target (for the HTTP contract only).
	originalURL string
}

func (r req) withDefaults() req {
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.host == "" {
		r.host = "shop.example.com"
	}
	if r.target == "" {
		r.target = "/api"
	}
	return r
}

// answer is what one transport answered.
type answer struct {
	status int
	// headers the upstream would get set (gRPC OkHttpResponse, HTTP 200
	// response headers), lower-case names.
	set map[string]string
	// remove lists the gRPC headers_to_remove.
	remove []string
}

// viaGRPC sends the CheckRequest Envoy builds for the request. The path is
// set raw, as Envoy passes :path, so it may carry what Go's client would
// refuse to send.
func (s *stack) viaGRPC(t *testing.T, r req) answer {
	t.Helper()
	r = r.withDefaults()
	hr := httptest.NewRequest(r.method, "http://"+r.host+"/", nil)
	hr.RemoteAddr = "192.0.2.10:40000"
	hr.Host = r.host
	for _, kv := range r.header {
		hr.Header[kv[0]] = append(hr.Header[kv[0]], kv[1])
	}
	cr := envoy.BuildCheckRequest(hr, nil)
	h := cr.GetAttributes().GetRequest().GetHttp()
	h.Path = r.target
	h.Headers[":path"] = r.target
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.grpc.Check(ctx, cr)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	a := answer{set: map[string]string{}}
	if codes.Code(res.GetStatus().GetCode()) == codes.OK {
		a.status = http.StatusOK
		for _, h := range res.GetOkResponse().GetHeaders() {
			a.set[strings.ToLower(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
		}
		a.remove = res.GetOkResponse().GetHeadersToRemove()
		return a
	}
	a.status = int(res.GetDeniedResponse().GetStatus().GetCode())
	return a
}

// viaNginx asks /auth as nginx auth_request does: the client's headers as
// they came, plus X-Original-URL and X-Original-Method. The request is
// written byte for byte, so repeated and oddly spelled headers arrive as
// sent.
func (s *stack) viaNginx(t *testing.T, r req) answer {
	t.Helper()
	r = r.withDefaults()
	u := r.originalURL
	if u == "" {
		u = "https://" + r.host + r.target
	}
	h := append([][2]string{{"X-Original-URL", u}, {"X-Original-Method", r.method}}, r.header...)
	return rawHTTP(t, s.srv.HTTPAddr(), "/auth", h)
}

// viaTraefik asks /auth as Traefik ForwardAuth does, from a trusted peer:
// the original request in X-Forwarded-*.
func (s *stack) viaTraefik(t *testing.T, r req) answer {
	t.Helper()
	r = r.withDefaults()
	h := append([][2]string{
		{"X-Forwarded-Method", r.method}, {"X-Forwarded-Proto", "https"},
		{"X-Forwarded-Host", r.host}, {"X-Forwarded-Uri", r.target},
	}, r.header...)
	return rawHTTP(t, s.srv.HTTPAddr(), "/auth", h)
}

// rawHTTP writes a GET for path with exactly the given header lines and
// reads the answer.
func rawHTTP(t *testing.T, addr, path string, header [][2]string) answer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: authgate.internal\r\nConnection: close\r\n", path)
	for _, kv := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	a := answer{status: res.StatusCode, set: map[string]string{}}
	if res.StatusCode == http.StatusOK {
		for name, vs := range res.Header {
			a.set[strings.ToLower(name)] = strings.Join(vs, ",")
		}
	}
	return a
}

// mint signs a token with the issuer's keys.
func (s *stack) mint(t *testing.T, tok devissuer.Token) string {
	t.Helper()
	v, err := s.iss.Mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signRaw signs exactly the given header and claims JSON.
func (s *stack) signRaw(t *testing.T, alg, header, claims string) string {
	t.Helper()
	v, err := s.iss.SignRaw(alg, []byte(header), []byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func bearer(tok string) [][2]string { return [][2]string{{"Authorization", "Bearer " + tok}} }
