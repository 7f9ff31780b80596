package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/policy"
)

// validPolicy is a policy that passes Validate; each case breaks one thing,
// so a case's errors are the ones it is about and no others.
func validPolicy() *policy.Policy {
	return &policy.Policy{
		Namespace: "shop",
		Name:      "shop",
		Hosts:     []string{"shop.example.com", "*.shop.example.com"},
		Authenticators: []policy.Authenticator{{
			Name: "bearer",
			JWT: &policy.JWT{
				Issuer:     "https://auth.example.com",
				JWKSURI:    "https://auth.example.com/jwks",
				Audiences:  []string{"shop"},
				Algorithms: policy.DefaultAlgorithms,
				ClockSkew:  policy.DefaultClockSkew,
				From:       policy.DefaultSources,
			},
		}},
		Rules: []policy.Rule{
			{Name: "public", PathPrefix: "/public", Methods: []string{"GET", "HEAD"}, AllowAnonymous: true},
			{Name: "admin", PathPrefix: "/admin/", Authenticators: []string{"bearer"},
				Require: []policy.Condition{{Claim: "roles", Op: policy.OpContains, Value: "admin"}}},
			{Name: "default", Path: "/"},
		},
		Response: policy.Response{
			Preset:  policy.PresetAuthgear,
			Headers: []policy.HeaderSpec{{Name: "X-User-Id", Claim: "sub"}, {Name: "X-Gateway", Value: "authgate"}},
		},
	}
}

