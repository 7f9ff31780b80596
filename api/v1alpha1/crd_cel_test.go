package v1alpha1_test

import (
	"strings"
	"testing"
)

// policyDoc wraps a spec (YAML, indented two spaces) in an AuthPolicy.
func policyDoc(spec string) []byte {
	return []byte("apiVersion: authgate.io/v1alpha1\nkind: AuthPolicy\nmetadata: {name: p, namespace: ns}\nspec:\n" + spec)
}

// A valid spec to vary: one JWT authenticator and one rule.
const (
	jwtAuth = "  - name: bearer\n    jwt: {issuer: https://idp.example.com, audiences: [api]}\n"
	anyRule = "  - name: all\n    match: {pathPrefix: /}\n"
)

func withHosts(hosts string) string {
	return "  hosts: " + hosts + "\n  authenticators:\n" + jwtAuth + "  rules:\n" + anyRule
}

func withAuth(auth string) string {
	return "  hosts: [a.example.com]\n  authenticators:\n" + auth + "  rules:\n" + anyRule
}

func withRules(rules string) string {
	return "  hosts: [a.example.com]\n  authenticators:\n" + jwtAuth + "  rules:\n" + rules
}

func withJWT(fields string) string {
	return withAuth("  - name: bearer\n    jwt: {issuer: https://idp.example.com, audiences: [api], " + fields + "}\n")
}

func withSession(session string) string {
	return withAuth("  - name: web\n    session: " + session + "\n")
}

func withIntrospection(fields string) string {
	return withAuth("  - name: opaque\n    introspection: {url: https://idp.example.com/introspect, " + fields + "}\n")
}

