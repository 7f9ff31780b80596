package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/textproto"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// nopAuth is an authenticator that is never presented a credential.
type nopAuth struct{ name string }

func (a nopAuth) Name() string                { return a.name }
func (nopAuth) Present(*request.Request) bool { return false }
func (nopAuth) Authenticate(context.Context, *request.Request) (*authn.Identity, error) {
	return nil, authn.ErrInvalid
}

type factory struct{ fail bool }

func (f factory) New(a *policy.Authenticator) (authn.Authenticator, error) {
	if f.fail {
		return nil, errors.New("cannot build")
	}
	return nopAuth{name: a.Name}, nil
}

func pol(ns, name string, created int, hosts ...string) *policy.Policy {
	return &policy.Policy{
		Namespace: ns, Name: name, CreatedAt: time.Unix(int64(created), 0),
		Hosts: hosts,
		Rules: []policy.Rule{{Name: "all", PathPrefix: "/", AllowAnonymous: true}},
	}
}

func TestLookup(t *testing.T) {
	snap := Build([]*policy.Policy{
		pol("a", "exact", 1, "shop.example.com"),
		pol("a", "wild", 2, "*.shop.example.com"),
		pol("a", "deeper", 3, "*.eu.shop.example.com"),
		pol("a", "other", 4, "api.example.org", "*.example.net"),
	}, factory{})
	if len(snap.Problems()) != 0 {
		t.Fatalf("unexpected problems: %+v", snap.Problems())
	}
	tests := map[string]struct {
		host string
		want string // policy name, "" for none
	}{
		"exact":                       {host: "shop.example.com", want: "exact"},
		"wildcard one label":          {host: "www.shop.example.com", want: "wild"},
		"wildcard two labels":         {host: "a.b.shop.example.com", want: "wild"},
		"most specific wildcard":      {host: "x.eu.shop.example.com", want: "deeper"},
		"wildcard base is not itself": {host: "eu.shop.example.com", want: "wild"},
		"wildcard needs a label":      {host: "example.net", want: ""},
		"second host of a policy":     {host: "api.example.org", want: "other"},
		"unknown":                     {host: "evil.com", want: ""},
		"suffix but not subdomain":    {host: "evilshop.example.com", want: ""},
		"no dots":                     {host: "localhost", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ""
			if c := snap.Lookup(tc.host); c != nil {
				got = c.Policy.Name
			}
			if got != tc.want {
				t.Fatalf("Lookup(%q) = %q, want %q", tc.host, got, tc.want)
			}
		})
	}
	var nilSnap *Snapshot
	if nilSnap.Lookup("shop.example.com") != nil {
		t.Fatal("nil snapshot matched")
	}
}

func TestConflictsAreDeterministic(t *testing.T) {
	older := pol("shop", "shop", 100, "shop.example.com")
	newer := pol("blog", "blog", 200, "shop.example.com", "blog.example.com")
	tieA := pol("a", "x", 300, "tie.example.com")
	tieB := pol("b", "x", 300, "tie.example.com")
	for name, order := range map[string][]*policy.Policy{
		"older first": {older, newer, tieA, tieB},
		"newer first": {tieB, newer, tieA, older},
	} {
		t.Run(name, func(t *testing.T) {
			snap := Build(order, factory{})
			if c := snap.Lookup("shop.example.com"); c == nil || c.Policy.Key() != "shop/shop" {
				t.Fatalf("shop.example.com held by %v, want shop/shop", c)
			}
			// The loser is out as a whole, its other hosts too.
			if c := snap.Lookup("blog.example.com"); c != nil {
				t.Fatalf("blog.example.com held by %s, want nobody", c.Policy.Key())
			}
			if c := snap.Lookup("tie.example.com"); c == nil || c.Policy.Key() != "a/x" {
				t.Fatalf("tie broken towards %v, want a/x (namespace/name order)", c)
			}
			want := []Problem{
				{Policy: "blog/blog", Reason: "HostConflict", Holder: "shop/shop", Message: "host shop.example.com is already claimed by shop/shop"},
				{Policy: "b/x", Reason: "HostConflict", Holder: "a/x", Message: "host tie.example.com is already claimed by a/x"},
			}
			if !reflect.DeepEqual(snap.Problems(), want) {
				t.Fatalf("problems = %+v\nwant %+v", snap.Problems(), want)
			}
		})
	}
}

