// Package metrics tests authgate's Prometheus metrics end to end: a real
// server on 127.0.0.1:0, requests driven through both transports for every
// decision reason, and /metrics scraped over HTTP and parsed with the
// Prometheus text parser, as Prometheus itself would.
package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/envoy"
	"github.com/authgate/authgate/test/resolver"
)

const policies = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: ["shop.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{ISSUER}}", audiences: ["shop"]}
  rules:
  - name: public
    match: {pathPrefix: /public}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    require:
    - {claim: scope, contains: admin}
  - name: api
    match: {pathPrefix: /api}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: down, namespace: ops}
spec:
  hosts: ["down.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{DOWN}}", audiences: ["ops"]}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: web, namespace: web}
spec:
  hosts: ["web.example.com"]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver: {url: "{{BROKEN}}"}
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
    jwt: {issuer: "{{ISSUER}}", audiences: ["shop"]}
  rules:
  - name: all
    match: {pathPrefix: /}
`

type env struct {
	srv  *server.Server
	iss  *devissuer.Issuer
	down *devissuer.Issuer
	grpc authv3.AuthorizationClient
}

func start(t *testing.T) *env {
	t.Helper()
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	down, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down.Close() })
	down.SetFailing(true)
	broken := resolver.NewAuthgear(resolver.AuthgearConfig{})
	t.Cleanup(broken.Close)
	broken.SetFault(resolver.Status500)

	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Log: logr.Discard(), ShutdownGrace: time.Second,
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
			t.Errorf("Run: %v", err)
		}
	})
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e := &env{srv: srv, iss: iss, down: down, grpc: authv3.NewAuthorizationClient(conn)}

	// One decision before any snapshot, to count not_ready.
	e.ask(t, "http", "shop.example.com", "/api", nil)

	yaml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{DOWN}}", down.URL, "{{BROKEN}}", broken.ResolveURL()).Replace(policies)
	ps, err := source.ParseFile("metrics.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	// One policy that loses its host to an older one, one that is invalid.
	conflict := &policy.Policy{Namespace: "late", Name: "copycat", Hosts: []string{"shop.example.com"},
		CreatedAt: time.Now().Add(time.Hour), Rules: []policy.Rule{{Name: "r", PathPrefix: "/", AllowAnonymous: true}}}
	invalid := &policy.Policy{Namespace: "late", Name: "hostless", Rules: []policy.Rule{{Name: "r", PathPrefix: "/", AllowAnonymous: true}}}
	snap := srv.Apply(append(ps, conflict, invalid))
	if len(snap.Problems()) != 2 {
		t.Fatalf("problems = %+v, want a conflict and an invalid policy", snap.Problems())
	}
	return e
}

// ask sends one request through the given transport.
func (e *env) ask(t *testing.T, transport, host, path string, header map[string]string) {
	t.Helper()
	switch transport {
	case "grpc":
		r, _ := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := e.grpc.Check(ctx, envoy.BuildCheckRequest(r, nil)); err != nil {
			t.Fatalf("Check: %v", err)
		}
	case "http":
		req, _ := http.NewRequest(http.MethodGet, "http://"+e.srv.HTTPAddr()+"/auth", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if path != "" {
			req.Header.Set("X-Original-URL", "https://"+host+path)
			req.Header.Set("X-Original-Method", http.MethodGet)
		} else {
			// No method with the URL: a request authgate cannot canonicalise.
			req.Header.Set("X-Original-URL", "https://"+host+"/")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
}

// scrape reads /metrics over HTTP and parses it with the text parser.
func (e *env) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get("http://" + e.srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid exposition text: %v", err)
	}
	return mfs
}

// value is the sum of the family's samples whose labels include want
// (counter and gauge values, histogram sample counts).
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf, ok := mfs[name]
	if !ok {
		return 0
	}
	sum := 0.0
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

func TestDecisionsAreCountedByReason(t *testing.T) {
	e := start(t)
	mint := func(iss *devissuer.Issuer, tok devissuer.Token) map[string]string {
		t.Helper()
		s, err := iss.Mint(tok)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + s}
	}
	valid := mint(e.iss, devissuer.Token{Audience: []string{"shop"}})

	tests := []struct {
		name               string
		transport          string
		host, path         string
		header             map[string]string
		decision, reason   string
		namespace, policy  string
		alreadyCountedOnce bool
	}{
		{name: "not ready (before the snapshot)", transport: "http", host: "shop.example.com", path: "/api",
			decision: "deny", reason: "not_ready", alreadyCountedOnce: true},
		{name: "allowed over http", transport: "http", host: "shop.example.com", path: "/api", header: valid,
			decision: "allow", reason: "allowed", namespace: "shop", policy: "shop"},
		{name: "allowed over grpc", transport: "grpc", host: "shop.example.com", path: "/api", header: valid,
			decision: "allow", reason: "allowed", namespace: "shop", policy: "shop"},
		{name: "anonymous", transport: "http", host: "shop.example.com", path: "/public/logo.png",
			decision: "allow", reason: "anonymous", namespace: "shop", policy: "shop"},
		{name: "no credential", transport: "grpc", host: "shop.example.com", path: "/api",
			decision: "deny", reason: "no_credential", namespace: "shop", policy: "shop"},
		{name: "invalid token", transport: "http", host: "shop.example.com", path: "/api",
			header:   map[string]string{"Authorization": "Bearer not-a-jwt"},
			decision: "deny", reason: "invalid_token", namespace: "shop", policy: "shop"},
		{name: "unknown kid", transport: "http", host: "shop.example.com", path: "/api",
			header:   mint(e.iss, devissuer.Token{Audience: []string{"shop"}, Kid: "rotated-away"}),
			decision: "deny", reason: "invalid_token", namespace: "shop", policy: "shop"},
		{name: "expired", transport: "http", host: "shop.example.com", path: "/api",
			header:   mint(e.iss, devissuer.Token{Audience: []string{"shop"}, TTL: -time.Hour}),
			decision: "deny", reason: "expired", namespace: "shop", policy: "shop"},
		{name: "condition failed", transport: "grpc", host: "shop.example.com", path: "/admin", header: valid,
			decision: "deny", reason: "condition_failed", namespace: "shop", policy: "shop"},
		{name: "unknown host", transport: "grpc", host: "nowhere.example.com", path: "/",
			decision: "deny", reason: "unknown_host"},
		{name: "no rule", transport: "http", host: "shop.example.com", path: "/elsewhere",
			decision: "deny", reason: "no_rule", namespace: "shop", policy: "shop"},
		{name: "dependency error (JWKS)", transport: "http", host: "down.example.com", path: "/",
			header:   mint(e.down, devissuer.Token{Audience: []string{"ops"}}),
			decision: "deny", reason: "dependency_error", namespace: "ops", policy: "down"},
		{name: "dependency error (resolver)", transport: "grpc", host: "web.example.com", path: "/",
			header:   map[string]string{"Cookie": "session=opaque-session-id"},
			decision: "deny", reason: "dependency_error", namespace: "web", policy: "web"},
		{name: "dry run deny", transport: "http", host: "trial.example.com", path: "/",
			decision: "allow", reason: "dry_run_deny", namespace: "ops", policy: "trial"},
		{name: "bad request", transport: "http", host: "shop.example.com", path: "",
			decision: "deny", reason: "bad_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"transport": tc.transport, "decision": tc.decision, "reason": tc.reason,
				"policy_namespace": tc.namespace, "policy": tc.policy}
			before := value(e.scrape(t), "authgate_decisions_total", labels)
			want := before + 1
			if tc.alreadyCountedOnce {
				// Counted in start, before any snapshot existed.
				before, want = 0, 1
			} else {
				e.ask(t, tc.transport, tc.host, tc.path, tc.header)
			}
			after := e.scrape(t)
			if got := value(after, "authgate_decisions_total", labels); got != want {
				t.Errorf("authgate_decisions_total%v went from %v to %v, want %v", labels, before, got, want)
			}
			if got := value(after, "authgate_decision_duration_seconds", map[string]string{"transport": tc.transport}); got < 1 {
				t.Errorf("authgate_decision_duration_seconds{transport=%q} has no observations", tc.transport)
			}
		})
	}

	// Everything else the scenarios above must have moved.
	mfs := e.scrape(t)
	atLeast := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"authgate_policies", map[string]string{"state": "ready"}, 4},
		{"authgate_policies", map[string]string{"state": "conflict"}, 1},
		{"authgate_policies", map[string]string{"state": "invalid"}, 1},
		{"authgate_snapshot_build_duration_seconds", nil, 1},
		{"authgate_snapshot_last_build_timestamp_seconds", nil, 1},
		{"authgate_jwks_last_success_timestamp_seconds", map[string]string{"jwks_url": e.iss.JWKSURI()}, float64(time.Now().Add(-time.Hour).Unix())},
		{"authgate_jwks_unknown_kid_refetches_total", nil, 1},
		{"authgate_oidc_discoveries_total", map[string]string{"result": "error"}, 1},
		{"authgate_upstream_errors_total", map[string]string{"kind": "session"}, 1},
		{"authgate_cache_events_total", map[string]string{"cache": "jwt", "event": "miss"}, 1},
		{"authgate_cache_entries", map[string]string{"cache": "jwt"}, 1},
		{"authgate_http_requests_total", map[string]string{"method": "get", "code": "200"}, 3},
		{"authgate_http_requests_total", map[string]string{"method": "get", "code": "401"}, 3},
		{"authgate_http_requests_total", map[string]string{"method": "get", "code": "503"}, 2},
		{"authgate_http_request_duration_seconds", map[string]string{"method": "get"}, 10},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "Check", "grpc_code": "OK"}, 5},
		{"grpc_server_handling_seconds", map[string]string{"grpc_method": "Check"}, 5},
	}
	for _, c := range atLeast {
		if got := value(mfs, c.name, c.labels); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	// The cache sizes exist for every cache, even unused ones.
	for _, cache := range []string{"jwt", "session", "introspection"} {
		if !hasSeries(mfs, "authgate_cache_entries", "cache", cache) {
			t.Errorf("authgate_cache_entries{cache=%q} is missing", cache)
		}
	}
}

func hasSeries(mfs map[string]*dto.MetricFamily, name, label, val string) bool {
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == val {
				return true
			}
		}
	}
	return false
}

// TestNoCredentialInMetrics: the token, cookie and other request data sent
// above never become label values.
func TestNoCredentialInMetrics(t *testing.T) {
	e := start(t)
	secret := "s3cr3t-credential-value"
	for _, h := range []map[string]string{
		{"Authorization": "Bearer " + secret},
		{"Cookie": "session=" + secret},
	} {
		e.ask(t, "http", "web.example.com", "/"+secret, h)
		e.ask(t, "grpc", "shop.example.com", "/api?token="+secret, h)
	}
	res, err := http.Get("http://" + e.srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), secret) {
		t.Fatal("a credential appears in /metrics")
	}
	if !strings.Contains(string(body), fmt.Sprintf("authgate_decisions_total{decision=%q", "deny")) {
		t.Fatal("no deny was counted: the requests did not reach authgate")
	}
}
