package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bounds on lists and strings exist for the apiserver's CEL cost estimator
// as much as for sanity: a rule over a list is charged for the longest list
// the schema allows. MaxHosts matches policy.MaxHosts.

// AuthPolicy says, for a set of hosts, which credentials authgate accepts and
// which requests they may make. The same document is read from a folder in
// standalone mode and served as a custom resource in Kubernetes mode.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ap,categories=authgate
// +kubebuilder:printcolumn:name="Hosts",type=string,JSONPath=`.spec.hosts`,description="Hosts this policy decides for"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Whether the policy is being served"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="Why the policy is or is not ready"
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=`.spec.enforcement`,priority=1,description="Enforce (empty) or DryRun"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec AuthPolicySpec `json:"spec"`
	// +optional
	Status AuthPolicyStatus `json:"status,omitempty"`
}

// AuthPolicyList is a list of AuthPolicy objects.
//
// +kubebuilder:object:root=true
type AuthPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthPolicy `json:"items"`
}

// AuthPolicySpec is the desired behaviour for the policy's hosts.
//
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, !has(r.authenticators) || r.authenticators.all(n, has(self.authenticators) && self.authenticators.exists(a, a.name == n)))",message="rules may only name authenticators of this policy",fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || (has(self.authenticators) && size(self.authenticators) > 0) || self.rules.all(r, has(r.allowAnonymous) && r.allowAnonymous)",message="a rule without allowAnonymous needs a credential, but the policy has no authenticators",fieldPath=".rules"
type AuthPolicySpec struct {
	// Hosts this policy decides for: lower-case DNS names, or "*." wildcards
	// that match any deeper subdomain. A port in the request is ignored.
	//
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`
	Hosts []string `json:"hosts"`

	// Authenticators are tried in order: the first whose credential is present
	// in the request decides who the caller is. Names are unique.
	//
	// The list is atomic rather than a map keyed by name because its order
	// matters, and server-side apply may reorder a map list's entries.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, b.name == a.name))",message="authenticator names must be unique"
	Authenticators []Authenticator `json:"authenticators,omitempty"`

	// Rules are ordered; the first that matches the request decides. Names
	// are unique. Atomic for the same reason as authenticators.
	//
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(o, o.name == r.name))",message="rule names must be unique"
	Rules []Rule `json:"rules"`

	// Response says which identity headers the upstream receives on allow.
	//
	// +optional
	Response *Response `json:"response,omitempty"`

	// Enforcement is Enforce (default) or DryRun: decide, log and count as
	// usual, but always allow.
	//
	// +optional
	Enforcement EnforcementMode `json:"enforcement,omitempty"`

	// SignIn sends browsers without a valid session to sign in, where the
	// proxy can follow a redirect (Envoy, Traefik). nginx auth_request
	// always gets a 401 and redirects with error_page.
	//
	// +optional
	SignIn *SignIn `json:"signIn,omitempty"`
}

// SignIn configures the browser sign-in redirect.
type SignIn struct {
	// URL to redirect to; "{url}" is replaced by the original URL,
	// URL-encoded.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
}

// EnforcementMode selects whether denials are enforced.
//
// +kubebuilder:validation:Enum=Enforce;DryRun
type EnforcementMode string

const (
	// EnforcementEnforce denies what the policy denies.
	EnforcementEnforce EnforcementMode = "Enforce"
	// EnforcementDryRun records denials but allows every request.
	EnforcementDryRun EnforcementMode = "DryRun"
)

// Rule matches requests and says what they need.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.allowAnonymous) && self.allowAnonymous && has(self.require) && size(self.require) > 0)",message="allowAnonymous and require contradict each other: a request without a credential would skip the conditions"
type Rule struct {
	// Name is unique within the policy; it appears in logs and metrics.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Match selects the requests this rule decides.
	//
	// +required
	Match Match `json:"match"`

	// AllowAnonymous allows requests without a credential; a valid
	// credential still yields identity headers.
	//
	// +optional
	AllowAnonymous bool `json:"allowAnonymous,omitempty"`

	// Authenticators restricts the rule to these authenticators, by name,
	// tried in this order. Default: all of the policy's authenticators.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	Authenticators []string `json:"authenticators,omitempty"`

	// Require lists conditions on the identity's claims; all must hold.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Require []Condition `json:"require,omitempty"`
}

// Match selects requests by path and method. Exactly one of Path and
// PathPrefix is set.
//
// Paths are compared with canonical request paths, so a configured path
// must itself be canonical to ever match.
//
// +kubebuilder:validation:XValidation:rule="(has(self.path) && size(self.path) > 0) != (has(self.pathPrefix) && size(self.pathPrefix) > 0)",message="exactly one of path, pathPrefix must be set"
type Match struct {
	// Path matches the request path exactly.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule=`size(self) == 0 || (self.matches(r'^/([^/%?#\\]+/)*[^/%?#\\]*$') && !self.matches(r'/[.][.]?(/|$)'))`,message="must be a canonical path starting with / (no dot segments, repeated slashes, percent-encoding, query or fragment)"
	Path string `json:"path,omitempty"`

	// PathPrefix matches whole path segments: /public matches /public and
	// /public/x but not /publicity.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule=`size(self) == 0 || (self.matches(r'^/([^/%?#\\]+/)*[^/%?#\\]*$') && !self.matches(r'/[.][.]?(/|$)'))`,message="must be a canonical path starting with / (no dot segments, repeated slashes, percent-encoding, query or fragment)"
	PathPrefix string `json:"pathPrefix,omitempty"`

	// Methods restricts the rule to these HTTP methods (case-insensitive).
	// Default: any.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:Pattern="^[-!#$%&'*+.^_`|~0-9A-Za-z]+$"
	Methods []string `json:"methods,omitempty"`
}