func TestInvalidPoliciesAreLeftOut(t *testing.T) {
	bad := pol("a", "bad", 1, "BAD HOST")
	good := pol("a", "good", 2, "good.example.com")
	snap := Build([]*policy.Policy{bad, good}, factory{})
	if snap.Lookup("good.example.com") == nil {
		t.Fatal("the good policy must still be in force")
	}
	if len(snap.Problems()) != 1 || snap.Problems()[0].Reason != "Invalid" || snap.Problems()[0].Policy != "a/bad" {
		t.Fatalf("problems = %+v", snap.Problems())
	}

	withAuth := pol("a", "auth", 1, "auth.example.com")
	withAuth.Authenticators = []policy.Authenticator{{Name: "jwt", JWT: &policy.JWT{Issuer: "https://i", Audiences: []string{"a"}}}}
	snap = Build([]*policy.Policy{withAuth}, factory{fail: true})
	if snap.Lookup("auth.example.com") != nil || len(snap.Problems()) != 1 {
		t.Fatalf("a policy whose authenticator cannot be built must be left out: %+v", snap.Problems())
	}
}

func TestMatch(t *testing.T) {
	p := pol("a", "p", 1, "a.com")
	p.Rules = []policy.Rule{
		{Name: "public", PathPrefix: "/public", Methods: []string{"GET", "HEAD"}, AllowAnonymous: true},
		{Name: "orders", Path: "/api/orders", Methods: []string{"POST"}, AllowAnonymous: true},
		{Name: "dir", PathPrefix: "/dir/", AllowAnonymous: true},
		{Name: "default", PathPrefix: "/", AllowAnonymous: true},
	}
	snap := Build([]*policy.Policy{p}, factory{})
	c := snap.Lookup("a.com")
	if c == nil {
		t.Fatalf("policy not built: %+v", snap.Problems())
	}
	tests := map[string]struct {
		method, path, want string
	}{
		"prefix itself":             {"GET", "/public", "public"},
		"below prefix":              {"GET", "/public/x", "public"},
		"prefix is segment-aware":   {"GET", "/publicity", "default"},
		"method restricts":          {"POST", "/public/x", "default"},
		"exact path":                {"POST", "/api/orders", "orders"},
		"exact is exact":            {"POST", "/api/orders/1", "default"},
		"exact method":              {"GET", "/api/orders", "default"},
		"trailing slash prefix":     {"PUT", "/dir/x", "dir"},
		"trailing slash prefix own": {"PUT", "/dir", "default"},
		"root":                      {"DELETE", "/", "default"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := c.Match(tc.method, tc.path)
			if r == nil || r.Name != tc.want {
				t.Fatalf("Match(%s %s) = %v, want %s", tc.method, tc.path, r, tc.want)
			}
		})
	}

	only := pol("a", "only", 1, "b.com")
	only.Rules = []policy.Rule{{Name: "admin", PathPrefix: "/admin", AllowAnonymous: true}}
	if r := Build([]*policy.Policy{only}, factory{}).Lookup("b.com").Match("GET", "/x"); r != nil {
		t.Fatalf("no rule should match /x, got %s", r.Name)
	}
}