// TestCRDValidation checks each admission-time rule: what it rejects (the
// error must contain want) and a neighbour it accepts (want empty).
func TestCRDValidation(t *testing.T) {
	v := newValidator(t)
	tests := map[string]struct {
		spec string
		want string
	}{
		"minimal":                      {spec: withHosts("[a.example.com]")},
		"hosts: wildcard":              {spec: withHosts(`["*.example.com", x-1.example]`)},
		"hosts: upper case":            {spec: withHosts("[A.example.com]"), want: "should match"},
		"hosts: trailing dot":          {spec: withHosts("[a.example.com.]"), want: "should match"},
		"hosts: inner wildcard":        {spec: withHosts(`["a.*.example.com"]`), want: "should match"},
		"hosts: bare wildcard":         {spec: withHosts(`["*"]`), want: "should match"},
		"hosts: port":                  {spec: withHosts("[a.example.com:443]"), want: "should match"},
		"hosts: leading hyphen":        {spec: withHosts("[-a.example.com]"), want: "should match"},
		"hosts: 64-character label":    {spec: withHosts("[" + strings.Repeat("a", 64) + ".example]"), want: "should match"},
		"hosts: duplicate":             {spec: withHosts("[a.example.com, a.example.com]"), want: "Duplicate value"},
		"hosts: none":                  {spec: withHosts("[]"), want: "should have at least 1 items"},
		"hosts: missing":               {spec: "  rules:\n" + anyRule, want: "spec.hosts: Required value"},
		"rules: missing":               {spec: "  hosts: [a.example.com]\n  authenticators:\n" + jwtAuth, want: "spec.rules: Required value"},
		"unknown field":                {spec: withHosts("[a.example.com]") + "  requires: []\n", want: "spec.requires"},
		"enforcement: DryRun":          {spec: withHosts("[a.example.com]") + "  enforcement: DryRun\n"},
		"enforcement: unknown":         {spec: withHosts("[a.example.com]") + "  enforcement: Audit\n", want: "Unsupported value"},
		"preset: unknown":              {spec: withHosts("[a.example.com]") + "  response: {preset: okta}\n", want: "Unsupported value"},
		"response: claim or value":     {spec: withHosts("[a.example.com]") + "  response: {headers: {X-A: {claim: sub}, X-B: {value: v}}}\n"},
		"response: claim and value":    {spec: withHosts("[a.example.com]") + "  response: {headers: {X-A: {claim: sub, value: v}}}\n", want: "exactly one of claim, value"},
		"response: neither":            {spec: withHosts("[a.example.com]") + "  response: {headers: {X-A: {value: ''}}}\n", want: "exactly one of claim, value"},
		"response: token names":        {spec: withHosts("[a.example.com]") + "  response: {headers: {\"X-User_Id.v1!#$%&'*+^`|~\": {claim: sub}}}\n"},
		"response: name with space":    {spec: withHosts("[a.example.com]") + "  response: {headers: {X User: {claim: sub}}}\n", want: "header names must be HTTP tokens"},
		"response: pseudo-header":      {spec: withHosts("[a.example.com]") + "  response: {headers: {':path': {claim: sub}}}\n", want: "header names must be HTTP tokens"},
		"response: Authorization":      {spec: withHosts("[a.example.com]") + "  response: {headers: {Authorization: {claim: sub}}}\n", want: "cannot set hop-by-hop, proxy-controlled or credential headers"},
		"response: Host":               {spec: withHosts("[a.example.com]") + "  response: {headers: {HOST: {value: x}}}\n", want: "cannot set hop-by-hop"},
		"signIn: empty url":            {spec: withHosts("[a.example.com]") + "  signIn: {url: ''}\n", want: "should be at least 1 chars"},
		"authenticator: no kind":       {spec: withAuth("  - name: x\n"), want: "exactly one of jwt, session, introspection"},
		"authenticator: two kinds":     {spec: withAuth("  - name: x\n    jwt: {issuer: https://i.example, audiences: [a]}\n    introspection: {url: https://i.example/x}\n"), want: "exactly one of jwt, session, introspection"},
		"authenticator: unnamed":       {spec: withAuth("  - jwt: {issuer: https://i.example, audiences: [a]}\n"), want: "name: Required value"},
		"authenticator: same name":     {spec: withAuth(jwtAuth + jwtAuth), want: "authenticator names must be unique"},
		"rule: same name":              {spec: withRules(anyRule + anyRule), want: "rule names must be unique"},
		"rule: names an authenticator": {spec: withRules("  - name: r\n    match: {path: /x}\n    authenticators: [bearer]\n")},
		"rule: unknown authenticator":  {spec: withRules("  - name: r\n    match: {path: /x}\n    authenticators: [bearer, other]\n"), want: "rules may only name authenticators of this policy"},
		"rule: needs a credential":     {spec: "  hosts: [a.example.com]\n  rules:\n" + anyRule, want: "the policy has no authenticators"},
		"rule: anonymous only":         {spec: "  hosts: [a.example.com]\n  rules:\n  - {name: r, match: {pathPrefix: /}, allowAnonymous: true}\n"},
		"rule: anonymous and require":  {spec: withRules("  - {name: r, match: {pathPrefix: /}, allowAnonymous: true, require: [{claim: sub, exists: true}]}\n"), want: "allowAnonymous and require contradict"},
		"match: path and prefix":       {spec: withRules("  - {name: r, match: {path: /a, pathPrefix: /b}}\n"), want: "exactly one of path, pathPrefix"},
		"match: neither":               {spec: withRules("  - {name: r, match: {methods: [GET]}}\n"), want: "exactly one of path, pathPrefix"},
		"match: empty path ignored":    {spec: withRules("  - {name: r, match: {path: '', pathPrefix: /b}}\n")},
		"match: trailing slash":        {spec: withRules("  - {name: r, match: {path: /a/}}\n")},
		"match: root":                  {spec: withRules("  - {name: r, match: {pathPrefix: /}}\n")},
		"match: dots inside segment":   {spec: withRules("  - {name: r, match: {path: /a/..b/c.d/.e}}\n")},
		"match: relative":              {spec: withRules("  - {name: r, match: {path: a}}\n"), want: "must be a canonical path"},
		"match: dot segment":           {spec: withRules("  - {name: r, match: {pathPrefix: /a/./b}}\n"), want: "must be a canonical path"},
		"match: dot-dot at end":        {spec: withRules("  - {name: r, match: {pathPrefix: /a/..}}\n"), want: "must be a canonical path"},
		"match: double slash":          {spec: withRules("  - {name: r, match: {path: /a//b}}\n"), want: "must be a canonical path"},
		"match: percent":               {spec: withRules("  - {name: r, match: {path: /a%2Fb}}\n"), want: "must be a canonical path"},
		"match: query":                 {spec: withRules("  - {name: r, match: {path: '/a?b'}}\n"), want: "must be a canonical path"},
		"match: backslash":             {spec: withRules(`  - {name: r, match: {path: '/a\b'}}` + "\n"), want: "must be a canonical path"},
		"condition: each operator":     {spec: withRules("  - {name: r, match: {path: /}, require: [{claim: a, equals: ''}, {claim: b, contains: x}, {claim: c, oneOf: [x]}, {claim: d, exists: false}]}\n")},
		"condition: no operator":       {spec: withRules("  - {name: r, match: {path: /}, require: [{claim: a}]}\n"), want: "exactly one of equals, contains, oneOf, exists"},
		"condition: two operators":     {spec: withRules("  - {name: r, match: {path: /}, require: [{claim: a, equals: x, exists: true}]}\n"), want: "exactly one of equals, contains, oneOf, exists"},
		"condition: empty oneOf":       {spec: withRules("  - {name: r, match: {path: /}, require: [{claim: a, oneOf: []}]}\n"), want: "should have at least 1 items"},
		"condition: no claim":          {spec: withRules("  - {name: r, match: {path: /}, require: [{equals: x}]}\n"), want: "claim: Required value"},
		"jwt: algorithms":              {spec: withJWT("algorithms: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA]")},
		"jwt: HS256":                   {spec: withJWT("algorithms: [RS256, HS256]"), want: `Unsupported value: "HS256"`},
		"jwt: none":                    {spec: withJWT("algorithms: [none]"), want: `Unsupported value: "none"`},
		"jwt: no audience":             {spec: withJWT("audiences: []"), want: "should have at least 1 items"},
		"jwt: clockSkew":               {spec: withJWT("clockSkew: 1m30s")},
		"jwt: clockSkew too long":      {spec: withJWT("clockSkew: 11m"), want: "must be a duration from 0s to 10m"},
		"jwt: clockSkew negative":      {spec: withJWT("clockSkew: -1s"), want: "must be a duration from 0s to 10m"},
		"jwt: clockSkew in days":       {spec: withJWT("clockSkew: 1d"), want: "must be a duration from 0s to 10m"},
		"jwt: clockSkew not a time":    {spec: withJWT("clockSkew: soon"), want: "must be a duration from 0s to 10m"},
		"from: each source":            {spec: withJWT("from: [{header: {name: Authorization, prefix: 'Bearer '}}, {cookie: {name: at}}, {query: {name: t}}]")},
		"from: two sources":            {spec: withJWT("from: [{header: {name: A}, cookie: {name: b}}]"), want: "exactly one of header, cookie, query"},
		"from: no source":              {spec: withJWT("from: [{}]"), want: "exactly one of header, cookie, query"},
		"from: unnamed":                {spec: withJWT("from: [{cookie: {name: ''}}]"), want: "should be at least 1 chars"},
		"session: authgear default":    {spec: withSession("{resolver: {url: https://idp.example.com/r}}")},
		"session: json with cookie":    {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, contract: json, subjectField: user.id}}")},
		"session: status":              {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, contract: status, identityHeaders: {sub: X-User}}}")},
		"session: no credential":       {spec: withSession("{resolver: {url: https://idp.example.com/r, contract: json}}"), want: "at least one cookie is required"},
		"session: authorization off":   {spec: withSession("{forwardAuthorization: false, resolver: {url: https://idp.example.com/r}}"), want: "at least one cookie is required"},
		"session: authorization only":  {spec: withSession("{forwardAuthorization: true, resolver: {url: https://idp.example.com/r, contract: json}}")},
		"session: duplicate cookie":    {spec: withSession("{cookies: [s, s], resolver: {url: https://idp.example.com/r}}"), want: "Duplicate value"},
		"session: unknown contract":    {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, contract: oidc}}"), want: "Unsupported value"},
		"session: status without sub":  {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, contract: status, identityHeaders: {email: X-Email}}}"), want: "needs the header that carries the subject"},
		"session: subjectField":        {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, subjectField: id}}"), want: "only the json contract has a subject field"},
		"session: identityHeaders":     {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, contract: json, identityHeaders: {sub: X-User}}}"), want: "only the status contract reads identity from headers"},
		"session: forwardHeaders":      {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, forwardHeaders: [User-Agent, X-Forwarded-For]}}")},
		"session: forward Cookie":      {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, forwardHeaders: [Cookie]}}"), want: "cannot be forwarded"},
		"session: forward bad name":    {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, forwardHeaders: ['X:Y']}}"), want: "should match"},
		"session: bad cookie name":     {spec: withSession("{cookies: ['a=b'], resolver: {url: https://idp.example.com/r}}"), want: "should match"},
		"match: method":                {spec: withRules("  - {name: r, match: {path: /, methods: [get, PROPFIND, M-SEARCH]}}\n")},
		"match: bad method":            {spec: withRules("  - {name: r, match: {path: /, methods: ['GET POST']}}\n"), want: "should match"},
		"session: timings":             {spec: withSession("{cookies: [s], cacheTTL: 0s, negativeCacheTTL: 10m, staleIfError: 1h, resolver: {url: https://idp.example.com/r, timeout: 30s}}")},
		"session: zero timeout":        {spec: withSession("{cookies: [s], resolver: {url: https://idp.example.com/r, timeout: 0s}}"), want: "more than 0s and at most 30s"},
		"session: long cacheTTL":       {spec: withSession("{cookies: [s], cacheTTL: 61m, resolver: {url: https://idp.example.com/r}}"), want: "from 0s to 1h"},
		"session: long staleIfError":   {spec: withSession("{cookies: [s], staleIfError: 2h, resolver: {url: https://idp.example.com/r}}"), want: "from 0s to 1h"},
		"session: no resolver":         {spec: withSession("{cookies: [s]}"), want: "resolver: Required value"},
		"introspection: secret":        {spec: withIntrospection("clientID: c, clientSecretRef: {name: s.v1, key: client_secret}")},
		"introspection: no clientID":   {spec: withIntrospection("clientSecretRef: {name: s, key: k}"), want: "clientID is required with clientSecretRef"},
		"introspection: bad secret":    {spec: withIntrospection("clientID: c, clientSecretRef: {name: S, key: k}"), want: "should match"},
		"introspection: bad key":       {spec: withIntrospection("clientID: c, clientSecretRef: {name: s, key: 'a/b'}"), want: "should match"},
		"introspection: long timeout":  {spec: withIntrospection("timeout: 31s"), want: "more than 0s and at most 30s"},
		"introspection: negativeTTL":   {spec: withIntrospection("negativeCacheTTL: 11m"), want: "from 0s to 10m"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs := v.validate(decode(t, policyDoc(tc.spec)))
			got := errs.ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("rejected: %v", got)
			case tc.want != "" && got == nil:
				t.Errorf("accepted, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(got.Error(), tc.want):
				t.Errorf("error %q\ndoes not contain %q", got, tc.want)
			}
		})
	}
}
