package redaction

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/resolver"
)

// syncBuffer is the log sink: zap writes from every request goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Distinctive secrets: each is in exactly one request (or, for the client
// secret, in a policy), so a copy anywhere is a leak and not a coincidence.
const (
	clientSecret   = "clientsecret-Q7Z2X9W4"
	opaqueValid    = "opaque-valid-K3M8P1R6"
	opaqueUnknown  = "opaque-unknown-H5J2L9N4"
	opaqueDown     = "opaque-down-T6V1B8C3"
	sessionValid   = "sess-valid-D4F7G2H9"
	sessionUnknown = "sess-unknown-S8A3Q6E1"
	sessionDown    = "sess-down-U2I5O9Y7"
	sessionJunk    = "sess-junk-W1E4R7T0"
	sessionSlow    = "sess-slow-Z3X6C9V2"
	garbageCookie  = `"garbage,cookie-M9N2B5V8 \{`
	queryToken     = "querytoken-P4O7I1U3"
	unknownHostTok = "unknownhost-G8F5D2S9"
	malformedJWT   = "eyJhbGciOiJSUzI1NiJ9.bWFsZm9ybWVkLUw2SzNKOQ.c2ln-A1S4D7F0"
)

const policyYAML = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: api, namespace: redact}
spec:
  hosts: [jwt.example.com]
  authenticators:
  - name: bearer
    jwt:
      issuer: {{ISSUER}}
      audiences: [app]
      from:
      - header: {name: Authorization, prefix: "Bearer "}
      - query: {name: access_token}
  rules:
  - name: public
    match: {pathPrefix: /public}
    allowAnonymous: true
  - name: default
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: intro, namespace: redact}
spec:
  hosts: [intro.example.com]
  authenticators:
  - name: opaque
    introspection:
      url: {{INTROSPECT}}
      clientID: authgate
      clientSecretRef: {name: introspection, key: secret}
      timeout: 500ms
  rules:
  - name: default
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: intro-down, namespace: redact}
spec:
  hosts: [intro-down.example.com]
  authenticators:
  - name: opaque
    introspection:
      url: {{INTROSPECT_DOWN}}?client_secret={{CLIENT_SECRET}}
      clientID: authgate
      clientSecretRef: {name: introspection, key: secret}
      timeout: 500ms
  rules:
  - name: default
    match: {pathPrefix: /}
`

const sessionYAML = `
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: {{NAME}}, namespace: redact}
spec:
  hosts: [{{NAME}}.example.com]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver: {url: "{{URL}}", contract: authgear, timeout: 300ms}
  rules:
  - name: default
    match: {pathPrefix: /}
