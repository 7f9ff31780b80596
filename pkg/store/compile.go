package store

import (
	"fmt"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/memo"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// Compiled is a policy ready for the hot path.
type Compiled struct {
	Policy *policy.Policy
	// Key is Policy.Key(), computed once: every decision reports it.
	Key   string
	Rules []Rule
	// Headers is the plan for identity headers on allow.
	Headers []HeaderPlan
	// names is what derives from the policy's header names (the strip list
	// and the header bits), shared by the policies with the same names,
	// with what is derived from them at decision time (NamesMemo).
	names *nameInfo
	// Authgear is set when the authgear preset is on: it adds
	// X-Authgear-Session-Valid, whose value depends on the outcome.
	Authgear bool

	// memo holds what the decision derives from the policy alone (the
	// headers of an allow without identity), once per compiled policy.
	memo memo.List
	// counters are what Counter returns.
	counters memo.Table[CounterKey]
}

// Strip lists, lower-case, every header name this policy may set and their
// underscore variants: all are removed from the incoming request. A
// Compiled not made by Build has none.
func (c *Compiled) Strip() []string {
	if c.names == nil {
		return nil
	}
	return c.names.strip
}

// StripBits is parallel to Strip: the Bit of the header plan (or of the
// session-valid header) that sets that exact name, 0 when none does, so the
// hot path tells "set this time" from "remove" with one AND instead of
// comparing names.
func (c *Compiled) StripBits() []uint64 {
	if c.names == nil {
		return nil
	}
	return c.names.stripBits
}

// SessionValidBit is the Bit of SessionValidHeader (authgear preset).
func (c *Compiled) SessionValidBit() uint64 {
	if c.names == nil {
		return 0
	}
	return c.names.sessionBit
}

// NamesMemo is Memo for what depends on the policy's header names alone
// (Strip, StripBits and the plans' bits): policies with the same names share
// it, so thousands of tenants cost one copy.
func (c *Compiled) NamesMemo(key any, derive func() any) any {
	if c.names == nil {
		return c.Memo(key, derive)
	}
	if v, ok := c.names.memo.Load(key); ok {
		return v
	}
	v, _ := c.names.memo.LoadOrStore(key, derive())
	return v
}

// Memo returns what derive makes of the compiled policy, computing it the
// first time key is asked for. The value is shared by every request the
// policy decides and must not be modified.
func (c *Compiled) Memo(key any, derive func() any) any {
	return c.memo.Get(key, derive)
}

// Rule is a compiled rule.
type Rule struct {
	*policy.Rule
	// Index is the rule's position in spec.rules, for explanations.
	Index          int
	Authenticators []authn.Authenticator
	// path and prefix are the rule's Path and PathPrefix, and methods its
	// Methods, held here so that matching reads the compiled rule alone:
	// with thousands of policies, each pointer followed is a likely cache
	// miss on every request.
	path, prefix string
	methods      methodSet
}

// methodSet is a rule's methods: a bit per standard method, and a list of
// the others (extension methods are rare). Empty means any method.
type methodSet struct {
	bits  uint16
	other []string
}

// methodBit is a standard method's bit (its place in request.Methods), 0
// for any other method.
func methodBit(m string) uint16 {
	if i := request.MethodIndex(m); i >= 0 {
		return 1 << i
	}
	return 0
}

func newMethodSet(methods []string) methodSet {
	var s methodSet
	for _, m := range methods {
		m = strings.ToUpper(m)
		if b := methodBit(m); b != 0 {
			s.bits |= b
		} else if !slices.Contains(s.other, m) {
			s.other = append(s.other, m)
		}
	}
	return s
}

// has reports whether the set allows the (upper-case) method.
func (s *methodSet) has(method string) bool {
	if s.bits == 0 && s.other == nil {
		return true
	}
	if b := methodBit(method); b != 0 {
		return s.bits&b != 0
	}
	return slices.Contains(s.other, method)
}

// HeaderPlan says how one identity header is filled.
type HeaderPlan struct {
	Name  string // canonical, e.g. X-User-Id
	Key   string // Name in lower case, computed once (see decision.Header)
	Claim string // the claim to read; empty for a fixed value
	Value string // the fixed value
	Join  string // separator for array claims
	// Bit stands for the lower-case Name: plans with the same name share it.
	// Bits are assigned when the policy is compiled. A policy has at most
	// policy.MaxHeaders names of its own, but the authgear preset and the
	// default header add some: a name past the 64th gets 0, and the hot path
	// then compares names instead.
	Bit uint64
}

// SessionValidHeader is the authgear preset's outcome header.
const SessionValidHeader = "X-Authgear-Session-Valid"

// SessionValidKey is SessionValidHeader in lower case.
const SessionValidKey = "x-authgear-session-valid"

// authgearHeaders are the headers Authgear's resolver sets, from a token's
// claims (the claim names Authgear puts in its access tokens).
var authgearHeaders = []HeaderPlan{
	{Name: "X-Authgear-User-Id", Claim: "sub"},
	{Name: "X-Authgear-User-Anonymous", Claim: "https://authgear.com/claims/user/is_anonymous"},
	{Name: "X-Authgear-User-Verified", Claim: "https://authgear.com/claims/user/is_verified"},
	{Name: "X-Authgear-User-Can-Reauthenticate", Claim: "https://authgear.com/claims/user/can_reauthenticate"},
	{Name: "X-Authgear-User-Roles", Claim: "https://authgear.com/claims/user/roles", Join: ","},
	{Name: "X-Authgear-Session-Amr", Claim: "amr", Join: " "},
	{Name: "X-Authgear-Session-Authenticated-At", Claim: "auth_time"},
}

// AlwaysStripped are identity headers removed from every allowed request
// (with their underscore spellings), on top of those the policy may set,
// because applications commonly trust them: authgate's default header,
// oauth2-proxy's (which ingress-nginx setups forward), Authgear's resolver
// headers, and X-User-Id. Removal reaches the application where the proxy
// applies it (Envoy: headers_to_remove); nginx and Traefik copy only the
// headers their configuration names, so the samples name these too.
var AlwaysStripped = []string{
	policy.DefaultUserHeader, "X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Auth-Request-Preferred-Username",
	"X-Authgear-User-Id", "X-Authgear-User-Anonymous", "X-Authgear-User-Verified", "X-Authgear-User-Can-Reauthenticate",
	"X-Authgear-User-Roles", "X-Authgear-Session-Amr", "X-Authgear-Session-Authenticated-At", SessionValidHeader,
	"X-User-Id",
}

// Match returns the first rule that matches the method and canonical path.
func (c *Compiled) Match(method, path string) *Rule {
	for i := range c.Rules {
		r := &c.Rules[i]
		if !r.methods.has(method) {
			continue
		}
		if r.path != "" {
			// Routers commonly treat "/a/" as "/a": so does an exact rule.
			if path == r.path || slashed(path, r.path) || slashed(r.path, path) {
				return r
			}
			continue
		}
		if PrefixMatch(r.prefix, path) {
			return r
		}
	}
	return nil
}

// slashed reports whether a is b with a trailing slash.
func slashed(a, b string) bool {
	return len(a) == len(b)+1 && a[len(b)] == '/' && a[:len(b)] == b
}

// PrefixMatch is a segment-aware prefix match: "/public" matches "/public"
// and "/public/x" but not "/publicity". A prefix ending in "/" matches
// everything below it.
func PrefixMatch(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}

func compile(p *policy.Policy, f Factory, m *buildMemo) (*Compiled, error) {
	c := &Compiled{Policy: p, Key: p.Key()}
	byName := make(map[string]authn.Authenticator, len(p.Authenticators))
	all := make([]authn.Authenticator, 0, len(p.Authenticators))
	for i := range p.Authenticators {
		a, err := m.authenticator(f, &p.Authenticators[i])
		if err != nil {
			return nil, fmt.Errorf("spec.authenticators[%d]: %w", i, err)
		}
		byName[p.Authenticators[i].Name] = a
		all = append(all, a)
	}
	c.Rules = m.rules(p, func() []Rule {
		rules := make([]Rule, 0, len(p.Rules))
		for i := range p.Rules {
			r := &p.Rules[i]
			cr := Rule{Rule: r, Index: i, Authenticators: all, path: r.Path, prefix: r.PathPrefix, methods: newMethodSet(r.Methods)}
			if len(r.Authenticators) > 0 {
				cr.Authenticators = make([]authn.Authenticator, 0, len(r.Authenticators))
				for _, n := range r.Authenticators {
					cr.Authenticators = append(cr.Authenticators, byName[n])
				}
			}
			rules = append(rules, cr)
		}
		return rules
	})

	if p.Response.Preset == policy.PresetAuthgear {
		c.Authgear = true
		c.Headers = append(c.Headers, authgearHeaders...)
	}
	for _, h := range p.Response.Headers {
		c.Headers = append(c.Headers, HeaderPlan{Name: textproto.CanonicalMIMEHeaderKey(h.Name), Claim: h.Claim, Value: h.Value, Join: ","})
	}
	if len(c.Headers) == 0 && !c.Authgear {
		c.Headers = []HeaderPlan{{Name: policy.DefaultUserHeader, Claim: "sub"}}
	}
	// Well-known identity headers are always stripped, whatever this policy
	// sets: applications written for Authgear's resolver, oauth2-proxy or
	// another policy's defaults may trust them.
	names := make([]string, 0, len(AlwaysStripped)+len(c.Headers)+1)
	names = append(names, AlwaysStripped...)
	for _, h := range c.Headers {
		names = append(names, h.Name)
	}
	m.headerNames(c, names)
	c.Headers = m.plans(c.Headers)
	return c, nil
}

// buildMemo shares what policies with the same header names have in common
// within one Build: their strip list, header bits and header plans, and
// the authenticators of equal entries and the rules of shared rule lists
// (share.go).
// Thousands of tenants with the same response settings then cost one list,
// in time and memory.
type buildMemo struct {
	names          map[string]*nameInfo
	planSets       map[string][]HeaderPlan
	authenticators map[string]sharedAuthenticator
	entries        map[*policy.Authenticator]authn.Authenticator
	ruleSets       map[rulesKey][]Rule
}

// plans returns one shared copy of equal header plans. Plans are read-only
// once compiled.
func (m *buildMemo) plans(ps []HeaderPlan) []HeaderPlan {
	var b strings.Builder
	for _, p := range ps {
		for _, f := range [...]string{p.Name, p.Key, p.Claim, p.Value, p.Join, strconv.FormatUint(p.Bit, 16)} {
			b.WriteString(strconv.Itoa(len(f)))
			b.WriteByte(':')
			b.WriteString(f)
		}
	}
	key := b.String()
	if shared, ok := m.planSets[key]; ok {
		return shared
	}
	if m.planSets == nil {
		m.planSets = map[string][]HeaderPlan{}
	}
	m.planSets[key] = ps
	return ps
}

// nameInfo is what compile derives from a policy's header names.
type nameInfo struct {
	bits       []string // the lower-case name each bit stands for
	planBits   []uint64 // per header plan
	keys       []string // per header plan: its name in lower case
	sessionBit uint64
	strip      []string
	stripBits  []uint64
	// memo is shared by every policy with these names, and holds a value
	// per combination of header names an allow sets (NamesMemo): more keys
	// than a memo.List is for.
	memo sync.Map
}

// headerNames sets c's names (its Strip, StripBits and SessionValidBit),
// and each plan's Bit and Key, from names: AlwaysStripped, then each plan's
// name.
func (m *buildMemo) headerNames(c *Compiled, names []string) {
	// The preset's flag is part of the key: a policy without it may still
	// name a header X-Authgear-Session-Valid.
	key := strconv.FormatBool(c.Authgear) + "\x00" + strings.Join(names, "\x00")
	info, ok := m.names[key]
	if !ok {
		info = deriveNames(c)
		info.strip = stripList(names)
		info.stripBits = make([]uint64, len(info.strip))
		for i, n := range info.strip {
			info.stripBits[i] = info.bitOf(n)
		}
		if m.names == nil {
			m.names = map[string]*nameInfo{}
		}
		m.names[key] = info
	}
	for i := range c.Headers {
		c.Headers[i].Bit, c.Headers[i].Key = info.planBits[i], info.keys[i]
	}
	c.names = info
}

// deriveNames gives every distinct lower-case header name the policy may set
// a bit (the first 64 of them), and lowers each plan's name once for the
// transports that want it so.
func deriveNames(c *Compiled) *nameInfo {
	info := &nameInfo{planBits: make([]uint64, len(c.Headers)), keys: make([]string, len(c.Headers))}
	assign := func(lower string) uint64 {
		if b := info.bitOf(lower); b != 0 || len(info.bits) >= 64 {
			return b
		}
		info.bits = append(info.bits, lower)
		return 1 << (len(info.bits) - 1)
	}
	for i := range c.Headers {
		info.keys[i] = strings.ToLower(c.Headers[i].Name)
		info.planBits[i] = assign(info.keys[i])
	}
	if c.Authgear {
		info.sessionBit = assign(SessionValidKey)
	}
	return info
}

// bitOf is the bit of a lower-case name, 0 if it has none.
func (n *nameInfo) bitOf(lower string) uint64 {
	for i, b := range n.bits {
		if b == lower {
			return 1 << i
		}
	}
	return 0
}

// stripList returns the lower-case names and their underscore variants,
// sorted and without repeats. Proxies that pass underscores through would
// otherwise let "X_User_Id" reach an application that normalises it to
// X-User-Id (CGI-style frameworks do).
func stripList(names []string) []string {
	out := make([]string, 0, 2*len(names))
	for _, n := range names {
		l := strings.ToLower(n)
		out = append(out, l)
		if u := strings.ReplaceAll(l, "-", "_"); u != l {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}
