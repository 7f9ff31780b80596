package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
)

const twoTenants = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: a, namespace: tenants}
spec:
  hosts: ["a.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{A}}", audiences: ["dev"]}
  rules:
  - name: all
    match: {pathPrefix: /}
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: b, namespace: tenants}
spec:
  hosts: ["b.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{B}}", audiences: ["dev"]}
  rules:
  - name: all
    match: {pathPrefix: /}
`

func tenants(t *testing.T) (s *server.Server, a, b *devissuer.Issuer, ps []*policy.Policy) {
	t.Helper()
	var err error
	for _, iss := range []**devissuer.Issuer{&a, &b} {
		if *iss, err = devissuer.New(devissuer.Config{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = (*iss).Close() })
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if s, err = server.New(ctx, server.Config{Log: logr.Discard()}); err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("{{A}}", a.URL, "{{B}}", b.URL).Replace(twoTenants)
	if ps, err = source.ParseFile("tenants.yaml", []byte(yaml), nil); err != nil {
		t.Fatal(err)
	}
	return s, a, b, ps
}

func check(t *testing.T, s *server.Server, host, token string) *decision.Decision {
	t.Helper()
	return s.Engine().Check(context.Background(), &request.Request{
		Transport: "test", Host: host, Method: http.MethodGet, Path: "/x",
		Headers: map[string]string{"authorization": "Bearer " + token},
	})
}

// TestJWKSDownAtStartOtherPoliciesUnaffected: one tenant's IdP down at
// start is a 503 for that tenant's tokens only.
func TestJWKSDownAtStartOtherPoliciesUnaffected(t *testing.T) {
	s, a, b, ps := tenants(t)
	a.SetFailing(true)
	s.Apply(ps)
	tokA, err := a.Mint(devissuer.Token{})
	if err != nil {
		t.Fatal(err)
	}
	tokB, err := b.Mint(devissuer.Token{})
	if err != nil {
		t.Fatal(err)
	}
	if d := check(t, s, "a.example.com", tokA); d.Status != http.StatusServiceUnavailable || d.Reason != decision.ReasonDependencyError {
		t.Errorf("tenant a with its IdP down: %d %s, want 503 dependency_error", d.Status, d.Reason)
	}
	if d := check(t, s, "b.example.com", tokB); !d.Allow {
		t.Errorf("tenant b: %d %s %s, want allowed", d.Status, d.Reason, d.Detail)
	}
	if !s.Ready() {
		t.Error("one tenant's IdP down must not make authgate unready")
	}
}

// TestPolicyDeletedWhileRequestsInFlight: snapshots swap under concurrent
// decisions (policy b deleted and re-created 200 times); each decision sees
// one snapshot, whole: allowed while b exists, 403 unknown_host while it does
// not, never anything else, never a panic.
func TestPolicyDeletedWhileRequestsInFlight(t *testing.T) {
	s, _, b, ps := tenants(t)
	s.Apply(ps)
	tokB, err := b.Mint(devissuer.Token{})
	if err != nil {
		t.Fatal(err)
	}
	if d := check(t, s, "b.example.com", tokB); !d.Allow {
		t.Fatalf("b before the churn: %d %s", d.Status, d.Reason)
	}
	var (
		stop          atomic.Bool
		allowed, gone atomic.Int64
		wg            sync.WaitGroup
		mu            sync.Mutex
		wrong         []string
	)
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				d := check(t, s, "b.example.com", tokB)
				switch {
				case d.Allow && d.Policy == "tenants/b":
					allowed.Add(1)
				case !d.Allow && d.Status == http.StatusForbidden && d.Reason == decision.ReasonUnknownHost:
					gone.Add(1)
				default:
					mu.Lock()
					wrong = append(wrong, string(d.Reason)+" "+d.Detail)
					mu.Unlock()
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			s.Apply(ps[:1]) // b deleted
		} else {
			s.Apply(ps)
		}
	}
	s.Apply(ps)
	stop.Store(true)
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d inconsistent decisions, e.g. %q", len(wrong), wrong[0])
	}
	if allowed.Load() == 0 {
		t.Error("no decision saw policy b")
	}
	t.Logf("%d allowed, %d unknown_host while b was deleted", allowed.Load(), gone.Load())
}