func TestHeaderPlanAndStripList(t *testing.T) {
	tests := map[string]struct {
		response  policy.Response
		wantNames []string
		wantStrip []string
	}{
		"default header": {
			wantNames: []string{"X-Auth-Request-User"},
			wantStrip: spellings(AlwaysStripped...),
		},
		"custom headers": {
			response:  policy.Response{Headers: []policy.HeaderSpec{{Name: "x-user-id", Claim: "sub"}, {Name: "X-Gateway", Value: "authgate"}}},
			wantNames: []string{"X-User-Id", "X-Gateway"},
			wantStrip: spellings(append([]string{"X-Gateway"}, AlwaysStripped...)...),
		},
		"authgear preset": {
			response: policy.Response{Preset: policy.PresetAuthgear},
			wantNames: []string{"X-Authgear-User-Id", "X-Authgear-User-Anonymous", "X-Authgear-User-Verified",
				"X-Authgear-User-Can-Reauthenticate", "X-Authgear-User-Roles", "X-Authgear-Session-Amr", "X-Authgear-Session-Authenticated-At"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := pol("a", "p", 1, "a.com")
			p.Response = tc.response
			c := Build([]*policy.Policy{p}, factory{}).Lookup("a.com")
			var names []string
			for _, h := range c.Headers {
				names = append(names, h.Name)
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Fatalf("headers = %v, want %v", names, tc.wantNames)
			}
			if tc.wantStrip != nil && !reflect.DeepEqual(c.Strip(), tc.wantStrip) {
				t.Fatalf("strip = %v, want %v", c.Strip(), tc.wantStrip)
			}
			if c.Authgear {
				for _, want := range []string{"x-authgear-session-valid", "x_authgear_session_valid", "x_authgear_user_id"} {
					if !contains(c.Strip(), want) {
						t.Fatalf("strip list %v lacks %s", c.Strip(), want)
					}
				}
			}
		})
	}
}

// spellings lists the names in lower case with their underscore spellings,
// sorted, without repeats.
func spellings(names ...string) []string {
	seen := map[string]bool{}
	for _, n := range names {
		seen[strings.ToLower(n)] = true
		seen[strings.ReplaceAll(strings.ToLower(n), "-", "_")] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestStoreSwap(t *testing.T) {
	var s Store
	if s.Ready() || s.Load() != nil {
		t.Fatal("a new store is not ready")
	}
	snap := Build(nil, factory{})
	s.Apply(snap)
	if !s.Ready() || s.Load() != snap {
		t.Fatal("Apply did not publish the snapshot")
	}
}

// BenchmarkLookup is the host and rule lookup of a decision: the policy for
// a request's host among 10, 1,000 and 10,000 policies (each with an exact
// and a wildcard host), found the wildcard way (an exact miss, then the
// parent domain), then the rule for GET /api/cart among the policy's three
// (the last matches). "cycle" spreads requests evenly over every policy in
// the order they were built; "hot" asks for one host; "zipf" draws hosts
// as skewed multi-tenant traffic does, in an order the CPU cannot guess.
// Host strings are made beforehand: formatting them would be measured too.
//
// Each policy has its own rule and authenticator lists, equal in content:
// the worst case for CPU caches, as if every tenant's rules differed. The
// "-shared" runs give every policy the same lists, as translate does for
// equal ones (pkg/translate/share.go), so the store compiles them once:
// what a platform whose tenants share their rules gets.
func BenchmarkLookup(b *testing.B) {
	rules := func() []policy.Rule {
		return []policy.Rule{
			{Name: "public", PathPrefix: "/public", AllowAnonymous: true},
			{Name: "admin", PathPrefix: "/admin", Methods: []string{"GET", "POST"}},
			{Name: "default", PathPrefix: "/"},
		}
	}
	auths := func() []policy.Authenticator {
		return []policy.Authenticator{{Name: "jwt", JWT: &policy.JWT{Issuer: "https://i", Audiences: []string{"a"}}}}
	}
	sharedRules, sharedAuths := rules(), auths()
	for _, n := range []int{10, 1000, 10000} {
		hosts := make([]string, n)
		for i := range n {
			hosts[i] = "a.w" + itoa(i) + ".example.com"
		}
		// A server reads the host of a request it has just parsed: in the
		// CPU's cache. The hosts are packed into one string so that reading
		// them costs the benchmark as little as it can.
		packed := strings.Join(hosts, "")
		for i, at := 0, 0; i < n; i++ {
			hosts[i], at = packed[at:at+len(hosts[i])], at+len(hosts[i])
		}
		// Multi-tenant traffic is skewed: a few tenants get most of it.
		// "zipf" draws hosts from a Zipf distribution (s = 1.1, the shape
		// of web traffic by site), in a fixed sequence made beforehand.
		seq := make([]uint16, 1<<16)
		z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(n-1))
		for i := range seq {
			seq[i] = uint16(z.Uint64())
		}
		for _, shared := range []bool{false, true} {
			ps := make([]*policy.Policy, 0, n)
			for i := range n {
				p := pol("ns", "p"+itoa(i), i, "h"+itoa(i)+".example.com", "*.w"+itoa(i)+".example.com")
				p.Rules, p.Authenticators = rules(), auths()
				if shared {
					p.Rules, p.Authenticators = sharedRules, sharedAuths
				}
				ps = append(ps, p)
			}
			snap := Build(ps, factory{})
			if shared && &snap.Lookup(hosts[0]).Rules[0] != &snap.Lookup(hosts[n-1]).Rules[0] {
				b.Fatal("shared lists were compiled more than once")
			}
			find := func(b *testing.B, host string) {
				c := snap.Lookup(host)
				if c == nil {
					b.Fatal("no policy")
				}
				if r := c.Match("GET", "/api/cart"); r == nil || r.Name != "default" {
					b.Fatal("wrong rule")
				}
			}
			suffix := ""
			if shared {
				suffix = "-shared"
			}
			b.Run("cycle"+suffix+"/"+itoa(n), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					find(b, hosts[i%n])
				}
			})
			b.Run("zipf"+suffix+"/"+itoa(n), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					find(b, hosts[seq[i&(len(seq)-1)]])
				}
			})
			if !shared {
				b.Run("hot/"+itoa(n), func(b *testing.B) {
					host := hosts[n/2]
					for b.Loop() {
						find(b, host)
					}
				})
			}
		}
	}
}

