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
