package decision

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/go-logr/logr/funcr"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/store"
)

// fakeAuth is presented when the request carries "authorization: <name> ..."
// and maps the credential after the name to an outcome.
type fakeAuth struct {
	name     string
	outcomes map[string]outcome
}

type outcome struct {
	id  *authn.Identity
	err error
}

func (a *fakeAuth) Name() string { return a.name }

func (a *fakeAuth) cred(r *request.Request) (string, bool) {
	return strings.CutPrefix(r.Headers["authorization"], a.name+" ")
}

func (a *fakeAuth) Present(r *request.Request) bool {
	_, ok := a.cred(r)
	return ok
}

func (a *fakeAuth) Authenticate(_ context.Context, r *request.Request) (*authn.Identity, error) {
	c, _ := a.cred(r)
	o, ok := a.outcomes[c]
	if !ok {
		return nil, fmt.Errorf("%w: unknown test credential", authn.ErrInvalid)
	}
	return o.id, o.err
}

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func outcomes() map[string]outcome {
	return map[string]outcome{
		"alice": {id: &authn.Identity{Subject: "alice", ExpiresAt: now.Add(90*time.Second + 500*time.Millisecond), Claims: authn.ClaimsOf(map[string]any{
			"sub": "alice", "scope": "orders:read orders:write", "email_verified": true, "tenant": "acme",
			"https://authgear.com/claims/user/roles":              []any{"viewer"},
			"https://authgear.com/claims/user/is_anonymous":       false,
			"https://authgear.com/claims/user/is_verified":        true,
			"https://authgear.com/claims/user/can_reauthenticate": true,
			"amr":       []any{"pwd", "otp"},
			"auth_time": float64(1795770000),
		})}},
		"admin": {id: &authn.Identity{Subject: "root", ExpiresAt: now.Add(time.Hour), Claims: authn.ClaimsOf(map[string]any{
			"sub": "root", "https://authgear.com/claims/user/roles": []any{"admin"}, "tenant": "evil\r\nX-Injected: 1",
		})}},
		"reader": {id: &authn.Identity{Subject: "bob", Claims: authn.ClaimsOf(map[string]any{
			"sub": "bob", "scope": "orders:read", "email_verified": true, "tenant": "acme",
		})}},
		"expired":  {err: authn.ErrExpired},
		"bad":      {err: fmt.Errorf("%w: bad signature", authn.ErrInvalid)},
		"jwksdown": {err: errors.New("failed to fetch JWKS: connection refused")},
	}
}

type fakeFactory struct{}

func (fakeFactory) New(a *policy.Authenticator) (authn.Authenticator, error) {
	return &fakeAuth{name: a.Name, outcomes: outcomes()}, nil
}

// shop is the policy of the example, with a fake authenticator.
func shop(dryRun bool) *policy.Policy {
	return &policy.Policy{
		Namespace: "shop", Name: "shop", DryRun: dryRun,
		Hosts:          []string{"shop.example.com", "*.shop.example.com"},
		Authenticators: []policy.Authenticator{{Name: "bearer", JWT: &policy.JWT{Issuer: "https://auth.example.com", Audiences: []string{"shop"}}}, {Name: "other", JWT: &policy.JWT{Issuer: "https://other.example.com", Audiences: []string{"shop"}}}},
		Rules: []policy.Rule{
			{Name: "public", PathPrefix: "/public", Methods: []string{"GET", "HEAD"}, AllowAnonymous: true},
			{Name: "admin", PathPrefix: "/admin", Authenticators: []string{"bearer"}, Require: []policy.Condition{
				{Claim: "https://authgear.com/claims/user/roles", Op: policy.OpContains, Value: "admin"}}},
			{Name: "orders", Path: "/api/orders", Methods: []string{"POST"}, Require: []policy.Condition{
				{Claim: "scope", Op: policy.OpContains, Value: "orders:write"},
				{Claim: "email_verified", Op: policy.OpEquals, Value: "true"},
				{Claim: "tenant", Op: policy.OpOneOf, Values: []string{"acme", "globex"}},
				{Claim: "sub", Op: policy.OpExists, Exists: true},
			}},
			{Name: "default", PathPrefix: "/api"},
		},
		Response: policy.Response{Preset: policy.PresetAuthgear, Headers: []policy.HeaderSpec{
			{Name: "X-Tenant", Claim: "tenant"}, {Name: "X-Gateway", Value: "authgate"}, {Name: "X-User-Id", Claim: "sub"},
		}},
	}
}

