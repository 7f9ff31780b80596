// Package translate turns an AuthPolicy (the user's YAML, or the custom
// resource) into the internal policy model. It is pure: no I/O, no clock, the
// same input always gives the same output or the same field errors. Standalone
// mode and the Kubernetes controller both call it.
//
// A translated policy is read-only: equal parts of policies are shared
// between them (share.go), and none refers to the input, which its caller
// may reuse.
package translate

import (
	"errors"
	"fmt"
	"maps"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
)

// Secrets resolves a key of a Secret in a namespace. It reports false when
// the Secret or key does not exist. A nil Secrets resolves nothing.
type Secrets func(namespace, name, key string) ([]byte, bool)

// MissingRef starts the message of a field error for a Secret that does not
// exist, so callers can tell it apart (status reason RefNotFound).
const MissingRef = "secret not found: "

// AuthPolicy translates one AuthPolicy, with the Secrets it references, and
// validates the result. Errors are policy.FieldErrors naming each field. The
// policy must not be modified: parts of it are shared with other policies.
func AuthPolicy(in *v1alpha1.AuthPolicy, secrets Secrets) (*policy.Policy, error) {
	t := &translator{ns: in.Namespace, secrets: secrets}
	errs := &t.errs
	if in.Name == "" {
		errs.Add("metadata.name", "required")
	}
	if in.Spec.SignIn != nil {
		if in.Spec.SignIn.URL == "" {
			errs.Add("spec.signIn.url", "required")
		}
	}
	p := &policy.Policy{
		Namespace:  in.Namespace,
		Name:       in.Name,
		CreatedAt:  in.CreationTimestamp.Time,
		Generation: in.Generation,
		DryRun:     in.Spec.Enforcement == v1alpha1.EnforcementDryRun,
	}
	if in.Spec.SignIn != nil {
		p.SignInURL = in.Spec.SignIn.URL
	}
	switch in.Spec.Enforcement {
	case "", v1alpha1.EnforcementEnforce, v1alpha1.EnforcementDryRun:
	default:
		errs.Add("spec.enforcement", "must be Enforce or DryRun, not %q", in.Spec.Enforcement)
	}
	for _, h := range in.Spec.Hosts {
		// Hosts are case-insensitive; a trailing dot names the same host.
		p.Hosts = append(p.Hosts, strings.TrimSuffix(strings.ToLower(h), "."))
	}
	for i := range in.Spec.Authenticators {
		p.Authenticators = append(p.Authenticators, t.authenticator(fmt.Sprintf("spec.authenticators[%d]", i), &in.Spec.Authenticators[i]))
	}
	for i := range in.Spec.Rules {
		p.Rules = append(p.Rules, rule(errs, fmt.Sprintf("spec.rules[%d]", i), &in.Spec.Rules[i]))
	}
	if r := in.Spec.Response; r != nil {
		p.Response.Preset = r.Preset
		p.Response.DenyReason = string(r.DenyReason)
		names := make([]string, 0, len(r.Headers))
		for name := range r.Headers {
			names = append(names, name)
		}
		sort.Strings(names)
		seen := map[string]string{}
		for _, name := range names {
			canon := textproto.CanonicalMIMEHeaderKey(name)
			if prev, ok := seen[canon]; ok {
				errs.Add("spec.response.headers["+name+"]", "same header as %q (names are case-insensitive)", prev)
			}
			seen[canon] = name
			v := r.Headers[name]
			p.Response.Headers = append(p.Response.Headers, policy.HeaderSpec{Name: canon, Claim: v.Claim, Value: v.Value})
		}
	}
	var verrs policy.FieldErrors
	if errors.As(p.Validate(), &verrs) {
		*errs = append(*errs, verrs...)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	share(p)
	return p, nil
}

type translator struct {
	ns      string
	secrets Secrets
	errs    policy.FieldErrors
}

func (t *translator) authenticator(path string, in *v1alpha1.Authenticator) policy.Authenticator {
	out := policy.Authenticator{Name: in.Name}
	// Validate reports a missing or doubled kind; translate each kind set.
	if in.Session != nil {
		out.Session = session(&t.errs, path+".session", in.Session)
	}
	if in.Introspection != nil {
		out.Introspection = t.introspection(path+".introspection", in.Introspection)
	}
	if in.JWT == nil {
		return out
	}
	errs := &t.errs
	j := in.JWT
	out.JWT = &policy.JWT{
		Issuer:     j.Issuer,
		JWKSURI:    j.JWKSURI,
		Audiences:  slices.Clone(j.Audiences),
		Algorithms: slices.Clone(j.Algorithms),
		ClockSkew:  policy.DefaultClockSkew,
	}
	if len(out.JWT.Algorithms) == 0 {
		out.JWT.Algorithms = slices.Clone(policy.DefaultAlgorithms)
	}
	if j.ClockSkew != nil {
		out.JWT.ClockSkew = j.ClockSkew.Duration
	}
	out.JWT.From = sources(errs, path+".jwt.from", j.From)
	return out
}

func sources(errs *policy.FieldErrors, path string, in []v1alpha1.CredentialSource) []policy.Source {
	if len(in) == 0 {
		return slices.Clone(policy.DefaultSources)
	}
	out := make([]policy.Source, 0, len(in))
	for i := range in {
		out = append(out, source(errs, fmt.Sprintf("%s[%d]", path, i), &in[i]))
	}
	return out
}

func duration(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func session(errs *policy.FieldErrors, path string, in *v1alpha1.SessionAuthenticator) *policy.Session {
	contract := in.Resolver.Contract
	if contract == "" {
		contract = policy.ContractAuthgear
	}
	out := &policy.Session{
		Cookies:          slices.Clone(in.Cookies),
		URL:              in.Resolver.URL,
		Contract:         contract,
		Timeout:          duration(in.Resolver.Timeout, policy.DefaultResolverTimeout),
		SubjectField:     in.Resolver.SubjectField,
		IdentityHeaders:  maps.Clone(in.Resolver.IdentityHeaders),
		CacheTTL:         duration(in.CacheTTL, policy.DefaultCacheTTL),
		NegativeCacheTTL: duration(in.NegativeCacheTTL, policy.DefaultNegativeCacheTTL),
		StaleIfError:     duration(in.StaleIfError, 0),
		// Authgear's resolver accepts access tokens as well as cookies.
		ForwardAuthorization: contract == policy.ContractAuthgear,
	}
	if in.ForwardAuthorization != nil {
		out.ForwardAuthorization = *in.ForwardAuthorization
	}
	if contract == policy.ContractJSON && out.SubjectField == "" {
		out.SubjectField = "sub"
	}
	seen := map[string]bool{}
	for i, c := range in.Cookies {
		if seen[c] {
			errs.Add(fmt.Sprintf("%s.cookies[%d]", path, i), "duplicate cookie %q", c)
		}
		seen[c] = true
	}
	for _, h := range in.Resolver.ForwardHeaders {
		out.ForwardHeaders = append(out.ForwardHeaders, textproto.CanonicalMIMEHeaderKey(h))
	}
	return out
}

func (t *translator) introspection(path string, in *v1alpha1.IntrospectionAuthenticator) *policy.Introspection {
	out := &policy.Introspection{
		URL:              in.URL,
		ClientID:         in.ClientID,
		From:             sources(&t.errs, path+".from", in.From),
		Timeout:          duration(in.Timeout, policy.DefaultResolverTimeout),
		CacheTTL:         duration(in.CacheTTL, policy.DefaultCacheTTL),
		NegativeCacheTTL: duration(in.NegativeCacheTTL, policy.DefaultNegativeCacheTTL),
		StaleIfError:     duration(in.StaleIfError, 0),
	}
	if ref := in.ClientSecretRef; ref != nil {
		rpath := path + ".clientSecretRef"
		switch {
		case ref.Name == "" || ref.Key == "":
			t.errs.Add(rpath, "name and key are required")
		case t.secrets == nil:
			t.errs.Add(rpath, "%s%s/%s key %s (no secrets available)", MissingRef, t.ns, ref.Name, ref.Key)
		default:
			v, ok := t.secrets(t.ns, ref.Name, ref.Key)
			if !ok {
				t.errs.Add(rpath, "%s%s key %s", MissingRef, secretName(t.ns, ref.Name), ref.Key)
				break
			}
			// Secret files usually end with a newline nobody meant.
			out.ClientSecret = policy.Secret(strings.TrimRight(string(v), "\r\n"))
		}
	}
	return out
}

func secretName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func source(errs *policy.FieldErrors, path string, in *v1alpha1.CredentialSource) policy.Source {
	n := 0
	var out policy.Source
	if in.Header != nil {
		n++
		out = policy.Source{Kind: policy.SourceHeader, Name: strings.ToLower(in.Header.Name), Prefix: in.Header.Prefix}
	}
	if in.Cookie != nil {
		n++
		out = policy.Source{Kind: policy.SourceCookie, Name: in.Cookie.Name}
	}
	if in.Query != nil {
		n++
		out = policy.Source{Kind: policy.SourceQuery, Name: in.Query.Name}
	}
	if n != 1 {
		errs.Add(path, "exactly one of header, cookie, query must be set")
	}
	return out
}

func rule(errs *policy.FieldErrors, path string, in *v1alpha1.Rule) policy.Rule {
	out := policy.Rule{
		Name:           in.Name,
		Path:           in.Match.Path,
		PathPrefix:     in.Match.PathPrefix,
		AllowAnonymous: in.AllowAnonymous,
		Authenticators: slices.Clone(in.Authenticators),
	}
	for _, m := range in.Match.Methods {
		out.Methods = append(out.Methods, strings.ToUpper(m))
	}
	for i := range in.Require {
		out.Require = append(out.Require, condition(errs, fmt.Sprintf("%s.require[%d]", path, i), &in.Require[i]))
	}
	return out
}

func condition(errs *policy.FieldErrors, path string, in *v1alpha1.Condition) policy.Condition {
	out := policy.Condition{Claim: in.Claim}
	n := 0
	if in.Equals != nil {
		n++
		out.Op, out.Value = policy.OpEquals, *in.Equals
	}
	if in.Contains != nil {
		n++
		out.Op, out.Value = policy.OpContains, *in.Contains
	}
	if in.OneOf != nil {
		n++
		out.Op, out.Values = policy.OpOneOf, slices.Clone(in.OneOf)
		if len(in.OneOf) == 0 {
			errs.Add(path+".oneOf", "must not be empty")
		}
	}
	if in.Exists != nil {
		n++
		out.Op, out.Exists = policy.OpExists, *in.Exists
	}
	if n != 1 {
		errs.Add(path, "exactly one of equals, contains, oneOf, exists")
	}
	return out
}