func TestValidate(t *testing.T) {
	manyHosts := make([]string, policy.MaxHosts+1)
	for i := range manyHosts {
		manyHosts[i] = fmt.Sprintf("h%d.example.com", i)
	}
	tests := map[string]struct {
		mutate func(p *policy.Policy)
		// want holds a prefix of each error's text ("path: message"), in
		// the order Validate reports them; nil means the policy is valid.
		want []string
	}{
		"valid": {
			mutate: func(*policy.Policy) {},
		},
		"anonymous-only policy needs no authenticators": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = nil
				p.Rules = []policy.Rule{{Name: "open", PathPrefix: "/", AllowAnonymous: true}}
			},
		},
		"anonymous rule with conditions": {
			mutate: func(p *policy.Policy) {
				p.Rules = []policy.Rule{{Name: "x", PathPrefix: "/", AllowAnonymous: true, Require: []policy.Condition{{Claim: "sub", Op: policy.OpExists, Exists: true}}}}
			},
			want: []string{"spec.rules[0]: allowAnonymous and require contradict each other"},
		},
		"session authenticator": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = append(p.Authenticators, policy.Authenticator{Name: "web", Session: &policy.Session{
					Cookies: []string{"session"}, URL: "https://auth.example.com/_resolver/resolve", Contract: policy.ContractAuthgear,
					Timeout: 2 * time.Second, CacheTTL: 30 * time.Second, NegativeCacheTTL: 2 * time.Second,
				}})
			},
		},
		"session authenticator mistakes": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = append(p.Authenticators, policy.Authenticator{Name: "web", Session: &policy.Session{
					URL: "ftp://x", Contract: "magic", ForwardHeaders: []string{"Cookie"}, SubjectField: "id",
					Timeout: time.Minute, CacheTTL: 2 * time.Hour, NegativeCacheTTL: -1, StaleIfError: -1,
				}})
			},
			want: []string{
				"spec.authenticators[1].session.resolver.url: must be an absolute http(s) URL",
				`spec.authenticators[1].session.resolver.contract: must be authgear, status or json, not "magic"`,
				"spec.authenticators[1].session.cookies: at least one cookie is required unless forwardAuthorization is true",
				`spec.authenticators[1].session.resolver.forwardHeaders[0]: "Cookie" cannot be forwarded`,
				"spec.authenticators[1].session.resolver.subjectField: only the json contract has a subject field",
				"spec.authenticators[1].session.resolver.timeout: must be more than 0s and at most 30s",
				"spec.authenticators[1].session.cacheTTL: must be between 0s and 1h",
				"spec.authenticators[1].session.negativeCacheTTL: must be between 0s and 10m",
				"spec.authenticators[1].session.staleIfError: must be between 0s and 1h",
			},
		},
		"status contract needs the subject header": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = append(p.Authenticators, policy.Authenticator{Name: "web", Session: &policy.Session{
					Cookies: []string{"s"}, URL: "https://a/", Contract: policy.ContractStatus, Timeout: time.Second,
				}})
			},
			want: []string{"spec.authenticators[1].session.resolver.identityHeaders: the status contract needs the header"},
		},
		"introspection secret without client": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = append(p.Authenticators, policy.Authenticator{Name: "opaque", Introspection: &policy.Introspection{
					URL: "https://a/introspect", ClientSecret: "x", Timeout: time.Second,
				}})
			},
			want: []string{"spec.authenticators[1].introspection.clientID: required with clientSecretRef"},
		},
		"two kinds": {
			mutate: func(p *policy.Policy) {
				p.Authenticators[0].Introspection = &policy.Introspection{URL: "https://a/introspect", Timeout: time.Second}
			},
			want: []string{"spec.authenticators[0]: exactly one of jwt, session, introspection must be set"},
		},
		"sign-in URL": {
			mutate: func(p *policy.Policy) { p.SignInURL = "/login?rd={url}" },
			want:   []string{"spec.signIn.url: must be an absolute http(s) URL"},
		},
		"no hosts": {
			mutate: func(p *policy.Policy) { p.Hosts = nil },
			want:   []string{"spec.hosts: at least one host is required"},
		},
		"too many hosts": {
			mutate: func(p *policy.Policy) { p.Hosts = manyHosts },
			want:   []string{fmt.Sprintf("spec.hosts: at most %d hosts", policy.MaxHosts)},
		},
		"invalid host": {
			mutate: func(p *policy.Policy) { p.Hosts = []string{"ok.example.com", "Shop.example.com"} },
			want:   []string{`spec.hosts[1]: not a valid host "Shop.example.com"`},
		},
		"duplicate host": {
			mutate: func(p *policy.Policy) { p.Hosts = []string{"a.example.com", "b.example.com", "a.example.com"} },
			want:   []string{`spec.hosts[2]: duplicate host "a.example.com"`},
		},
		"authenticator without name": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].Name = ""; p.Rules[1].Authenticators = nil },
			want:   []string{"spec.authenticators[0].name: required"},
		},
		"duplicate authenticator": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = append(p.Authenticators, p.Authenticators[0])
			},
			want: []string{`spec.authenticators[1].name: duplicate authenticator name "bearer"`},
		},
		"authenticator without kind": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT = nil },
			want:   []string{"spec.authenticators[0]: exactly one of jwt, session, introspection must be set"},
		},
		"issuer not a URL": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.Issuer = "auth.example.com" },
			want:   []string{"spec.authenticators[0].jwt.issuer: must be an absolute http(s) URL"},
		},
		"issuer with fragment": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.Issuer = "https://auth.example.com/#x" },
			want:   []string{"spec.authenticators[0].jwt.issuer: an issuer has no query or fragment"},
		},
		"jwks URI with query is fine": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.JWKSURI = "https://auth.example.com/jwks?v=2" },
		},
		"jwks URI not http": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.JWKSURI = "file:///etc/jwks.json" },
			want:   []string{"spec.authenticators[0].jwt.jwksURI: must be an absolute http(s) URL"},
		},
		"no audience": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.Audiences = nil },
			want:   []string{"spec.authenticators[0].jwt.audiences: at least one audience is required"},
		},
		"empty audience": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.Audiences = []string{"shop", ""} },
			want:   []string{"spec.authenticators[0].jwt.audiences[1]: must not be empty"},
		},
		"symmetric and none algorithms": {
			mutate: func(p *policy.Policy) {
				p.Authenticators[0].JWT.Algorithms = []string{"RS256", "HS256", "none", "HS512"}
			},
			want: []string{
				`spec.authenticators[0].jwt.algorithms[1]: unsupported algorithm "HS256"`,
				`spec.authenticators[0].jwt.algorithms[2]: unsupported algorithm "none"`,
				`spec.authenticators[0].jwt.algorithms[3]: unsupported algorithm "HS512"`,
			},
		},
		"every supported algorithm": {
			mutate: func(p *policy.Policy) {
				p.Authenticators[0].JWT.Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
			},
		},
		"clock skew zero and ten minutes are the bounds": {
			mutate: func(p *policy.Policy) {
				b := p.Authenticators[0]
				b.Name, b.JWT = "b", &policy.JWT{Issuer: "https://b.example.com", Audiences: []string{"x"}, ClockSkew: 10 * time.Minute}
				p.Authenticators[0].JWT.ClockSkew = 0
				p.Authenticators = append(p.Authenticators, b)
			},
		},
		"negative clock skew": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.ClockSkew = -time.Second },
			want:   []string{"spec.authenticators[0].jwt.clockSkew: must be between 0s and 10m"},
		},
		"clock skew over ten minutes": {
			mutate: func(p *policy.Policy) { p.Authenticators[0].JWT.ClockSkew = 10*time.Minute + 1 },
			want:   []string{"spec.authenticators[0].jwt.clockSkew: must be between 0s and 10m"},
		},
		"source without name": {
			mutate: func(p *policy.Policy) {
				p.Authenticators[0].JWT.From = []policy.Source{{Kind: policy.SourceHeader, Name: "authorization"}, {Kind: policy.SourceCookie}}
			},
			want: []string{"spec.authenticators[0].jwt.from[1].cookie.name: required"},
		},
		"no rules": {
			mutate: func(p *policy.Policy) { p.Rules = nil },
			want:   []string{"spec.rules: at least one rule is required"},
		},
		"rule without name": {
			mutate: func(p *policy.Policy) { p.Rules[2].Name = "" },
			want:   []string{"spec.rules[2].name: required"},
		},
		"duplicate rule": {
			mutate: func(p *policy.Policy) { p.Rules[2].Name = "public" },
			want:   []string{`spec.rules[2].name: duplicate rule name "public"`},
		},
		"both path and prefix": {
			mutate: func(p *policy.Policy) { p.Rules[2].PathPrefix = "/" },
			want:   []string{"spec.rules[2].match: exactly one of path, pathPrefix must be set"},
		},
		"neither path nor prefix": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "" },
			want:   []string{"spec.rules[2].match: exactly one of path, pathPrefix must be set"},
		},
		"relative path": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "index.html" },
			want:   []string{"spec.rules[2].match.path: must start with /"},
		},
		"overlong prefix": {
			mutate: func(p *policy.Policy) { p.Rules[0].PathPrefix = "/" + strings.Repeat("a", policy.MaxPathLen) },
			want:   []string{fmt.Sprintf("spec.rules[0].match.pathPrefix: longer than %d characters", policy.MaxPathLen)},
		},
		"dot-dot segment": {
			mutate: func(p *policy.Policy) { p.Rules[0].PathPrefix = "/public/.." },
			want:   []string{"spec.rules[0].match.pathPrefix: must be a canonical path"},
		},
		"dot segment": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "/./x" },
			want:   []string{"spec.rules[2].match.path: must be a canonical path"},
		},
		"percent-encoding": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "/a%20b" },
			want:   []string{"spec.rules[2].match.path: must be a canonical path"},
		},
		"backslash": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = `/a\b` },
			want:   []string{"spec.rules[2].match.path: must be a canonical path"},
		},
		"fragment": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "/a#b" },
			want:   []string{"spec.rules[2].match.path: must be a canonical path"},
		},
		// Canonical request paths have repeated slashes merged, so a rule on
		// "/admin//users" would never match and a broader rule would decide.
		"repeated slash": {
			mutate: func(p *policy.Policy) { p.Rules[1].PathPrefix = "/admin//users" },
			want:   []string{"spec.rules[1].match.pathPrefix: must be a canonical path"},
		},
		"double slash root": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "//" },
			want:   []string{"spec.rules[2].match.path: must be a canonical path"},
		},
		"dots inside a segment are fine": {
			mutate: func(p *policy.Policy) { p.Rules[2].Path = "/.well-known/a..b/c." },
		},
		"invalid method": {
			mutate: func(p *policy.Policy) { p.Rules[0].Methods = []string{"GET", "GE T", ""} },
			want: []string{
				"spec.rules[0].match.methods[1]: not a valid HTTP method",
				"spec.rules[0].match.methods[2]: not a valid HTTP method",
			},
		},
		"unknown authenticator": {
			mutate: func(p *policy.Policy) { p.Rules[1].Authenticators = []string{"bearer", "basic"} },
			want:   []string{`spec.rules[1].authenticators[1]: no authenticator named "basic"`},
		},
		"credential needed but no authenticators": {
			mutate: func(p *policy.Policy) {
				p.Authenticators = nil
				p.Rules[1].Authenticators = nil
			},
			want: []string{
				"spec.rules[1]: needs a credential but the policy has no authenticators",
				"spec.rules[2]: needs a credential but the policy has no authenticators",
			},
		},
		"condition without claim": {
			mutate: func(p *policy.Policy) { p.Rules[1].Require[0].Claim = "" },
			want:   []string{"spec.rules[1].require[0].claim: required"},
		},
		"unknown preset": {
			mutate: func(p *policy.Policy) { p.Response.Preset = "Authgear" },
			want:   []string{`spec.response.preset: unknown preset "Authgear" (supported: "authgear")`},
		},
		"unknown deny reason mode": {
			mutate: func(p *policy.Policy) { p.Response.DenyReason = "send" },
			want:   []string{`spec.response.denyReason: must be Send or Omit, not "send"`},
		},
		"invalid header name": {
			mutate: func(p *policy.Policy) { p.Response.Headers[0].Name = "X User" },
			want:   []string{"spec.response.headers[X User]: not a valid HTTP header name"},
		},
		"reserved headers": {
			mutate: func(p *policy.Policy) {
				p.Response.Headers = []policy.HeaderSpec{
					{Name: "authorization", Claim: "sub"},
					{Name: "Host", Value: "x"},
					{Name: "Transfer-Encoding", Value: "x"},
				}
			},
			want: []string{
				"spec.response.headers[authorization]: authgate cannot set authorization",
				"spec.response.headers[Host]: authgate cannot set Host",
				"spec.response.headers[Transfer-Encoding]: authgate cannot set Transfer-Encoding",
			},
		},
		"pseudo header": {
			mutate: func(p *policy.Policy) { p.Response.Headers = []policy.HeaderSpec{{Name: ":authority", Value: "x"}} },
			want: []string{
				"spec.response.headers[:authority]: not a valid HTTP header name",
				"spec.response.headers[:authority]: authgate cannot set :authority",
			},
		},
		"header with claim and value": {
			mutate: func(p *policy.Policy) { p.Response.Headers[0].Value = "x" },
			want:   []string{"spec.response.headers[X-User-Id]: exactly one of claim, value must be set"},
		},
		"header with neither claim nor value": {
			mutate: func(p *policy.Policy) { p.Response.Headers[0].Claim = "" },
			want:   []string{"spec.response.headers[X-User-Id]: exactly one of claim, value must be set"},
		},
		"every error is reported, not just the first": {
			mutate: func(p *policy.Policy) {
				p.Hosts = nil
				p.Rules = nil
				p.Response.Preset = "nginx"
			},
			want: []string{
				"spec.hosts: at least one host is required",
				"spec.rules: at least one rule is required",
				`spec.response.preset: unknown preset "nginx"`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := validPolicy()
			// DefaultAlgorithms and DefaultSources are shared package
			// variables: give each case its own copy to mutate.
			j := *p.Authenticators[0].JWT
			j.Algorithms = append([]string(nil), j.Algorithms...)
			j.From = append([]policy.Source(nil), j.From...)
			p.Authenticators[0].JWT = &j
			tc.mutate(p)

			err := p.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fes policy.FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("Validate() = %v (%T), want policy.FieldErrors", err, err)
			}
			got := make([]string, len(fes))
			for i, fe := range fes {
				got[i] = fe.Error()
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestValidHostPattern(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := map[string]struct {
		host string
		ok   bool
	}{
		"simple":                  {host: "example.com", ok: true},
		"single label":            {host: "localhost", ok: true},
		"digits and hyphens":      {host: "a-1.b2-c.example", ok: true},
		"punycode":                {host: "xn--bcher-kva.example", ok: true},
		"wildcard":                {host: "*.example.com", ok: true},
		"wildcard one label":      {host: "*.com", ok: true},
		"63-byte label":           {host: long63 + ".com", ok: true},
		"253 bytes":               {host: strings.Repeat(long63+".", 3) + strings.Repeat("a", 61), ok: true},
		"empty":                   {host: ""},
		"upper case":              {host: "Example.com"},
		"space":                   {host: "exa mple.com"},
		"bare wildcard":           {host: "*"},
		"wildcard without name":   {host: "*."},
		"double wildcard":         {host: "*.*.example.com"},
		"inner wildcard":          {host: "a.*.example.com"},
		"partial wildcard":        {host: "*a.example.com"},
		"empty label":             {host: "a..b"},
		"leading dot":             {host: ".example.com"},
		"trailing dot":            {host: "example.com."},
		"leading hyphen":          {host: "-a.example.com"},
		"trailing hyphen":         {host: "a-.example.com"},
		"underscore":              {host: "a_b.example.com"},
		"port":                    {host: "example.com:443"},
		"ipv6 literal":            {host: "[::1]"},
		"unicode":                 {host: "bücher.example"},
		"64-byte label":           {host: long63 + "a.com"},
		"254 bytes":               {host: strings.Repeat(long63+".", 3) + strings.Repeat("a", 62)},
		"wildcard over 253 bytes": {host: "*." + strings.Repeat(long63+".", 3) + strings.Repeat("a", 60)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := policy.ValidHostPattern(tc.host)
			if tc.ok && err != nil {
				t.Errorf("ValidHostPattern(%q) = %v, want nil", tc.host, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("ValidHostPattern(%q) = nil, want an error", tc.host)
			}
		})
	}
}

func TestFieldErrors(t *testing.T) {
	var none policy.FieldErrors
	// Err must return an untyped nil: a nil FieldErrors in an error
	// interface would be a non-nil error that prints as "".
	if err := none.Err(); err != nil {
		t.Fatalf("empty FieldErrors.Err() = %#v, want nil", err)
	}
	var errs policy.FieldErrors
	errs.Add("spec.hosts[0]", "not a valid host %q", "A")
	errs.Add("spec.rules", "at least one rule is required")
	err := errs.Err()
	want := `spec.hosts[0]: not a valid host "A"; spec.rules: at least one rule is required`
	if err == nil || err.Error() != want {
		t.Fatalf("Err() = %v, want %q", err, want)
	}
	wrapped := fmt.Errorf("AuthPolicy shop/shop: %w", err)
	var fes policy.FieldErrors
	if !errors.As(wrapped, &fes) || len(fes) != 2 || fes[1].Path != "spec.rules" {
		t.Errorf("errors.As through a wrap gave %#v", fes)
	}
}

func TestPolicyKey(t *testing.T) {
	tests := map[string]struct {
		p    policy.Policy
		want string
	}{
		"namespaced":   {p: policy.Policy{Namespace: "shop", Name: "web"}, want: "shop/web"},
		"no namespace": {p: policy.Policy{Name: "web"}, want: "web"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.Key(); got != tc.want {
				t.Errorf("Key() = %q, want %q", got, tc.want)
			}
		})
	}
}