func snapshot(t testing.TB, ps ...*policy.Policy) *store.Snapshot {
	t.Helper()
	snap := store.Build(ps, fakeFactory{})
	if len(snap.Problems()) > 0 {
		t.Fatalf("policy problems: %+v", snap.Problems())
	}
	return snap
}

func req(host, method, path, authz string) *request.Request {
	h := map[string]string{}
	if authz != "" {
		h["authorization"] = authz
	}
	return &request.Request{Transport: "test", Host: host, Method: method, Path: path, Headers: h}
}

// TestDecisionTable is the decision table of the core issue, row by row.
func TestDecisionTable(t *testing.T) {
	snap := snapshot(t, shop(false))
	const realm = `Bearer realm="shop.example.com"`
	tests := map[string]struct {
		r          *request.Request
		allow      bool
		status     int
		reason     Reason
		rule       string
		challenge  string
		wantSet    map[string]string
		wantMaxAge time.Duration
	}{
		"allowed with identity headers": {
			r: req("shop.example.com", "GET", "/api/cart", "bearer alice"), allow: true, status: 200, reason: ReasonAllowed, rule: "default",
			wantSet: map[string]string{
				"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "alice", "X-Authgear-User-Anonymous": "false",
				"X-Authgear-User-Verified": "true", "X-Authgear-User-Can-Reauthenticate": "true", "X-Authgear-User-Roles": "viewer",
				"X-Authgear-Session-Amr": "pwd otp", "X-Authgear-Session-Authenticated-At": "1795770000",
				"X-Tenant": "acme", "X-Gateway": "authgate", "X-User-Id": "alice",
			},
			wantMaxAge: 90 * time.Second,
		},
		"wildcard host": {
			r: req("eu.shop.example.com", "GET", "/api/x", "bearer alice"), allow: true, status: 200, reason: ReasonAllowed, rule: "default",
		},
		"all conditions hold": {
			r: req("shop.example.com", "POST", "/api/orders", "bearer alice"), allow: true, status: 200, reason: ReasonAllowed, rule: "orders",
		},
		"anonymous rule without credential": {
			r: req("shop.example.com", "GET", "/public/index.html", ""), allow: true, status: 200, reason: ReasonAnonymous, rule: "public",
			wantSet: map[string]string{"X-Gateway": "authgate"},
		},
		"anonymous rule with valid credential yields identity": {
			r: req("shop.example.com", "GET", "/public/x", "bearer alice"), allow: true, status: 200, reason: ReasonAllowed, rule: "public",
		},
		"anonymous rule with invalid credential": {
			r: req("shop.example.com", "GET", "/public/x", "bearer bad"), allow: true, status: 200, reason: ReasonAnonymous, rule: "public",
			wantSet: map[string]string{"X-Authgear-Session-Valid": "false", "X-Gateway": "authgate"},
		},
		"no credential": {
			r: req("shop.example.com", "GET", "/api/cart", ""), status: 401, reason: ReasonNoCredential, rule: "default", challenge: realm,
		},
		"credential of another scheme is no credential": {
			r: req("shop.example.com", "GET", "/api/cart", "Basic dXNlcjpwYXNz"), status: 401, reason: ReasonNoCredential, rule: "default", challenge: realm,
		},
		"invalid credential": {
			r: req("shop.example.com", "GET", "/api/cart", "bearer bad"), status: 401, reason: ReasonInvalidToken, rule: "default", challenge: realm + `, error="invalid_token"`,
		},
		"expired credential": {
			r: req("shop.example.com", "GET", "/api/cart", "bearer expired"), status: 401, reason: ReasonExpired, rule: "default", challenge: realm + `, error="invalid_token"`,
		},
		"condition fails": {
			r: req("shop.example.com", "GET", "/admin/users", "bearer alice"), status: 403, reason: ReasonConditionFailed, rule: "admin",
		},
		"condition holds": {
			r: req("shop.example.com", "GET", "/admin/users", "bearer admin"), allow: true, status: 200, reason: ReasonAllowed, rule: "admin",
		},
		"rule restricts authenticators": {
			r: req("shop.example.com", "GET", "/admin/users", "other admin"), status: 401, reason: ReasonNoCredential, rule: "admin", challenge: realm,
		},
		"other authenticator on a rule with all": {
			r: req("shop.example.com", "GET", "/api/x", "other alice"), allow: true, status: 200, reason: ReasonAllowed, rule: "default",
		},
		"insufficient scope": {
			r: req("shop.example.com", "POST", "/api/orders", "bearer reader"), status: 403, reason: ReasonConditionFailed, rule: "orders", challenge: realm + `, error="insufficient_scope"`,
		},
		"unknown host": {
			r: req("evil.example.com", "GET", "/api/x", "bearer alice"), status: 403, reason: ReasonUnknownHost,
		},
		"no rule matches": {
			r: req("shop.example.com", "GET", "/elsewhere", "bearer alice"), status: 403, reason: ReasonNoRule,
		},
		"method not in rule falls through": {
			r: req("shop.example.com", "POST", "/public/x", ""), status: 403, reason: ReasonNoRule,
		},
		"dependency failure is 503, never 401": {
			r: req("shop.example.com", "GET", "/api/x", "bearer jwksdown"), status: 503, reason: ReasonDependencyError, rule: "default",
		},
		"dependency failure on an anonymous rule is still 503": {
			r: req("shop.example.com", "GET", "/public/x", "bearer jwksdown"), status: 503, reason: ReasonDependencyError, rule: "public",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := Decide(context.Background(), tc.r, snap, Options{Now: func() time.Time { return now }})
			if d.Allow != tc.allow || d.Status != tc.status || d.Reason != tc.reason {
				t.Fatalf("got allow=%v status=%d reason=%s (%s); want allow=%v status=%d reason=%s", d.Allow, d.Status, d.Reason, d.Detail, tc.allow, tc.status, tc.reason)
			}
			if d.Rule != tc.rule {
				t.Errorf("rule = %q, want %q", d.Rule, tc.rule)
			}
			if got := headerValueOf(d.DenyHeaders, "WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if !tc.allow && (len(d.Set) > 0 || d.MaxAge != 0) {
				t.Errorf("a denial sets nothing: set=%v maxAge=%v", d.Set, d.MaxAge)
			}
			if tc.wantSet != nil {
				got := map[string]string{}
				for _, h := range d.Set {
					got[h.Name] = h.Value
				}
				if !reflect.DeepEqual(got, tc.wantSet) {
					t.Errorf("set = %v\nwant  %v", got, tc.wantSet)
				}
			}
			if tc.wantMaxAge != 0 && d.MaxAge != tc.wantMaxAge {
				t.Errorf("maxAge = %v, want %v", d.MaxAge, tc.wantMaxAge)
			}
			if d.Allow && d.Identity == nil && d.MaxAge != 0 {
				t.Errorf("an anonymous allow must not be cacheable")
			}
		})
	}
}

