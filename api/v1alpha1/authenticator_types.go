package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Durations are metav1.Duration, a string in Go's time.ParseDuration syntax.
// They are checked with CEL's duration(), which parses exactly that syntax;
// the OpenAPI format "duration" would also admit forms such as "1d" that the
// controller then could not decode. The bounds are policy.Validate's.

// Authenticator is one named way of proving identity. Exactly one kind is set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.jwt) ? 1 : 0) + (has(self.session) ? 1 : 0) + (has(self.introspection) ? 1 : 0) == 1",message="exactly one of jwt, session, introspection must be set"
type Authenticator struct {
	// Name is unique within the policy and referenced by rules.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// JWT verifies signed access tokens locally against the issuer's JWKS.
	//
	// +optional
	JWT *JWTAuthenticator `json:"jwt,omitempty"`

	// Session resolves session cookies (and, optionally, bearer tokens)
	// through the identity provider's session resolver.
	//
	// +optional
	Session *SessionAuthenticator `json:"session,omitempty"`

	// Introspection checks opaque access tokens with RFC 7662.
	//
	// +optional
	Introspection *IntrospectionAuthenticator `json:"introspection,omitempty"`
}

// JWTAuthenticator verifies JSON Web Tokens.
type JWTAuthenticator struct {
	// Issuer must equal the token's iss claim: an absolute http(s) URL
	// without query or fragment.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Issuer string `json:"issuer"`

	// JWKSURI is where the signing keys are published. When empty it is
	// discovered from <issuer>/.well-known/openid-configuration.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	JWKSURI string `json:"jwksURI,omitempty"`

	// Audiences: the token's aud must contain at least one.
	//
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	Audiences []string `json:"audiences"`

	// Algorithms allowed for the signature. Default RS256, ES256, EdDSA.
	// Symmetric (HS*) algorithms and none are never accepted.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Enum=RS256;RS384;RS512;PS256;PS384;PS512;ES256;ES384;ES512;EdDSA
	Algorithms []string `json:"algorithms,omitempty"`

	// ClockSkew tolerated on exp, nbf and iat, at most 10m. Default 30s.
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="must be a duration from 0s to 10m, such as 30s"
	ClockSkew *metav1.Duration `json:"clockSkew,omitempty"`

	// From lists where the token is read from, in order. Default: the
	// Authorization header with the "Bearer " prefix.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	From []CredentialSource `json:"from,omitempty"`
}

// SessionAuthenticator resolves a session cookie through a resolver.
//
// +kubebuilder:validation:XValidation:rule="(has(self.cookies) && size(self.cookies) > 0) || (has(self.forwardAuthorization) ? self.forwardAuthorization : (!has(self.resolver.contract) || self.resolver.contract == 'authgear'))",message="at least one cookie is required unless forwardAuthorization is true",fieldPath=".cookies"
type SessionAuthenticator struct {
	// Cookies are the cookie names read from the request and forwarded to
	// the resolver; no other cookie is forwarded.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern="^[-!#$%&'*+.^_`|~0-9A-Za-z]+$"
	Cookies []string `json:"cookies,omitempty"`

	// ForwardAuthorization also resolves an Authorization header through
	// the resolver. Default true for the authgear contract, else false.
	//
	// +optional
	ForwardAuthorization *bool `json:"forwardAuthorization,omitempty"`

	// Resolver is the endpoint that answers who a session belongs to.
	//
	// +required
	Resolver SessionResolver `json:"resolver"`

	// CacheTTL bounds how long a valid answer is reused (default 30s, 0
	// disables, at most 1h), never past the session's expiry when the
	// resolver reports one. A revoked session stays accepted for at most
	// this long.
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="must be a duration from 0s to 1h, such as 30s"
	CacheTTL *metav1.Duration `json:"cacheTTL,omitempty"`

	// NegativeCacheTTL is how long an invalid answer is reused (default 2s,
	// at most 10m).
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="must be a duration from 0s to 10m, such as 2s"
	NegativeCacheTTL *metav1.Duration `json:"negativeCacheTTL,omitempty"`

	// StaleIfError serves a valid answer up to this long (at most 1h) past
	// its expiry while the resolver is failing. Off by default: it trades
	// revocation latency for availability.
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="must be a duration from 0s to 1h, such as 5m"
	StaleIfError *metav1.Duration `json:"staleIfError,omitempty"`
}

