package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authgate/authgate/pkg/policy"
)

func newTestServer(t *testing.T, cfg Config) (*Server, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg.Log = logr.Discard()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, cancel, done
}

func TestRecoverHTTP(t *testing.T) {
	s, cancel, done := newTestServer(t, Config{})
	defer stop(t, cancel, done)
	h := s.recoverHTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		var m map[string]any
		_ = m["x"].(string) // an unchecked assertion, as in the wild
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/auth", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if got := testutil.ToFloat64(s.metrics.Panics.WithLabelValues("http")); got != 1 {
		t.Fatalf("panics counted = %v", got)
	}
}

func TestFactoryRejectsUnknownKinds(t *testing.T) {
	s, cancel, done := newTestServer(t, Config{})
	defer stop(t, cancel, done)
	if _, err := s.New(&policy.Authenticator{Name: "x"}); err == nil {
		t.Fatal("an authenticator without a kind must not build")
	}
}

func TestApplyAndShutdown(t *testing.T) {
	s, cancel, done := newTestServer(t, Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", ShutdownGrace: time.Second})
	if s.Ready() {
		t.Fatal("ready before any policy")
	}
	ok := &policy.Policy{Namespace: "a", Name: "ok", Hosts: []string{"a.com"}, Rules: []policy.Rule{{Name: "r", PathPrefix: "/", AllowAnonymous: true}}}
	bad := &policy.Policy{Namespace: "a", Name: "bad", Hosts: []string{"a.com"}, Rules: []policy.Rule{{Name: "r", PathPrefix: "/", AllowAnonymous: true}}}
	s.Apply([]*policy.Policy{ok, bad})
	if !s.Ready() {
		t.Fatal("not ready after Apply")
	}
	if got := testutil.ToFloat64(s.metrics.Policies.WithLabelValues("Enforce")); got != 1 {
		t.Fatalf("active policies = %v", got)
	}
	if got := testutil.ToFloat64(s.metrics.PolicyProblems); got != 1 {
		t.Fatalf("rejected policies = %v", got)
	}
	res, err := http.Get("http://" + s.HTTPAddr() + "/auth/x")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	// The request's own host is 127.0.0.1, which no policy claims.
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status = %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	res, err = http.Get("http://" + s.HTTPAddr() + "/auth")
	if err == nil {
		_ = res.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the listener is still open after shutdown: %v", err)
	}
}

func TestListenErrorIsReported(t *testing.T) {
	s, cancel, done := newTestServer(t, Config{HTTPAddr: "127.0.0.1:0"})
	defer stop(t, cancel, done)
	if _, err := New(context.Background(), Config{HTTPAddr: s.HTTPAddr(), Log: logr.Discard()}); err == nil {
		t.Fatal("listening on a taken port must fail")
	}
}

func stop(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