`

// stack is authgate with its doubles and captured output.
type stack struct {
	srv  *server.Server
	logs *syncBuffer
	grpc authv3.AuthorizationClient
}

func start(t *testing.T) (*stack, *devissuer.Issuer) {
	t.Helper()
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })

	intro := resolver.NewIntrospection(resolver.IntrospectionConfig{ClientSecret: clientSecret})
	t.Cleanup(intro.Close)
	intro.AddToken(opaqueValid, map[string]any{"sub": "carol", "exp": time.Now().Add(time.Hour)})
	introDown := resolver.NewIntrospection(resolver.IntrospectionConfig{ClientSecret: clientSecret})
	t.Cleanup(introDown.Close)
	introDown.SetFault(resolver.Status500)

	yaml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{INTROSPECT}}", intro.IntrospectURL(),
		"{{INTROSPECT_DOWN}}", introDown.IntrospectURL(), "{{CLIENT_SECRET}}", clientSecret).Replace(policyYAML)
	for name, fault := range map[string]resolver.Fault{
		"session": resolver.None, "session-down": resolver.Status500, "session-junk": resolver.Garbage, "session-slow": resolver.Slow,
	} {
		ag := resolver.NewAuthgear(resolver.AuthgearConfig{})
		t.Cleanup(ag.Close)
		ag.AddSession(sessionValid, resolver.Session{UserID: "dave"})
		ag.SetFault(fault)
		yaml += strings.NewReplacer("{{NAME}}", name, "{{URL}}", ag.ResolveURL()).Replace(sessionYAML)
	}
	policies, err := source.ParseFile("redact.yaml", []byte(yaml), func(_, name, key string) ([]byte, bool) {
		return []byte(clientSecret), name == "introspection" && key == "secret"
	})
	if err != nil {
		t.Fatalf("policies: %v", err)
	}

	logs := &syncBuffer{}
	log, err := observability.NewLogger(observability.LogConfig{Level: "10", Output: logs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", Log: log,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	if snap := srv.Apply(policies); len(snap.Problems()) > 0 {
		t.Fatalf("policy problems: %+v", snap.Problems())
	}
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &stack{srv: srv, logs: logs, grpc: authv3.NewAuthorizationClient(conn)}, iss
}

// answer is what a client (through the proxy) could see of a decision.
type answer struct {
	status int
	reason string // X-Authgate-Reason
	text   string // everything, for the leak search
}

func (s *stack) overHTTP(t *testing.T, host, target string, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.srv.HTTPAddr()+"/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Original-URL", "https://"+host+target)
	req.Header.Set("X-Original-Method", http.MethodGet)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	_ = res.Header.Write(&all)
	all.Write(body)
	return answer{status: res.StatusCode, reason: res.Header.Get(decision.ReasonHeader), text: all.String()}
}

func (s *stack) overGRPC(t *testing.T, host, target string, headers map[string]string) answer {
	t.Helper()
	h := map[string]string{}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.grpc.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: http.MethodGet, Scheme: "https", Host: host, Path: target, Headers: h, Id: h["x-request-id"],
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: 200, text: prototext.Format(res)}
	if denied := res.GetDeniedResponse(); denied != nil {
		a.status = int(denied.GetStatus().GetCode())
		for _, hv := range denied.GetHeaders() {
			if strings.EqualFold(hv.GetHeader().GetKey(), decision.ReasonHeader) {
				a.reason = hv.GetHeader().GetValue()
			}
		}
	}
	return a
}

func TestSecretsNeverLeak(t *testing.T) {
	s, iss := start(t)
	mint := func(tok devissuer.Token) string {
		t.Helper()
		v, err := iss.Mint(tok)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	valid := mint(devissuer.Token{Subject: "alice", Audience: []string{"app"}})
	expired := mint(devissuer.Token{Subject: "alice", Audience: []string{"app"}, TTL: -time.Hour})
	wrongAud := mint(devissuer.Token{Subject: "alice", Audience: []string{"elsewhere"}})
	other, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	foreign, err := other.Mint(devissuer.Token{Subject: "alice", Issuer: iss.URL, Audience: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	badOnPublic := mint(devissuer.Token{Subject: "alice", Audience: []string{"elsewhere"}, TTL: time.Minute})

	tests := map[string]struct {
		host, target string
		headers      map[string]string
		secrets      []string
		status       int
		reason       decision.Reason // X-Authgate-Reason; "" for an allow
	}{
		"valid token":                           {host: "jwt.example.com", target: "/x", headers: bearer(valid), secrets: []string{valid}, status: 200},
		"valid token in the query":              {host: "jwt.example.com", target: "/x?access_token=" + valid, secrets: []string{valid}, status: 200},
		"expired token":                         {host: "jwt.example.com", target: "/x", headers: bearer(expired), secrets: []string{expired}, status: 401, reason: decision.ReasonExpired},
		"wrong audience":                        {host: "jwt.example.com", target: "/x", headers: bearer(wrongAud), secrets: []string{wrongAud}, status: 401, reason: decision.ReasonInvalidToken},
		"signed by another key":                 {host: "jwt.example.com", target: "/x", headers: bearer(foreign), secrets: []string{foreign}, status: 401, reason: decision.ReasonInvalidToken},
		"malformed JWT":                         {host: "jwt.example.com", target: "/x", headers: bearer(malformedJWT), secrets: []string{malformedJWT, "bWFsZm9ybWVkLUw2SzNKOQ", "c2ln-A1S4D7F0"}, status: 401, reason: decision.ReasonInvalidToken},
		"bad token in the query":                {host: "jwt.example.com", target: "/x?access_token=" + queryToken, secrets: []string{queryToken}, status: 401, reason: decision.ReasonInvalidToken},
		"bad token on a public rule":            {host: "jwt.example.com", target: "/public/x", headers: bearer(badOnPublic), secrets: []string{badOnPublic}, status: 200},
		"unknown host":                          {host: "nowhere.example.com", target: "/x?token=" + queryToken, headers: bearer(unknownHostTok), secrets: []string{unknownHostTok, queryToken}, status: 403, reason: decision.ReasonUnknownHost},
		"bad request with a token in the query": {host: "jwt.example.com", target: "/a//../b?access_token=" + queryToken, headers: bearer(unknownHostTok), secrets: []string{queryToken, unknownHostTok}, status: 400, reason: decision.ReasonBadRequest},
		"valid session":                         {host: "session.example.com", target: "/x", headers: cookie(sessionValid), secrets: []string{sessionValid}, status: 200},
		"unknown session":                       {host: "session.example.com", target: "/x", headers: cookie(sessionUnknown), secrets: []string{sessionUnknown}, status: 401, reason: decision.ReasonInvalidToken},
		"garbage cookie":                        {host: "session.example.com", target: "/x", headers: map[string]string{"Cookie": "session=" + garbageCookie}, secrets: []string{"cookie-M9N2B5V8"}, status: 401},
		"resolver 500":                          {host: "session-down.example.com", target: "/x", headers: cookie(sessionDown), secrets: []string{sessionDown}, status: 503, reason: decision.ReasonDependencyError},
		"resolver garbage":                      {host: "session-junk.example.com", target: "/x", headers: cookie(sessionJunk), secrets: []string{sessionJunk}, status: 503, reason: decision.ReasonDependencyError},
		"resolver timeout":                      {host: "session-slow.example.com", target: "/x", headers: cookie(sessionSlow), secrets: []string{sessionSlow}, status: 503, reason: decision.ReasonDependencyError},
		"valid opaque token":                    {host: "intro.example.com", target: "/x", headers: bearer(opaqueValid), secrets: []string{opaqueValid}, status: 200},
		"unknown opaque token":                  {host: "intro.example.com", target: "/x", headers: bearer(opaqueUnknown), secrets: []string{opaqueUnknown}, status: 401, reason: decision.ReasonInvalidToken},
		"introspection 500":                     {host: "intro-down.example.com", target: "/x", headers: bearer(opaqueDown), secrets: []string{opaqueDown}, status: 503, reason: decision.ReasonDependencyError},
	}
	transports := map[string]func(*testing.T, string, string, map[string]string) answer{
		"http": s.overHTTP, "grpc": s.overGRPC,
	}
	var all []string
	for name, tc := range tests {
		all = append(all, tc.secrets...)
		for tname, send := range transports {
			t.Run(tname+"/"+name, func(t *testing.T) {
				headers := map[string]string{"X-Request-Id": "req-" + tname + "-" + strings.ReplaceAll(name, " ", "-")}
				for k, v := range tc.headers {
					headers[k] = v
				}
				got := send(t, tc.host, tc.target, headers)
				if got.status != tc.status {
					t.Errorf("status %d, want %d", got.status, tc.status)
				}
				if tc.reason != "" && got.reason != string(tc.reason) {
					t.Errorf("%s = %q, want %q", decision.ReasonHeader, got.reason, tc.reason)
				}
				if tc.status == 200 && got.reason != "" {
					t.Errorf("an allow carries %s %q", decision.ReasonHeader, got.reason)
				}
				for _, secret := range append(tc.secrets, clientSecret) {
					if strings.Contains(got.text, secret) {
						t.Errorf("the response carries %q:\n%s", secret, got.text)
					}
				}
			})
		}
	}
	all = append(all, clientSecret)

	metrics := scrape(t, "http://"+s.srv.MetricsAddr()+"/metrics")
	logs := s.logs.String()
	// The capture must hold the decisions, or the search below proves nothing.
	for _, want := range []string{`"reason":"invalid_token"`, `"reason":"dependency_error"`, `"reason":"bad_request"`,
		`"reason":"unknown_host"`, `"reason":"allowed"`, `"requestId":"req-grpc-malformed-JWT"`, `"requestId":"req-http-resolver-timeout"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the decision log lacks %s", want)
		}
	}
	if !strings.Contains(metrics, "authgate_decisions_total") {
		t.Errorf("/metrics lacks authgate_decisions_total:\n%.2000s", metrics)
	}
	for _, secret := range all {
		if strings.Contains(logs, secret) {
			t.Errorf("a log line carries %q:\n%s", secret, linesWith(logs, secret))
		}
		if strings.Contains(metrics, secret) {
			t.Errorf("/metrics carries %q:\n%s", secret, linesWith(metrics, secret))
		}
	}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func cookie(v string) map[string]string {
	return map[string]string{"Cookie": "theme=dark; session=" + v}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	return string(body)
}

// linesWith picks the lines that leak, so a failure shows where.
func linesWith(text, secret string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, secret) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
