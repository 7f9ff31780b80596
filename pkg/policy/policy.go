// Package policy is authgate's internal model of an AuthPolicy: plain structs
// with defaults applied, checked by Validate. It has no Kubernetes imports so
// the hot path and the standalone mode can use it without a cluster.
package policy

import (
	"time"
)

// Policy is one AuthPolicy in internal form.
type Policy struct {
	Namespace string
	Name      string
	// CreatedAt orders policies that claim the same host: the oldest wins.
	CreatedAt time.Time
	// Generation is the metadata.generation the policy was built from.
	Generation int64

	Hosts          []string
	Authenticators []Authenticator
	Rules          []Rule
	Response       Response
	DryRun         bool
	// SignInURL, when set, is where browsers without a valid credential are
	// redirected by proxies that follow redirects; "{url}" is replaced by
	// the original URL, URL-encoded.
	SignInURL string
}

// Key is the policy's namespace/name, unique across a snapshot.
func (p *Policy) Key() string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

// Authenticator is one named way of proving identity. Exactly one kind is set.
type Authenticator struct {
	Name          string
	JWT           *JWT
	Session       *Session
	Introspection *Introspection
}

// Secret is a credential from a Secret. It prints as "REDACTED" so that a
// policy can be logged or dumped without leaking it; use string(s) to send it.
type Secret string

// String hides the value.
func (Secret) String() string { return "REDACTED" }

// MarshalText hides the value.
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// The session resolver contracts.
const (
	ContractAuthgear = "authgear"
	ContractStatus   = "status"
	ContractJSON     = "json"
)

// Session configures resolution of session cookies through a resolver.
type Session struct {
	Cookies              []string
	ForwardAuthorization bool
	URL                  string
	Contract             string
	Timeout              time.Duration
	ForwardHeaders       []string // canonical names
	SubjectField         string   // json contract
	IdentityHeaders      map[string]string
	CacheTTL             time.Duration
	NegativeCacheTTL     time.Duration
	StaleIfError         time.Duration
}

// Introspection configures RFC 7662 token introspection.
type Introspection struct {
	URL              string
	ClientID         string
	ClientSecret     Secret
	From             []Source
	Timeout          time.Duration
	CacheTTL         time.Duration
	NegativeCacheTTL time.Duration
	StaleIfError     time.Duration
}

// Defaults for resolver-backed authenticators.
const (
	DefaultResolverTimeout  = 2 * time.Second
	DefaultCacheTTL         = 30 * time.Second
	DefaultNegativeCacheTTL = 2 * time.Second
)

// JWT configures local verification of signed access tokens.
type JWT struct {
	Issuer     string
	JWKSURI    string // empty: discovered from the issuer
	Audiences  []string
	Algorithms []string
	ClockSkew  time.Duration
	From       []Source
}

// DefaultAlgorithms are accepted when a JWT authenticator names none.
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// DefaultClockSkew is tolerated on exp, nbf and iat when none is configured.
const DefaultClockSkew = 30 * time.Second

// SupportedAlgorithms are the asymmetric JWS algorithms authgate verifies.
// Symmetric (HS*) and "none" are deliberately absent: a shared secret in a
// policy would let anyone who can read the policy mint tokens, and HS256 with
// a public key as secret is the classic key-confusion attack.
var SupportedAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// SourceKind says where in the request a credential is read from.
type SourceKind int

// The credential sources.
const (
	SourceHeader SourceKind = iota
	SourceCookie
	SourceQuery
)

// String names the kind as in the policy YAML.
func (k SourceKind) String() string {
	switch k {
	case SourceHeader:
		return "header"
	case SourceCookie:
		return "cookie"
	case SourceQuery:
		return "query"
	}
	return "unknown"
}

// MarshalText writes the kind by name (golden files, debug output).
func (k SourceKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Source is one place a credential is read from.
type Source struct {
	Kind   SourceKind
	Name   string // header names are lower-case
	Prefix string // header only; matched case-insensitively
}

// DefaultSources is where a bearer token is read from when none is configured.
var DefaultSources = []Source{{Kind: SourceHeader, Name: "authorization", Prefix: "Bearer "}}

// Rule matches requests and says what they need.
type Rule struct {
	Name           string
	Path           string // exact match; or
	PathPrefix     string // segment-aware prefix match
	Methods        []string
	AllowAnonymous bool
	Authenticators []string // empty: all of the policy's
	Require        []Condition
}

// Operator is the test a Condition applies.
type Operator int

// The condition operators.
const (
	OpEquals Operator = iota
	OpContains
	OpOneOf
	OpExists
)

// String names the operator as in the policy YAML.
func (o Operator) String() string {
	switch o {
	case OpEquals:
		return "equals"
	case OpContains:
		return "contains"
	case OpOneOf:
		return "oneOf"
	case OpExists:
		return "exists"
	}
	return "unknown"
}

// MarshalText writes the operator by name (golden files, debug output).
func (o Operator) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Condition is a test on one claim.
type Condition struct {
	Claim  string
	Op     Operator
	Value  string   // equals, contains
	Values []string // oneOf
	Exists bool     // exists
}

// PresetAuthgear emits the headers Authgear's resolver sets.
const PresetAuthgear = "authgear"

// Response describes what authgate adds to its answers: identity headers on
// allowed requests, the reason code on denials.
type Response struct {
	Preset  string
	Headers []HeaderSpec // sorted by name
	// DenyReason is DenyReasonSend, DenyReasonOmit, or "" for the server's
	// default: translate is pure and cannot know the flag.
	DenyReason string
}

// The values of Response.DenyReason.
const (
	DenyReasonSend = "Send"
	DenyReasonOmit = "Omit"
)

// HeaderSpec is one identity header: from a claim, or a fixed value.
type HeaderSpec struct {
	Name  string // canonical MIME form, e.g. X-User-Id
	Claim string
	Value string
}

// DefaultUserHeader is set to the subject when a policy has no response
// section: the name ingress-nginx users already list in auth-response-headers.
const DefaultUserHeader = "X-Auth-Request-User"
