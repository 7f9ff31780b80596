package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/observability/tracing"
	"github.com/authgate/authgate/pkg/observability/tracing/otlp"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/envoy"
	"github.com/authgate/authgate/test/resolver"
)

const tracedPolicies = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: ["shop.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{ISSUER}}", jwksURI: "{{JWKS}}", audiences: ["shop"]}
  - name: web
    session:
      cookies: [session]
      resolver: {url: "{{RESOLVER}}"}
  rules:
  - name: default
    match: {pathPrefix: /}
`

// The caller's trace, as the proxy would send it.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	callerState   = "vendor=opaque"
)

// Secrets every request carries somewhere; none may reach a span.
const (
	cookieSecret = "cookie-secret-3f9a1c"
	querySecret  = "query-secret-77d2e0"
)

// tracedStack is a server with tracing into an in-memory exporter, a
// loopback issuer and a loopback Authgear resolver.
type tracedStack struct {
	srv      *Server
	spans    *tracetest.InMemoryExporter
	iss      *devissuer.Issuer
	resolver *resolver.Authgear
	grpc     authv3.AuthorizationClient
}

func newTracedStack(t *testing.T) *tracedStack {
	t.Helper()
	iss, err := devissuer.New(devissuer.Config{Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	res := resolver.NewAuthgear(resolver.AuthgearConfig{})
	t.Cleanup(res.Close)
	exp := tracetest.NewInMemoryExporter()
	// Ratio 0: authgate starts no trace of its own, so every span recorded
	// below is there because the caller's traceparent said "sampled".
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(otlp.Sampler(0)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	srv, cancel, done := newTestServer(t, Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", TracerProvider: tp})
	t.Cleanup(func() { stop(t, cancel, done) })
	yaml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{JWKS}}", iss.JWKSURI(), "{{RESOLVER}}", res.ResolveURL()).Replace(tracedPolicies)
	ps, err := source.ParseFile("traced.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Apply(ps)
	// Wait for the key set fetched when the policy was loaded: a test that
	// ended while that fetch was in flight would leave it behind.
	deadline := time.Now().Add(10 * time.Second)
	for iss.JWKSFetches() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the key set was never fetched after the policy was applied")
		}
		time.Sleep(5 * time.Millisecond)
	}

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &tracedStack{srv: srv, spans: exp, iss: iss, resolver: res, grpc: authv3.NewAuthorizationClient(conn)}
}

// rotatedToken rotates the issuer's key after the key set was fetched and
// mints with the new one: the check must refetch the JWKS (an unknown kid)
// on the request's own path.
func (s *tracedStack) rotatedToken(t *testing.T) string {
	t.Helper()
	if _, err := s.iss.AddKey("ES256"); err != nil {
		t.Fatal(err)
	}
	tok, err := s.iss.Mint(devissuer.Token{Audience: []string{"shop"}, Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// check asks over transport and returns the status authgate answered.
func (s *tracedStack) check(t *testing.T, transport string, header http.Header) int {
	t.Helper()
	target := "https://shop.example.com/orders/42?access_token=" + querySecret
	switch transport {
	case "grpc":
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Header = header
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := s.grpc.Check(ctx, envoy.BuildCheckRequest(r, nil))
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if res.GetOkResponse() != nil {
			return http.StatusOK
		}
		return int(res.GetDeniedResponse().GetStatus().GetCode())
	case "http":
		req, err := http.NewRequest(http.MethodGet, "http://"+s.srv.HTTPAddr()+"/auth", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		req.Header.Set("X-Original-URL", target)
		req.Header.Set("X-Original-Method", http.MethodGet)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode
	}
	t.Fatalf("unknown transport %q", transport)
	return 0
}

// waitSpans waits until a server span has ended (the HTTP adapter ends its
// span after writing the answer) and returns every span recorded.
func (s *tracedStack) waitSpans(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := s.spans.GetSpans()
		for _, sp := range spans {
			if sp.SpanKind == trace.SpanKindServer {
				return spans
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span recorded; spans: %v", names(spans))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name)
	}
	return out
}

func attr(sp tracetest.SpanStub, key attribute.Key) string {
	for _, kv := range sp.Attributes {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTraceParentage sends a request carrying the caller's traceparent
// through each transport and each kind of credential, and requires: a
// server span continuing the caller's trace (parent = the caller's span,
// tracestate kept), a child span for the upstream call the credential
// needed (JWKS refetch, session resolver), the decision's attributes, and
// no secret anywhere in a span.
func TestTraceParentage(t *testing.T) {
	tests := map[string]struct {
		transport  string
		credential string // "jwt" or "session"
		wantName   string
		wantChild  string
		wantRPC    bool
	}{
		"grpc jwt":     {transport: "grpc", credential: "jwt", wantName: "envoy.service.auth.v3.Authorization/Check", wantChild: tracing.SpanJWKSFetch, wantRPC: true},
		"grpc session": {transport: "grpc", credential: "session", wantName: "envoy.service.auth.v3.Authorization/Check", wantChild: tracing.SpanSession, wantRPC: true},
		"http jwt":     {transport: "http", credential: "jwt", wantName: "GET /auth", wantChild: tracing.SpanJWKSFetch},
		"http session": {transport: "http", credential: "session", wantName: "GET /auth", wantChild: tracing.SpanSession},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newTracedStack(t)
			header := http.Header{}
			header.Set("Traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
			header.Set("Tracestate", callerState)
			var secrets []string
			wantAuthenticator := "web"
			switch tc.credential {
			case "jwt":
				tok := s.rotatedToken(t)
				header.Set("Authorization", "Bearer "+tok)
				secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '.')+1:])
				wantAuthenticator = "bearer"
			case "session":
				s.resolver.AddSession(cookieSecret, resolver.Session{UserID: "alice"})
				header.Set("Cookie", "session="+cookieSecret)
				secrets = append(secrets, cookieSecret)
			}
			secrets = append(secrets, querySecret, "access_token")
			if status := s.check(t, tc.transport, header); status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}

			spans := s.waitSpans(t)
			var server, child *tracetest.SpanStub
			for i := range spans {
				switch {
				case spans[i].SpanKind == trace.SpanKindServer:
					server = &spans[i]
				case spans[i].Name == tc.wantChild:
					child = &spans[i]
				}
			}
			if server == nil || child == nil {
				t.Fatalf("want a server span and a %q span, got %v", tc.wantChild, names(spans))
			}
			if server.Name != tc.wantName {
				t.Errorf("server span name %q, want %q", server.Name, tc.wantName)
			}
			if got := server.SpanContext.TraceID().String(); got != callerTraceID {
				t.Errorf("server span trace %s, want the caller's %s", got, callerTraceID)
			}
			if got := server.Parent.SpanID().String(); got != callerSpanID || !server.Parent.IsRemote() {
				t.Errorf("server span parent %s (remote %v), want the caller's span %s", got, server.Parent.IsRemote(), callerSpanID)
			}
			if got := server.SpanContext.TraceState().String(); got != callerState {
				t.Errorf("tracestate %q, want the caller's %q", got, callerState)
			}
			if child.Parent.SpanID() != server.SpanContext.SpanID() || child.SpanContext.TraceID() != server.SpanContext.TraceID() {
				t.Errorf("%q span's parent is %s, want the server span %s", child.Name, child.Parent.SpanID(), server.SpanContext.SpanID())
			}
			if child.SpanKind != trace.SpanKindClient {
				t.Errorf("%q span kind %v, want client", child.Name, child.SpanKind)
			}

			want := map[attribute.Key]string{
				"http.request.method":       "GET",
				"url.path":                  "/orders/42",
				"server.address":            "shop.example.com",
				"http.response.status_code": "200",
				tracing.KeyDecision:         "allow",
				tracing.KeyReason:           "allowed",
				tracing.KeyPolicy:           "shop/shop",
				tracing.KeyRule:             "default",
				tracing.KeyAuthenticator:    wantAuthenticator,
			}
			if tc.wantRPC {
				want["rpc.system"] = "grpc"
				want["rpc.method"] = "Check"
			} else {
				want["http.route"] = "/auth"
			}
			for k, v := range want {
				if got := attr(*server, k); got != v {
					t.Errorf("server span %s = %q, want %q", k, got, v)
				}
			}
			if attr(*child, "server.address") != "127.0.0.1" || attr(*child, "http.request.method") != "GET" {
				t.Errorf("%q span attributes %v lack the upstream's address or method", child.Name, child.Attributes)
			}

			if tc.credential == "session" {
				// The resolver is told the trace too, so its spans join it.
				got := s.resolver.LastRequest().Header.Get("Traceparent")
				if !strings.Contains(got, callerTraceID) || !strings.Contains(got, child.SpanContext.SpanID().String()) {
					t.Errorf("resolver got traceparent %q, want the resolve span's in trace %s", got, callerTraceID)
				}
			}
			assertNoSecrets(t, spans, secrets)
		})
	}
}

// TestTraceUnsampledCaller: a caller that decided not to sample gets no
// spans from authgate (parent-based sampling), and the decision stands.
func TestTraceUnsampledCaller(t *testing.T) {
	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			s := newTracedStack(t)
			s.resolver.AddSession(cookieSecret, resolver.Session{UserID: "alice"})
			header := http.Header{}
			header.Set("Traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-00")
			header.Set("Cookie", "session="+cookieSecret)
			if status := s.check(t, transport, header); status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}
			// A sampled check on the same server proves spans would have
			// been recorded by now had the first been sampled.
			header.Set("Traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
			if status := s.check(t, transport, header); status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}
			servers := 0
			for _, sp := range s.waitSpans(t) {
				if sp.SpanKind == trace.SpanKindServer {
					servers++
				}
			}
			if servers != 1 {
				t.Errorf("%d server spans, want 1 (the sampled request's only)", servers)
			}
		})
	}
}

// TestTraceDenyHasNoSecrets sends rejected credentials through both
// transports and checks the deny's span: the reason is there, the
// credentials are not.
func TestTraceDenyHasNoSecrets(t *testing.T) {
	tests := map[string]struct {
		transport  string
		header     map[string]string
		wantReason string
		wantStatus int
	}{
		"grpc forged token":   {transport: "grpc", header: map[string]string{"Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLXNlY3JldA"}, wantReason: "invalid_token", wantStatus: 401},
		"http forged token":   {transport: "http", header: map[string]string{"Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLXNlY3JldA"}, wantReason: "invalid_token", wantStatus: 401},
		"grpc revoked cookie": {transport: "grpc", header: map[string]string{"Cookie": "session=" + cookieSecret}, wantReason: "invalid_token", wantStatus: 401},
		"http revoked cookie": {transport: "http", header: map[string]string{"Cookie": "session=" + cookieSecret}, wantReason: "invalid_token", wantStatus: 401},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newTracedStack(t)
			header := http.Header{}
			header.Set("Traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
			var secrets []string
			for k, v := range tc.header {
				header.Set(k, v)
				secrets = append(secrets, v, v[strings.IndexAny(v, " =")+1:])
			}
			if status := s.check(t, tc.transport, header); status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			spans := s.waitSpans(t)
			for _, sp := range spans {
				if sp.SpanKind != trace.SpanKindServer {
					continue
				}
				if got := attr(sp, tracing.KeyReason); got != tc.wantReason {
					t.Errorf("reason %q, want %q", got, tc.wantReason)
				}
				if got := attr(sp, tracing.KeyDecision); got != "deny" {
					t.Errorf("decision %q, want deny", got)
				}
			}
			assertNoSecrets(t, spans, append(secrets, querySecret))
		})
	}
}

// assertNoSecrets fails if any secret appears in a span's name, attributes,
// status, events or links, or in the resource.
func assertNoSecrets(t *testing.T, spans tracetest.SpanStubs, secrets []string) {
	t.Helper()
	for _, sp := range spans {
		texts := []string{sp.Name, sp.Status.Description}
		for _, kv := range sp.Attributes {
			texts = append(texts, string(kv.Key), kv.Value.String())
		}
		for _, ev := range sp.Events {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, string(kv.Key), kv.Value.String())
			}
		}
		for _, l := range sp.Links {
			for _, kv := range l.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		if sp.Resource != nil {
			for _, kv := range sp.Resource.Attributes() {
				texts = append(texts, kv.Value.String())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(text, secret) {
					t.Errorf("span %q carries a secret (%q) in %q", sp.Name, secret, text)
				}
			}
		}
	}
}

// TestTracingOffLeavesClientsAlone: without a tracer provider the upstream
// clients are the ones configured, so tracing off changes nothing on the
// wire or in the transports others wrap (the deny-list).
func TestTracingOffLeavesClientsAlone(t *testing.T) {
	c := &http.Client{}
	if s, i := upstreamClients(c, false); s != c || i != c {
		t.Error("tracing off must not replace the HTTP client")
	}
	s, i := upstreamClients(c, true)
	if _, ok := s.Transport.(*tracing.Transport); !ok {
		t.Errorf("session client transport %T, want *tracing.Transport", s.Transport)
	}
	if _, ok := i.Transport.(*tracing.Transport); !ok {
		t.Errorf("introspection client transport %T, want *tracing.Transport", i.Transport)
	}
	if c.Transport != nil {
		t.Error("wrapping must copy the client, not change it")
	}
	if tracer(nil) != nil {
		t.Error("no provider must mean a nil tracer: the adapters' off switch")
	}
}