// BenchmarkMemoryLatency is the machine's side of BenchmarkLookup: one
// load that depends on the one before, over a random cycle of cache lines
// filling 32 KiB to 64 MiB (L1, L2, L3, memory). Spread over 10,000
// tenants, a lookup reads each tenant's index slot, host key, compiled
// policy and rules, megabytes in all, and pays at least the latency at
// that size once per request; the budget of 1.2 × the 10-policy figure is
// about 8 ns (docs/performance.md).
func BenchmarkMemoryLatency(b *testing.B) {
	type line struct {
		next int
		_    [56]byte // one 64-byte cache line per element
	}
	for _, kib := range []int{32, 256, 768, 2048, 8192, 65536} {
		n := kib << 10 / int(unsafe.Sizeof(line{}))
		lines := make([]line, n)
		order := rand.New(rand.NewPCG(1, 2)).Perm(n)
		for i := range n {
			lines[order[i]].next = order[(i+1)%n]
		}
		b.Run(itoa(kib)+"KiB", func(b *testing.B) {
			at := 0
			for b.Loop() {
				at = lines[at].next
			}
			if at < 0 {
				b.Fatal("unreachable: keeps the loads")
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestHeaderBits pins what the hot path relies on: every strip entry that a
// plan (or the preset's session-valid header) sets carries that plan's bit,
// every other entry 0; each plan's Key is its lower-case name; and policies
// that share header names share the derived lists, except across the
// authgear preset, whose session-valid header is not a plan.
func TestHeaderBits(t *testing.T) {
	custom := pol("a", "custom", 1, "a.com")
	custom.Response = policy.Response{Headers: []policy.HeaderSpec{{Name: "X-User-Id", Claim: "sub"}, {Name: "X-Tenant", Value: "t1"}}}
	same := pol("a", "same", 2, "b.com")
	same.Response = custom.Response
	preset := pol("a", "preset", 3, "c.com")
	preset.Response = policy.Response{Preset: policy.PresetAuthgear}
	// No preset, but plans with the preset's names and X-Authgear-Session-Valid
	// last: the same list of names as preset's.
	lookalike := pol("a", "lookalike", 4, "d.com")
	for _, h := range authgearHeaders {
		lookalike.Response.Headers = append(lookalike.Response.Headers, policy.HeaderSpec{Name: h.Name, Claim: h.Claim})
	}
	lookalike.Response.Headers = append(lookalike.Response.Headers, policy.HeaderSpec{Name: SessionValidHeader, Value: "true"})

	snap := Build([]*policy.Policy{custom, same, preset, lookalike}, factory{})
	for _, host := range []string{"a.com", "b.com", "c.com", "d.com"} {
		c := snap.Lookup(host)
		if c == nil {
			t.Fatalf("%s: no policy (problems %v)", host, snap.Problems())
		}
		owner := map[string]uint64{}
		for _, h := range c.Headers {
			if h.Key != strings.ToLower(h.Name) || h.Bit == 0 {
				t.Fatalf("%s: plan %s has key %q bit %b", host, h.Name, h.Key, h.Bit)
			}
			owner[h.Key] = h.Bit
		}
		if c.Authgear {
			if c.SessionValidBit() == 0 {
				t.Fatalf("%s: no session-valid bit", host)
			}
			owner[SessionValidKey] = c.SessionValidBit()
		}
		if len(c.StripBits()) != len(c.Strip()) {
			t.Fatalf("%s: %d strip bits for %d names", host, len(c.StripBits()), len(c.Strip()))
		}
		for i, name := range c.Strip() {
			if c.StripBits()[i] != owner[name] {
				t.Fatalf("%s: strip %s has bit %b, want %b", host, name, c.StripBits()[i], owner[name])
			}
		}
	}
	if a, b := snap.Lookup("a.com"), snap.Lookup("b.com"); &a.Strip()[0] != &b.Strip()[0] {
		t.Fatal("policies with the same header names should share one strip list")
	}
	if c, d := snap.Lookup("c.com"), snap.Lookup("d.com"); len(c.Headers) == len(d.Headers) {
		t.Fatalf("the preset and its lookalike should differ in plans: %d and %d", len(c.Headers), len(d.Headers))
	}
}

// TestMatchMethods: a rule's methods, standard or not, any case in the
// policy, match the request's upper-case method; no methods match any.
func TestMatchMethods(t *testing.T) {
	p := pol("a", "m", 1, "a.com")
	p.Rules = []policy.Rule{
		{Name: "read", PathPrefix: "/", Methods: []string{"get", "HEAD"}, AllowAnonymous: true},
		{Name: "ext", PathPrefix: "/", Methods: []string{"PROPFIND", "propfind", "TRACE"}, AllowAnonymous: true},
		{Name: "exact", Path: "/x", AllowAnonymous: true},
	}
	c := Build([]*policy.Policy{p}, factory{}).Lookup("a.com")
	if c == nil {
		t.Fatal("no policy")
	}
	tests := []struct{ method, path, want string }{
		{"GET", "/a", "read"},
		{"HEAD", "/a", "read"},
		{"PROPFIND", "/a", "ext"},
		{"TRACE", "/a", "ext"},
		{"POST", "/x", "exact"},
		{"POST", "/x/", "exact"},
		{"MKCOL", "/x", "exact"},
		{"POST", "/a", ""},
		{"get", "/a", ""}, // methods arrive upper-case; anything else is another method
		{"POST", "/xy", ""},
	}
	for _, tc := range tests {
		got := ""
		if r := c.Match(tc.method, tc.path); r != nil {
			got = r.Name
		}
		if got != tc.want {
			t.Errorf("%s %s: rule %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestPlanNamesCanonical: every header plan's Name is in canonical form,
// however the policy spelled it. The HTTP adapter writes Set names as they
// are, without canonicalising them again.
func TestPlanNamesCanonical(t *testing.T) {
	for _, preset := range []string{"", policy.PresetAuthgear} {
		p := pol("a", "p", 1, "a.com")
		p.Response = policy.Response{Preset: preset, Headers: []policy.HeaderSpec{
			{Name: "x-tenant-id", Value: "t1"}, {Name: "X-USER-EMAIL", Claim: "email"},
		}}
		c := Build([]*policy.Policy{p}, factory{}).Lookup("a.com")
		if c == nil {
			t.Fatal("no policy")
		}
		for _, h := range c.Headers {
			if h.Name != textproto.CanonicalMIMEHeaderKey(h.Name) {
				t.Errorf("preset %q: plan name %q is not canonical", preset, h.Name)
			}
		}
	}
}
