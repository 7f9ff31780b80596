package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuthPolicy says, for a set of hosts, which credentials authgate accepts and
// which requests they may make. The same document is read from a folder in
// standalone mode and served as a custom resource in Kubernetes mode.
type AuthPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AuthPolicySpec   `json:"spec"`
	Status AuthPolicyStatus `json:"status,omitempty"`
}

// AuthPolicyList is a list of AuthPolicy objects.
type AuthPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthPolicy `json:"items"`
}

// AuthPolicySpec is the desired behaviour for the policy's hosts.
type AuthPolicySpec struct {
	// Hosts this policy decides for: exact names, or "*." wildcards that match
	// any deeper subdomain. Case-insensitive; a port in the request is ignored.
	Hosts []string `json:"hosts"`

	// Authenticators are tried in order: the first whose credential is present
	// in the request decides who the caller is.
	Authenticators []Authenticator `json:"authenticators,omitempty"`

	// Rules are ordered; the first that matches the request decides.
	Rules []Rule `json:"rules"`

	// Response says which identity headers the upstream receives on allow.
	Response *Response `json:"response,omitempty"`

	// Enforcement is Enforce (default) or DryRun: decide, log and count as
	// usual, but always allow.
	Enforcement EnforcementMode `json:"enforcement,omitempty"`

	// SignIn sends browsers without a valid session to sign in, where the
	// proxy can follow a redirect (Envoy, Traefik). nginx auth_request
	// always gets a 401 and redirects with error_page.
	SignIn *SignIn `json:"signIn,omitempty"`
}

// SignIn configures the browser sign-in redirect.
type SignIn struct {
	// URL to redirect to; "{url}" is replaced by the original URL,
	// URL-encoded.
	URL string `json:"url"`
}

// EnforcementMode selects whether denials are enforced.
type EnforcementMode string

const (
	// EnforcementEnforce denies what the policy denies.
	EnforcementEnforce EnforcementMode = "Enforce"
	// EnforcementDryRun records denials but allows every request.
	EnforcementDryRun EnforcementMode = "DryRun"
)

// Authenticator is one named way of proving identity. Exactly one kind is set.
type Authenticator struct {
	// Name is unique within the policy and referenced by rules.
	Name string `json:"name"`
	// JWT verifies signed access tokens locally against the issuer's JWKS.
	JWT *JWTAuthenticator `json:"jwt,omitempty"`
	// Session resolves session cookies (and, optionally, bearer tokens)
	// through the identity provider's session resolver.
	Session *SessionAuthenticator `json:"session,omitempty"`
	// Introspection checks opaque access tokens with RFC 7662.
	Introspection *IntrospectionAuthenticator `json:"introspection,omitempty"`
}

// SessionAuthenticator resolves a session cookie through a resolver.
type SessionAuthenticator struct {
	// Cookies are the cookie names read from the request and forwarded to
	// the resolver; no other cookie is forwarded.
	Cookies []string `json:"cookies,omitempty"`
	// ForwardAuthorization also resolves an Authorization header through
	// the resolver. Default true for the authgear contract, else false.
	ForwardAuthorization *bool `json:"forwardAuthorization,omitempty"`
	// Resolver is the endpoint that answers who a session belongs to.
	Resolver SessionResolver `json:"resolver"`
	// CacheTTL bounds how long a valid answer is reused (default 30s, 0
	// disables), never past the session's expiry when the resolver reports
	// one. A revoked session stays accepted for at most this long.
	CacheTTL *metav1.Duration `json:"cacheTTL,omitempty"`
	// NegativeCacheTTL is how long an invalid answer is reused (default 2s).
	NegativeCacheTTL *metav1.Duration `json:"negativeCacheTTL,omitempty"`
	// StaleIfError serves a valid answer up to this long past its expiry
	// while the resolver is failing. Off by default: it trades revocation
	// latency for availability.
	StaleIfError *metav1.Duration `json:"staleIfError,omitempty"`
}

// SessionResolver is a session resolver endpoint and the contract it speaks.
type SessionResolver struct {
	URL string `json:"url"`
	// Contract is authgear (default), status or json.
	Contract string `json:"contract,omitempty"`
	// Timeout of one resolver call (default 2s).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// ForwardHeaders are extra request headers passed on to the resolver.
	ForwardHeaders []string `json:"forwardHeaders,omitempty"`
	// SubjectField is the dotted path to the subject in a json contract
	// answer (default "sub").
	SubjectField string `json:"subjectField,omitempty"`
	// IdentityHeaders maps claim names to the response headers that carry
	// them, for the status contract ("sub" names the subject's header).
	IdentityHeaders map[string]string `json:"identityHeaders,omitempty"`
}

