package store

import (
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
)

// countingFactory builds a distinct authenticator per call.
type countingFactory struct{ built *int }

func (f countingFactory) New(a *policy.Authenticator) (authn.Authenticator, error) {
	*f.built++
	return &nopAuth{name: a.Name}, nil
}

// TestEqualAuthenticatorsAreShared: policies whose entries are equal in
// every field share one authenticator; any difference, a client secret
// included, gets its own.
func TestEqualAuthenticatorsAreShared(t *testing.T) {
	jwt := func(mod func(*policy.JWT)) policy.Authenticator {
		j := &policy.JWT{Issuer: "https://idp.example.com", Audiences: []string{"shop"}, ClockSkew: time.Second}
		if mod != nil {
			mod(j)
		}
		return policy.Authenticator{Name: "bearer", JWT: j}
	}
	session := func(mod func(*policy.Session)) policy.Authenticator {
		s := &policy.Session{Cookies: []string{"session"}, URL: "http://resolver/resolve", Contract: policy.ContractStatus,
			Timeout: time.Second, IdentityHeaders: map[string]string{"sub": "X-User"}}
		if mod != nil {
			mod(s)
		}
		return policy.Authenticator{Name: "web", Session: s}
	}
	intro := func(secret policy.Secret) policy.Authenticator {
		return policy.Authenticator{Name: "opaque", Introspection: &policy.Introspection{URL: "http://idp/introspect", ClientID: "c", ClientSecret: secret, Timeout: time.Second}}
	}
	tests := map[string]struct {
		a, b   policy.Authenticator
		shared bool
	}{
		"equal jwt":             {a: jwt(nil), b: jwt(nil), shared: true},
		"equal session":         {a: session(nil), b: session(nil), shared: true},
		"equal introspection":   {a: intro("s1"), b: intro("s1"), shared: true},
		"other name":            {a: jwt(nil), b: func() policy.Authenticator { a := jwt(nil); a.Name = "other"; return a }()},
		"other audience":        {a: jwt(nil), b: jwt(func(j *policy.JWT) { j.Audiences = []string{"admin"} })},
		"other issuer":          {a: jwt(nil), b: jwt(func(j *policy.JWT) { j.Issuer = "https://evil.example.com" })},
		"other skew":            {a: jwt(nil), b: jwt(func(j *policy.JWT) { j.ClockSkew = 2 * time.Second })},
		"other algorithms":      {a: jwt(nil), b: jwt(func(j *policy.JWT) { j.Algorithms = []string{"ES256"} })},
		"other source":          {a: jwt(nil), b: jwt(func(j *policy.JWT) { j.From = []policy.Source{{Kind: policy.SourceCookie, Name: "t"}} })},
		"other cookie":          {a: session(nil), b: session(func(s *policy.Session) { s.Cookies = []string{"sid"} })},
		"other cache ttl":       {a: session(nil), b: session(func(s *policy.Session) { s.CacheTTL = time.Minute })},
		"other identity header": {a: session(nil), b: session(func(s *policy.Session) { s.IdentityHeaders = map[string]string{"sub": "X-Subject"} })},
		"other client secret":   {a: intro("s1"), b: intro("s2")},
		"other kind":            {a: jwt(nil), b: policy.Authenticator{Name: "bearer", Session: session(nil).Session}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p1, p2 := pol("ns", "a", 1, "a.example.com"), pol("ns", "b", 2, "b.example.com")
			p1.Authenticators, p2.Authenticators = []policy.Authenticator{tc.a}, []policy.Authenticator{tc.b}
			built := 0
			snap := Build([]*policy.Policy{p1, p2}, countingFactory{built: &built})
			if len(snap.Problems()) > 0 {
				t.Fatalf("problems: %+v", snap.Problems())
			}
			a1 := snap.Lookup("a.example.com").Rules[0].Authenticators[0]
			a2 := snap.Lookup("b.example.com").Rules[0].Authenticators[0]
			if got := a1 == a2; got != tc.shared {
				t.Errorf("shared = %v, want %v", got, tc.shared)
			}
			want := 2
			if tc.shared {
				want = 1
			}
			if built != want {
				t.Errorf("factory called %d times, want %d", built, want)
			}
		})
	}
}

// TestSharedListsCompileOnce: policies that hold the same lists of
// authenticator entries and rules (translate shares equal lists) share
// their compiled rules; a policy with the same rules but other entries
// gets rules of its own, with its own authenticators.
func TestSharedListsCompileOnce(t *testing.T) {
	auths := []policy.Authenticator{{Name: "bearer", JWT: &policy.JWT{Issuer: "https://a.example.com", Audiences: []string{"shop"}}}}
	other := []policy.Authenticator{{Name: "bearer", JWT: &policy.JWT{Issuer: "https://b.example.com", Audiences: []string{"shop"}}}}
	rules := []policy.Rule{{Name: "admin", PathPrefix: "/admin", Methods: []string{"GET"}}, {Name: "default", PathPrefix: "/"}}
	var ps []*policy.Policy
	for i, as := range [][]policy.Authenticator{auths, auths, other} {
		p := pol("ns", "p"+itoa(i), i, "h"+itoa(i)+".example.com")
		p.Authenticators, p.Rules = as, rules
		ps = append(ps, p)
	}
	built := 0
	snap := Build(ps, countingFactory{built: &built})
	if len(snap.Problems()) > 0 {
		t.Fatalf("problems: %+v", snap.Problems())
	}
	c0, c1, c2 := snap.Lookup("h0.example.com"), snap.Lookup("h1.example.com"), snap.Lookup("h2.example.com")
	if &c0.Rules[0] != &c1.Rules[0] {
		t.Error("policies with the same lists compiled their rules twice")
	}
	if &c0.Rules[0] == &c2.Rules[0] || c0.Rules[0].Authenticators[0] == c2.Rules[0].Authenticators[0] {
		t.Error("a policy with other authenticator entries got another policy's rules")
	}
	if built != 2 {
		t.Errorf("factory called %d times, want 2", built)
	}
	for _, c := range []*Compiled{c0, c1, c2} {
		if r := c.Match("GET", "/admin/x"); r == nil || r.Name != "admin" {
			t.Errorf("%s: GET /admin/x matched %v", c.Key, r)
		}
		if r := c.Match("POST", "/admin/x"); r == nil || r.Name != "default" {
			t.Errorf("%s: POST /admin/x matched %v", c.Key, r)
		}
	}
}
