// Package translate turns an AuthPolicy (the user's YAML, or the custom
// resource) into the internal policy model. It is pure: no I/O, no clock, the
// same input always gives the same output or the same field errors. Standalone
// mode and the Kubernetes controller both call it.
package translate

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"sort"
	"strings"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
)

// AuthPolicy translates one AuthPolicy and validates the result. Errors are
// policy.FieldErrors naming each offending field.
func AuthPolicy(in *v1alpha1.AuthPolicy) (*policy.Policy, error) {
	var errs policy.FieldErrors
	if in.Name == "" {
		errs.Add("metadata.name", "required")
	}
	p := &policy.Policy{
		Namespace:  in.Namespace,
		Name:       in.Name,
		CreatedAt:  in.CreationTimestamp.Time,
		Generation: in.Generation,
		DryRun:     in.Spec.Enforcement == v1alpha1.EnforcementDryRun,
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
		p.Authenticators = append(p.Authenticators, authenticator(&errs, fmt.Sprintf("spec.authenticators[%d]", i), &in.Spec.Authenticators[i]))
	}
	for i := range in.Spec.Rules {
		p.Rules = append(p.Rules, rule(&errs, fmt.Sprintf("spec.rules[%d]", i), &in.Spec.Rules[i]))
	}
	if r := in.Spec.Response; r != nil {
		p.Response.Preset = r.Preset
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
		errs = append(errs, verrs...)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func authenticator(errs *policy.FieldErrors, path string, in *v1alpha1.Authenticator) policy.Authenticator {
	out := policy.Authenticator{Name: in.Name}
	if in.JWT == nil {
		// Validate reports the missing kind; nothing more to translate.
		return out
	}
	j := in.JWT
	out.JWT = &policy.JWT{
		Issuer:     j.Issuer,
		JWKSURI:    j.JWKSURI,
		Audiences:  j.Audiences,
		Algorithms: j.Algorithms,
		ClockSkew:  policy.DefaultClockSkew,
	}
	if len(out.JWT.Algorithms) == 0 {
		out.JWT.Algorithms = slices.Clone(policy.DefaultAlgorithms)
	}
	if j.ClockSkew != nil {
		out.JWT.ClockSkew = j.ClockSkew.Duration
	}
	for i, s := range j.From {
		out.JWT.From = append(out.JWT.From, source(errs, fmt.Sprintf("%s.jwt.from[%d]", path, i), &s))
	}
	if len(out.JWT.From) == 0 {
		out.JWT.From = slices.Clone(policy.DefaultSources)
	}
	return out
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
		Authenticators: in.Authenticators,
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
		out.Op, out.Values = policy.OpOneOf, in.OneOf
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