func headerValueOf(hs []Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// TestHeaderStripping checks that every header the policy may set is either
// set or removed, underscore variants always removed, and that a claim with
// control characters never becomes a header.
func TestHeaderStripping(t *testing.T) {
	snap := snapshot(t, shop(false))
	for name, tc := range map[string]struct {
		r         *request.Request
		wantUnset []string
	}{
		"full identity":        {r: req("shop.example.com", "GET", "/api/x", "bearer alice")},
		"anonymous":            {r: req("shop.example.com", "GET", "/public/x", ""), wantUnset: []string{"x-user-id", "x-authgear-user-id", "x-authgear-session-valid", "x-tenant"}},
		"injection in claim":   {r: req("shop.example.com", "GET", "/admin", "bearer admin"), wantUnset: []string{"x-tenant"}},
		"partial identity":     {r: req("shop.example.com", "GET", "/admin", "bearer admin"), wantUnset: []string{"x-authgear-session-amr", "x-authgear-user-verified"}},
		"invalid on anon rule": {r: req("shop.example.com", "GET", "/public/x", "bearer bad"), wantUnset: []string{"x-user-id", "x-authgear-user-id"}},
	} {
		t.Run(name, func(t *testing.T) {
			d := Decide(context.Background(), tc.r, snap, Options{})
			if !d.Allow {
				t.Fatalf("want allow, got %d %s", d.Status, d.Reason)
			}
			c := snap.Lookup("shop.example.com")
			for _, name := range c.Strip() {
				set := headerValueOf(d.Set, name) != ""
				removed := slices.Contains(d.Remove, name)
				if set == removed {
					t.Errorf("%s: set=%v removed=%v; want exactly one", name, set, removed)
				}
				if strings.Contains(name, "_") && !removed {
					t.Errorf("underscore variant %s must always be removed", name)
				}
			}
			for _, name := range tc.wantUnset {
				if !slices.Contains(d.Remove, name) {
					t.Errorf("%s must be removed, remove=%v", name, d.Remove)
				}
			}
			for _, h := range d.Set {
				if strings.ContainsAny(h.Value, "\r\n") {
					t.Errorf("header %s carries a line break", h.Name)
				}
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	snap := snapshot(t, shop(true))
	for name, tc := range map[string]struct {
		r     *request.Request
		would Reason
	}{
		"no credential":    {r: req("shop.example.com", "GET", "/api/x", ""), would: ReasonNoCredential},
		"condition failed": {r: req("shop.example.com", "GET", "/admin", "bearer alice"), would: ReasonConditionFailed},
		"dependency error": {r: req("shop.example.com", "GET", "/api/x", "bearer jwksdown"), would: ReasonDependencyError},
	} {
		t.Run(name, func(t *testing.T) {
			d := Decide(context.Background(), tc.r, snap, Options{})
			if !d.Allow || d.Status != 200 || d.Reason != ReasonDryRunDeny || d.WouldReason != tc.would {
				t.Fatalf("got allow=%v %d %s would=%s", d.Allow, d.Status, d.Reason, d.WouldReason)
			}
			if len(d.DenyHeaders) != 0 || d.MaxAge != 0 {
				t.Fatalf("a dry-run allow carries no challenge and is not cacheable")
			}
		})
	}
	// An allowed request in DryRun is an ordinary allow.
	if d := Decide(context.Background(), req("shop.example.com", "GET", "/api/x", "bearer alice"), snap, Options{}); d.Reason != ReasonAllowed {
		t.Fatalf("reason = %s", d.Reason)
	}
	// Unknown hosts have no policy, hence no DryRun: still denied.
	if d := Decide(context.Background(), req("x.org", "GET", "/", ""), snap, Options{}); d.Allow {
		t.Fatal("unknown host allowed")
	}
}

func TestNotReady(t *testing.T) {
	d := Decide(context.Background(), req("shop.example.com", "GET", "/", ""), nil, Options{})
	if d.Allow || d.Status != 503 || d.Reason != ReasonNotReady {
		t.Fatalf("got %v %d %s", d.Allow, d.Status, d.Reason)
	}
}

func TestConditions(t *testing.T) {
	claims := map[string]any{
		"scope": "a b  c", "roles": []any{"admin", "viewer", 3.0}, "verified": true, "count": 3.0, "ratio": 0.5,
		"tenant": "acme", "nested": map[string]any{"roles": []any{"x"}, "name": "n"}, "empty": "",
		"https://authgear.com/claims/user/roles": []any{"admin"}, "null": nil, "dotted.name": "top",
	}
	tests := map[string]struct {
		c    policy.Condition
		want bool
	}{
		"equals string":               {policy.Condition{Claim: "tenant", Op: policy.OpEquals, Value: "acme"}, true},
		"equals is exact":             {policy.Condition{Claim: "tenant", Op: policy.OpEquals, Value: "ACME"}, false},
		"equals bool as text":         {policy.Condition{Claim: "verified", Op: policy.OpEquals, Value: "true"}, true},
		"equals number as text":       {policy.Condition{Claim: "count", Op: policy.OpEquals, Value: "3"}, true},
		"equals fraction":             {policy.Condition{Claim: "ratio", Op: policy.OpEquals, Value: "0.5"}, true},
		"equals on array fails":       {policy.Condition{Claim: "roles", Op: policy.OpEquals, Value: "admin"}, false},
		"equals on missing":           {policy.Condition{Claim: "nope", Op: policy.OpEquals, Value: ""}, false},
		"equals null fails":           {policy.Condition{Claim: "null", Op: policy.OpEquals, Value: ""}, false},
		"equals empty string":         {policy.Condition{Claim: "empty", Op: policy.OpEquals, Value: ""}, true},
		"contains in array":           {policy.Condition{Claim: "roles", Op: policy.OpContains, Value: "viewer"}, true},
		"contains number in array":    {policy.Condition{Claim: "roles", Op: policy.OpContains, Value: "3"}, true},
		"contains not in array":       {policy.Condition{Claim: "roles", Op: policy.OpContains, Value: "root"}, false},
		"contains word":               {policy.Condition{Claim: "scope", Op: policy.OpContains, Value: "c"}, true},
		"contains is word-based":      {policy.Condition{Claim: "scope", Op: policy.OpContains, Value: "a b"}, false},
		"contains substring fails":    {policy.Condition{Claim: "tenant", Op: policy.OpContains, Value: "cm"}, false},
		"contains on object fails":    {policy.Condition{Claim: "nested", Op: policy.OpContains, Value: "n"}, false},
		"oneOf":                       {policy.Condition{Claim: "tenant", Op: policy.OpOneOf, Values: []string{"globex", "acme"}}, true},
		"oneOf miss":                  {policy.Condition{Claim: "tenant", Op: policy.OpOneOf, Values: []string{"globex"}}, false},
		"oneOf on array fails":        {policy.Condition{Claim: "roles", Op: policy.OpOneOf, Values: []string{"admin"}}, false},
		"exists":                      {policy.Condition{Claim: "tenant", Op: policy.OpExists, Exists: true}, true},
		"exists null is present":      {policy.Condition{Claim: "null", Op: policy.OpExists, Exists: true}, true},
		"exists false":                {policy.Condition{Claim: "nope", Op: policy.OpExists, Exists: false}, true},
		"exists false but present":    {policy.Condition{Claim: "tenant", Op: policy.OpExists, Exists: false}, false},
		"exists missing":              {policy.Condition{Claim: "nope", Op: policy.OpExists, Exists: true}, false},
		"nested path":                 {policy.Condition{Claim: "nested.roles", Op: policy.OpContains, Value: "x"}, true},
		"nested path through scalar":  {policy.Condition{Claim: "tenant.x", Op: policy.OpExists, Exists: true}, false},
		"url claim taken whole":       {policy.Condition{Claim: "https://authgear.com/claims/user/roles", Op: policy.OpContains, Value: "admin"}, true},
		"top-level dotted name first": {policy.Condition{Claim: "dotted.name", Op: policy.OpEquals, Value: "top"}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, why := evaluate(&tc.c, authn.ClaimsOf(claims))
			if got != tc.want {
				t.Fatalf("evaluate = %v (%s), want %v", got, why, tc.want)
			}
			if !got && why == "" {
				t.Fatal("a failed condition must say why")
			}
		})
	}
}

func TestEngineRecoversPanics(t *testing.T) {
	p := shop(false)
	snap := store.Build([]*policy.Policy{p}, panicFactory{})
	var s store.Store
	s.Apply(snap)
	e := &Engine{Store: &s}
	d := e.Check(context.Background(), req("shop.example.com", "GET", "/api/x", "bearer alice"))
	if d.Allow || d.Status != 503 || d.Reason != ReasonInternalError {
		t.Fatalf("got %v %d %s", d.Allow, d.Status, d.Reason)
	}
}

type panicFactory struct{}

func (panicFactory) New(a *policy.Authenticator) (authn.Authenticator, error) {
	return panicAuth{a.Name}, nil
}

type panicAuth struct{ name string }

func (a panicAuth) Name() string                { return a.name }
func (panicAuth) Present(*request.Request) bool { return true }
func (panicAuth) Authenticate(context.Context, *request.Request) (*authn.Identity, error) {
	var claims map[string]any
	return nil, fmt.Errorf("%s", claims["x"].(string)) // an unchecked assertion, as in the wild
}

func BenchmarkDecideCacheHit(b *testing.B) {
	snap := snapshot(b, shop(false))
	r := req("shop.example.com", "GET", "/api/cart", "bearer alice")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(ctx, r, snap, Options{}); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

// TestHeaderStrippingPastSixtyFourNames holds the set-or-removed rule when a
// policy names more headers than there are bits (the preset's and 64 of its
// own), so the names past the 64th are compared by name.
func TestHeaderStrippingPastSixtyFourNames(t *testing.T) {
	wide := shop(false)
	wide.Hosts = []string{"wide.example.com"}
	wide.Response.Headers = nil
	for i := range policy.MaxHeaders {
		claim := "sub"
		if i%3 == 0 {
			claim = "absent" // not set this time: must be removed
		}
		wide.Response.Headers = append(wide.Response.Headers, policy.HeaderSpec{Name: fmt.Sprintf("X-H%02d", i), Claim: claim})
	}
	snap := snapshot(t, wide)
	c := snap.Lookup("wide.example.com")
	d := Decide(context.Background(), req("wide.example.com", "GET", "/api/x", "bearer alice"), snap, Options{})
	if !d.Allow {
		t.Fatalf("want allow, got %d %s", d.Status, d.Reason)
	}
	for _, name := range c.Strip() {
		set := headerValueOf(d.Set, name) != ""
		if removed := slices.Contains(d.Remove, name); set == removed {
			t.Errorf("%s: set=%v removed=%v; want exactly one", name, set, removed)
		}
	}
	if got := headerValueOf(d.Set, "x-h62"); got != "alice" {
		t.Errorf("x-h62 = %q, want alice", got)
	}
}

// TestDecisionLogLevels: every denial is logged at the default level, with
// the fields the person on call searches by; allowed requests only at
// verbosity 1.
func TestDecisionLogLevels(t *testing.T) {
	for name, tc := range map[string]struct {
		verbosity int
		authz     string
		wantLines int
		want      string
	}{
		"deny at info":          {verbosity: 0, authz: "bearer bad", wantLines: 1, want: `"reason"="invalid_token"`},
		"allow not at info":     {verbosity: 0, authz: "bearer alice", wantLines: 0},
		"allow at verbosity 1":  {verbosity: 1, authz: "bearer alice", wantLines: 1, want: `"subject"="alice"`},
		"dependency error info": {verbosity: 0, authz: "bearer jwksdown", wantLines: 1, want: `"status"=503`},
	} {
		t.Run(name, func(t *testing.T) {
			var lines []string
			log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: tc.verbosity})
			var s store.Store
			s.Apply(snapshot(t, shop(false)))
			e := &Engine{Store: &s, Log: log}
			r := req("shop.example.com", "GET", "/api/x", tc.authz)
			r.RequestID = "req-1"
			e.Check(context.Background(), r)
			if len(lines) != tc.wantLines {
				t.Fatalf("%d log lines, want %d: %q", len(lines), tc.wantLines, lines)
			}
			if tc.wantLines == 1 && (!strings.Contains(lines[0], tc.want) || !strings.Contains(lines[0], `"requestId"="req-1"`)) {
				t.Fatalf("log line %q lacks %s or the request id", lines[0], tc.want)
			}
		})
	}
}

// sharedFactory hands every authenticator the same outcomes, so one
// identity object is seen across snapshots, as the token cache does.
type sharedFactory struct{ outcomes map[string]outcome }

func (f sharedFactory) New(a *policy.Authenticator) (authn.Authenticator, error) {
	return &fakeAuth{name: a.Name, outcomes: f.outcomes}, nil
}

// TestHeadersFollowPolicyChanges: an identity's headers are memoised, but a
// rebuilt policy that sets other headers is answered with its own, never
// the memo of the old one, and the memo keeps one policy only.
func TestHeadersFollowPolicyChanges(t *testing.T) {
	f := sharedFactory{outcomes: outcomes()}
	build := func(header string) *store.Snapshot {
		p := shop(false)
		p.Response = policy.Response{Headers: []policy.HeaderSpec{{Name: header, Claim: "sub"}}}
		return store.Build([]*policy.Policy{p}, f)
	}
	for i, header := range []string{"X-First", "X-Second", "X-First"} {
		d := Decide(context.Background(), req("shop.example.com", "GET", "/api/x", "bearer alice"), build(header), Options{})
		if !d.Allow {
			t.Fatalf("%d: %d %s", i, d.Status, d.Reason)
		}
		if got := headerValueOf(d.Set, header); got != "alice" {
			t.Fatalf("%d: %s = %q, want alice; set %v", i, header, got, d.Set)
		}
		other := map[string]string{"X-First": "x-second", "X-Second": "x-first"}[header]
		if headerValueOf(d.Set, other) != "" || slices.Contains(d.Remove, strings.ToLower(header)) {
			t.Fatalf("%d: the headers of an older policy leaked: set %v remove %v", i, d.Set, d.Remove)
		}
	}
}

// TestHeaderListsKeepNoSpareCapacity: the header list is kept per cached
// identity, so it holds the headers set and no room for those not set,
// whether built on the stack (a policy's usual few plans) or not (more
// plans than the stack buffer).
func TestHeaderListsKeepNoSpareCapacity(t *testing.T) {
	wide := shop(false)
	wide.Hosts = []string{"wide.example.com"}
	wide.Response.Headers = nil
	for i := range policy.MaxHeaders {
		wide.Response.Headers = append(wide.Response.Headers, policy.HeaderSpec{Name: fmt.Sprintf("X-H%02d", i), Claim: "sub"})
	}
	snap := snapshot(t, shop(false), wide)
	tests := map[string]struct {
		host, path, authz string
		wantSet           int
	}{
		"few claims":     {host: "shop.example.com", path: "/api/x", authz: "bearer reader", wantSet: 5},
		"all claims":     {host: "shop.example.com", path: "/api/x", authz: "bearer alice", wantSet: 11},
		"anonymous":      {host: "shop.example.com", path: "/public/x", wantSet: 1},
		"past the stack": {host: "wide.example.com", path: "/api/x", authz: "bearer alice", wantSet: 8 + policy.MaxHeaders},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := Decide(context.Background(), req(tc.host, "GET", tc.path, tc.authz), snap, Options{})
			if !d.Allow {
				t.Fatalf("want allow, got %d %s", d.Status, d.Reason)
			}
			if len(d.Set) != tc.wantSet || cap(d.Set) != len(d.Set) {
				t.Errorf("Set has len %d cap %d, want len %d and no spare capacity: %v", len(d.Set), cap(d.Set), tc.wantSet, d.Set)
			}
		})
	}
}

// TestHeaderListForms: an allow carries Remove joined for Envoy's HTTP
// filter and whether its header lists are UTF-8, made once with the lists
// (the adapters then do no per-request work for them), and right: a claim
// value that is not UTF-8 is reported, so the gRPC adapter still refuses to
// send it.
func TestHeaderListForms(t *testing.T) {
	snap := snapshot(t, shop(false))
	c := snap.Lookup("shop.example.com")
	if c == nil {
		t.Fatal("no policy for shop.example.com")
	}
	mangled := &authn.Identity{Subject: "m", Claims: authn.ClaimsOf(map[string]any{"sub": "m", "tenant": "acme\xff"})}
	tests := map[string]struct {
		id       *authn.Identity
		wantUTF8 bool
	}{
		"identity":                 {id: outcomes()["alice"].id, wantUTF8: true},
		"no identity":              {wantUTF8: true},
		"claim value is not UTF-8": {id: mangled, wantUTF8: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var first string
			for round := range 2 {
				d := &Decision{Allow: true, Identity: tc.id}
				setHeaders(d, c)
				if len(d.Remove) == 0 {
					t.Fatal("an allow removes the identity headers it does not set")
				}
				if want := strings.Join(d.Remove, ","); d.RemoveJoined != want {
					t.Fatalf("RemoveJoined = %q, want %q", d.RemoveJoined, want)
				}
				if d.HeadersUTF8 != tc.wantUTF8 {
					t.Errorf("HeadersUTF8 = %v, want %v", d.HeadersUTF8, tc.wantUTF8)
				}
				if round == 0 {
					first = d.RemoveJoined
				} else if unsafe.StringData(d.RemoveJoined) != unsafe.StringData(first) {
					t.Error("the joined list was made again for the same identity and policy")
				}
			}
		})
	}
}