// SessionResolver is a session resolver endpoint and the contract it speaks.
//
// +kubebuilder:validation:XValidation:rule="!has(self.subjectField) || size(self.subjectField) == 0 || (has(self.contract) && self.contract == 'json')",message="only the json contract has a subject field",fieldPath=".subjectField"
// +kubebuilder:validation:XValidation:rule="!has(self.identityHeaders) || size(self.identityHeaders) == 0 || (has(self.contract) && self.contract == 'status')",message="only the status contract reads identity from headers",fieldPath=".identityHeaders"
// +kubebuilder:validation:XValidation:rule="!has(self.contract) || self.contract != 'status' || (has(self.identityHeaders) && 'sub' in self.identityHeaders && size(self.identityHeaders['sub']) > 0)",message="the status contract needs the header that carries the subject (key \"sub\")",fieldPath=".identityHeaders"
type SessionResolver struct {
	// URL of the resolver: an absolute http(s) URL.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// Contract is authgear (default), status or json.
	//
	// +optional
	// +kubebuilder:validation:Enum=authgear;status;json
	Contract string `json:"contract,omitempty"`

	// Timeout of one resolver call (default 2s, at most 30s).
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('30s')",message="must be a duration more than 0s and at most 30s, such as 2s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// ForwardHeaders are extra request headers passed on to the resolver.
	// Credential and hop-by-hop headers cannot be forwarded this way.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern="^[-!#$%&'*+.^_`|~0-9A-Za-z]+$"
	// +kubebuilder:validation:XValidation:rule="self.all(h, !(h.lowerAscii() in ['host', 'connection', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'keep-alive', 'proxy-connection', 'trailer', 'authorization', 'cookie']))",message="credential and hop-by-hop headers cannot be forwarded: credentials are forwarded only as configured"
	ForwardHeaders []string `json:"forwardHeaders,omitempty"`

	// SubjectField is the dotted path to the subject in a json contract
	// answer (default "sub").
	//
	// +optional
	// +kubebuilder:validation:MaxLength=256
	SubjectField string `json:"subjectField,omitempty"`

	// IdentityHeaders maps claim names to the response headers that carry
	// them, for the status contract ("sub" names the subject's header).
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	IdentityHeaders map[string]string `json:"identityHeaders,omitempty"`
}

// IntrospectionAuthenticator checks opaque tokens at an RFC 7662 endpoint.
//
// +kubebuilder:validation:XValidation:rule="!has(self.clientSecretRef) || (has(self.clientID) && size(self.clientID) > 0)",message="clientID is required with clientSecretRef",fieldPath=".clientID"
type IntrospectionAuthenticator struct {
	// URL of the introspection endpoint: an absolute http(s) URL.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// ClientID authenticates authgate to the endpoint (HTTP Basic, with
	// the client secret).
	//
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ClientID string `json:"clientID,omitempty"`

	// ClientSecretRef names the client secret: a Secret key in Kubernetes,
	// the file <policies dir>/secrets/<name>/<key> in standalone mode.
	//
	// +optional
	ClientSecretRef *SecretKeyRef `json:"clientSecretRef,omitempty"`

	// From lists where the token is read from (default Authorization Bearer).
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	From []CredentialSource `json:"from,omitempty"`

	// Timeout of one introspection call (default 2s, at most 30s).
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('30s')",message="must be a duration more than 0s and at most 30s, such as 2s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// CacheTTL bounds how long an active answer is reused (default 30s, at
	// most 1h), never past the token's exp.
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="must be a duration from 0s to 1h, such as 30s"
	CacheTTL *metav1.Duration `json:"cacheTTL,omitempty"`

	// NegativeCacheTTL is how long an inactive answer is reused (default
	// 2s, at most 10m).
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('10m')",message="must be a duration from 0s to 10m, such as 2s"
	NegativeCacheTTL *metav1.Duration `json:"negativeCacheTTL,omitempty"`

	// StaleIfError: as for sessions (at most 1h, off by default).
	//
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="must be a duration from 0s to 1h, such as 5m"
	StaleIfError *metav1.Duration `json:"staleIfError,omitempty"`
}

// SecretKeyRef names one key of a Secret in the policy's namespace.
type SecretKeyRef struct {
	// Name of the Secret: a DNS subdomain.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Key within the Secret's data.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// CredentialSource names one place in the request a credential is read from.
// Exactly one field is set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.header) ? 1 : 0) + (has(self.cookie) ? 1 : 0) + (has(self.query) ? 1 : 0) == 1",message="exactly one of header, cookie, query must be set"
type CredentialSource struct {
	// Header reads the credential from a request header.
	//
	// +optional
	Header *HeaderSource `json:"header,omitempty"`

	// Cookie reads the credential from a cookie.
	//
	// +optional
	Cookie *NamedSource `json:"cookie,omitempty"`

	// Query reads the credential from a query parameter.
	//
	// +optional
	Query *NamedSource `json:"query,omitempty"`
}

// HeaderSource reads a credential from a request header, after a prefix.
type HeaderSource struct {
	// Name of the header, case-insensitive.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// Prefix is stripped from the value; matched case-insensitively
	// (RFC 6750 auth schemes are case-insensitive).
	//
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Prefix string `json:"prefix,omitempty"`
}

// NamedSource reads a credential from a named cookie or query parameter.
type NamedSource struct {
	// Name of the cookie or query parameter.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`
}