// Condition is a test on one claim. Exactly one operator is set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.equals) ? 1 : 0) + (has(self.contains) ? 1 : 0) + (has(self.oneOf) ? 1 : 0) + (has(self.exists) ? 1 : 0) == 1",message="exactly one of equals, contains, oneOf, exists must be set"
type Condition struct {
	// Claim names the claim; a name with "/" or ":" (a URL) is taken whole,
	// otherwise dots select nested objects.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Claim string `json:"claim"`

	// Equals compares the claim's string form.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Equals *string `json:"equals,omitempty"`

	// Contains holds when an array claim has the element, or a string claim
	// has the space-delimited word.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Contains *string `json:"contains,omitempty"`

	// OneOf holds when the claim's string form is one of these.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	OneOf []string `json:"oneOf,omitempty"`

	// Exists holds when the claim is present (true) or absent (false).
	//
	// +optional
	Exists *bool `json:"exists,omitempty"`
}

// Response describes what authgate adds to its answers: identity headers on
// allowed requests, the reason code on denials.
type Response struct {
	// Preset "authgear" emits the X-Authgear-* headers of Authgear's resolver.
	//
	// +optional
	// +kubebuilder:validation:Enum=authgear
	Preset string `json:"preset,omitempty"`

	// Headers maps header names to their value source. Names are
	// case-insensitive; hop-by-hop and credential headers cannot be set.
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[-!#$%&\\'*+.^_`|~0-9A-Za-z]+$'))",message="header names must be HTTP tokens"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k.lowerAscii() in ['host', 'connection', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'keep-alive', 'proxy-connection', 'trailer', 'authorization', 'cookie']))",message="authgate cannot set hop-by-hop, proxy-controlled or credential headers"
	Headers map[string]HeaderValue `json:"headers,omitempty"`

	// DenyReason says whether a denial tells the client its reason code, a
	// word from a closed set such as invalid_token, expired or no_rule, in
	// the X-Authgate-Reason header and the body ("401 Unauthorized
	// (invalid_token)"). The code never names the policy, a rule or a claim.
	// Send or Omit; default: the server's --deny-reason flag (send).
	//
	// +optional
	DenyReason DenyReasonMode `json:"denyReason,omitempty"`
}

// DenyReasonMode selects whether a denial carries its reason code.
//
// +kubebuilder:validation:Enum=Send;Omit
type DenyReasonMode string

const (
	// DenyReasonSend puts the reason code in X-Authgate-Reason and the body.
	DenyReasonSend DenyReasonMode = "Send"
	// DenyReasonOmit answers with the status and challenge only.
	DenyReasonOmit DenyReasonMode = "Omit"
)

// HeaderValue is either a claim or a fixed value: exactly one is set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.claim) && size(self.claim) > 0) != (has(self.value) && size(self.value) > 0)",message="exactly one of claim, value must be set"
type HeaderValue struct {
	// Claim names the claim whose string form is the header's value.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Claim string `json:"claim,omitempty"`

	// Value is a fixed header value.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value,omitempty"`
}

// AuthPolicyStatus is the observed state. It is written by the controller.
//
// Whether the policy runs in DryRun is deliberately not copied here: it is
// spec.enforcement, shown by `kubectl get ap -o wide`, and takes effect as
// soon as the policy is Ready at that generation (each condition carries its
// observedGeneration).
type AuthPolicyStatus struct {
	// Conditions: Accepted (the policy is valid and its references resolve)
	// and Ready (it is being served).
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}