// IntrospectionAuthenticator checks opaque tokens at an RFC 7662 endpoint.
type IntrospectionAuthenticator struct {
	URL      string `json:"url"`
	ClientID string `json:"clientID,omitempty"`
	// ClientSecretRef names the client secret: a Secret key in Kubernetes,
	// the file <policies dir>/secrets/<name>/<key> in standalone mode.
	ClientSecretRef *SecretKeyRef `json:"clientSecretRef,omitempty"`
	// From lists where the token is read from (default Authorization Bearer).
	From []CredentialSource `json:"from,omitempty"`
	// Timeout of one introspection call (default 2s).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// CacheTTL bounds how long an active answer is reused (default 30s),
	// never past the token's exp.
	CacheTTL *metav1.Duration `json:"cacheTTL,omitempty"`
	// NegativeCacheTTL is how long an inactive answer is reused (default 2s).
	NegativeCacheTTL *metav1.Duration `json:"negativeCacheTTL,omitempty"`
	// StaleIfError: as for sessions.
	StaleIfError *metav1.Duration `json:"staleIfError,omitempty"`
}

// SecretKeyRef names one key of a Secret in the policy's namespace.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// JWTAuthenticator verifies JSON Web Tokens.
type JWTAuthenticator struct {
	// Issuer must equal the token's iss claim.
	Issuer string `json:"issuer"`
	// JWKSURI is where the signing keys are published. When empty it is
	// discovered from <issuer>/.well-known/openid-configuration.
	JWKSURI string `json:"jwksURI,omitempty"`
	// Audiences: the token's aud must contain at least one.
	Audiences []string `json:"audiences"`
	// Algorithms allowed for the signature. Default RS256, ES256, EdDSA.
	// HS* and none are rejected.
	Algorithms []string `json:"algorithms,omitempty"`
	// ClockSkew tolerated on exp, nbf and iat. Default 30s.
	ClockSkew *metav1.Duration `json:"clockSkew,omitempty"`
	// From lists where the token is read from, in order. Default: the
	// Authorization header with the "Bearer " prefix.
	From []CredentialSource `json:"from,omitempty"`
}

// CredentialSource names one place in the request a credential is read from.
// Exactly one field is set.
type CredentialSource struct {
	Header *HeaderSource `json:"header,omitempty"`
	Cookie *NamedSource  `json:"cookie,omitempty"`
	Query  *NamedSource  `json:"query,omitempty"`
}

// HeaderSource reads a credential from a request header, after a prefix.
type HeaderSource struct {
	Name string `json:"name"`
	// Prefix is stripped from the value; matched case-insensitively
	// (RFC 6750 auth schemes are case-insensitive).
	Prefix string `json:"prefix,omitempty"`
}

// NamedSource reads a credential from a named cookie or query parameter.
type NamedSource struct {
	Name string `json:"name"`
}

// Rule matches requests and says what they need.
type Rule struct {
	Name  string `json:"name"`
	Match Match  `json:"match"`
	// AllowAnonymous allows requests without a credential; a valid
	// credential still yields identity headers.
	AllowAnonymous bool `json:"allowAnonymous,omitempty"`
	// Authenticators restricts the rule to these authenticators, by name.
	// Default: all of the policy's authenticators.
	Authenticators []string `json:"authenticators,omitempty"`
	// Require lists conditions on the identity's claims; all must hold.
	Require []Condition `json:"require,omitempty"`
}

// Match selects requests by path and method. Exactly one of Path and
// PathPrefix is set.
type Match struct {
	// Path matches the request path exactly.
	Path string `json:"path,omitempty"`
	// PathPrefix matches whole path segments: /public matches /public and
	// /public/x but not /publicity.
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Methods restricts the rule to these HTTP methods. Default: any.
	Methods []string `json:"methods,omitempty"`
}

// Condition is a test on one claim. Exactly one operator is set.
type Condition struct {
	// Claim names the claim; a name with "/" or ":" (a URL) is taken whole,
	// otherwise dots select nested objects.
	Claim string `json:"claim"`
	// Equals compares the claim's string form.
	Equals *string `json:"equals,omitempty"`
	// Contains holds when an array claim has the element, or a string claim
	// has the space-delimited word.
	Contains *string `json:"contains,omitempty"`
	// OneOf holds when the claim's string form is one of these.
	OneOf []string `json:"oneOf,omitempty"`
	// Exists holds when the claim is present (true) or absent (false).
	Exists *bool `json:"exists,omitempty"`
}

// Response describes the identity headers set on allowed requests.
type Response struct {
	// Preset "authgear" emits the X-Authgear-* headers of Authgear's resolver.
	Preset string `json:"preset,omitempty"`
	// Headers maps header names to their value source.
	Headers map[string]HeaderValue `json:"headers,omitempty"`
}

// HeaderValue is either a claim or a fixed value.
type HeaderValue struct {
	Claim string `json:"claim,omitempty"`
	Value string `json:"value,omitempty"`
}

// AuthPolicyStatus is the observed state. It is written by the controller.
type AuthPolicyStatus struct {
	// Conditions: Accepted and Ready.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
