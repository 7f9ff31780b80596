package policy

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// FieldError is a problem with one field, named by its path in the
// AuthPolicy document, e.g. "spec.rules[2].require[0]".
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// FieldErrors is every problem found in one policy.
type FieldErrors []*FieldError

func (l FieldErrors) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Add records a problem at path.
func (l *FieldErrors) Add(path, format string, args ...any) {
	*l = append(*l, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil for an empty list, so callers can return it directly.
func (l FieldErrors) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// MaxHosts bounds the hosts of one policy and MaxPathLen any configured path,
// so that a hostile or mistaken policy cannot make the snapshot huge.
const (
	MaxHosts   = 1000
	MaxPathLen = 1024
)

// Validate checks the semantic rules of a policy: hosts, unique names, rule
// references, algorithms, header names. Errors name the field as in the YAML.
func (p *Policy) Validate() error {
	var errs FieldErrors
	if len(p.Hosts) == 0 {
		errs.Add("spec.hosts", "at least one host is required")
	}
	if len(p.Hosts) > MaxHosts {
		errs.Add("spec.hosts", "at most %d hosts", MaxHosts)
	}
	seenHost := map[string]bool{}
	for i, h := range p.Hosts {
		path := fmt.Sprintf("spec.hosts[%d]", i)
		if err := ValidHostPattern(h); err != nil {
			errs.Add(path, "%v", err)
		}
		if seenHost[h] {
			errs.Add(path, "duplicate host %q", h)
		}
		seenHost[h] = true
	}

	names := map[string]bool{}
	for i, a := range p.Authenticators {
		path := fmt.Sprintf("spec.authenticators[%d]", i)
		if a.Name == "" {
			errs.Add(path+".name", "required")
		} else if names[a.Name] {
			errs.Add(path+".name", "duplicate authenticator name %q", a.Name)
		}
		names[a.Name] = true
		kinds := 0
		if a.JWT != nil {
			kinds++
			validateJWT(&errs, path+".jwt", a.JWT)
		}
		if a.Session != nil {
			kinds++
			validateSession(&errs, path+".session", a.Session)
		}
		if a.Introspection != nil {
			kinds++
			validateIntrospection(&errs, path+".introspection", a.Introspection)
		}
		if kinds != 1 {
			errs.Add(path, "exactly one of jwt, session, introspection must be set")
		}
	}
	if p.SignInURL != "" {
		if err := validURL(strings.ReplaceAll(p.SignInURL, "{url}", "x"), false); err != nil {
			errs.Add("spec.signIn.url", "%v", err)
		}
	}

	if len(p.Rules) == 0 {
		errs.Add("spec.rules", "at least one rule is required")
	}
	ruleNames := map[string]bool{}
	for i, r := range p.Rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		if r.Name == "" {
			errs.Add(path+".name", "required")
		} else if ruleNames[r.Name] {
			errs.Add(path+".name", "duplicate rule name %q", r.Name)
		}
		ruleNames[r.Name] = true
		validateMatch(&errs, path+".match", &r)
		for j, n := range r.Authenticators {
			if !names[n] {
				errs.Add(fmt.Sprintf("%s.authenticators[%d]", path, j), "no authenticator named %q", n)
			}
		}
		if r.AllowAnonymous && len(r.Require) > 0 {
			// Dropping the credential would skip the conditions.
			errs.Add(path, "allowAnonymous and require contradict each other: a request without a credential would skip the conditions")
		}
		if !r.AllowAnonymous && len(p.Authenticators) == 0 {
			errs.Add(path, "needs a credential but the policy has no authenticators (set allowAnonymous or add one)")
		}
		for j, c := range r.Require {
			if c.Claim == "" {
				errs.Add(fmt.Sprintf("%s.require[%d].claim", path, j), "required")
			}
		}
	}

	if p.Response.Preset != "" && p.Response.Preset != PresetAuthgear {
		errs.Add("spec.response.preset", "unknown preset %q (supported: %q)", p.Response.Preset, PresetAuthgear)
	}
	switch p.Response.DenyReason {
	case "", DenyReasonSend, DenyReasonOmit:
	default:
		errs.Add("spec.response.denyReason", "must be %s or %s, not %q", DenyReasonSend, DenyReasonOmit, p.Response.DenyReason)
	}
	if len(p.Response.Headers) > MaxHeaders {
		errs.Add("spec.response.headers", "at most %d headers (got %d)", MaxHeaders, len(p.Response.Headers))
	}
	for _, h := range p.Response.Headers {
		path := "spec.response.headers[" + h.Name + "]"
		if !validHeaderName(h.Name) {
			errs.Add(path, "not a valid HTTP header name")
		}
		if reservedHeader(h.Name) {
			errs.Add(path, "authgate cannot set %s: it is a hop-by-hop or proxy-controlled header", h.Name)
		}
		if (h.Claim == "") == (h.Value == "") {
			errs.Add(path, "exactly one of claim, value must be set")
		}
	}
	return errs.Err()
}

// MaxHeaders bounds spec.response.headers, as the CRD's maxProperties does:
// a policy's identity headers are a short list, and the hot path relies on
// a bound (see store.HeaderPlan.Bit).
const MaxHeaders = 64

func validateJWT(errs *FieldErrors, path string, j *JWT) {
	if err := validURL(j.Issuer, true); err != nil {
		errs.Add(path+".issuer", "%v", err)
	}
	if j.JWKSURI != "" {
		if err := validURL(j.JWKSURI, false); err != nil {
			errs.Add(path+".jwksURI", "%v", err)
		}
	}
	if len(j.Audiences) == 0 {
		errs.Add(path+".audiences", "at least one audience is required")
	}
	for i, a := range j.Audiences {
		if a == "" {
			errs.Add(fmt.Sprintf("%s.audiences[%d]", path, i), "must not be empty")
		}
	}
	for i, alg := range j.Algorithms {
		if !SupportedAlgorithms[alg] {
			errs.Add(fmt.Sprintf("%s.algorithms[%d]", path, i), "unsupported algorithm %q (HS* and none are never accepted)", alg)
		}
	}
	if j.ClockSkew < 0 || j.ClockSkew > 10*60e9 {
		errs.Add(path+".clockSkew", "must be between 0s and 10m")
	}
	for i, s := range j.From {
		if s.Name == "" {
			errs.Add(fmt.Sprintf("%s.from[%d].%s.name", path, i, s.Kind), "required")
		}
	}
}

func validateSession(errs *FieldErrors, path string, s *Session) {
	if err := validURL(s.URL, false); err != nil {
		errs.Add(path+".resolver.url", "%v", err)
	}
	switch s.Contract {
	case ContractAuthgear, ContractStatus, ContractJSON:
	default:
		errs.Add(path+".resolver.contract", "must be authgear, status or json, not %q", s.Contract)
	}
	if len(s.Cookies) == 0 && !s.ForwardAuthorization {
		errs.Add(path+".cookies", "at least one cookie is required unless forwardAuthorization is true")
	}
	for i, c := range s.Cookies {
		if !validToken(c) {
			errs.Add(fmt.Sprintf("%s.cookies[%d]", path, i), "not a valid cookie name")
		}
	}
	for i, h := range s.ForwardHeaders {
		if !validHeaderName(h) || reservedHeader(h) {
			errs.Add(fmt.Sprintf("%s.resolver.forwardHeaders[%d]", path, i), "%q cannot be forwarded (credentials are forwarded only as configured)", h)
		}
	}
	if s.SubjectField != "" && s.Contract != ContractJSON {
		errs.Add(path+".resolver.subjectField", "only the json contract has a subject field")
	}
	if len(s.IdentityHeaders) > 0 && s.Contract != ContractStatus {
		errs.Add(path+".resolver.identityHeaders", "only the status contract reads identity from headers")
	}
	if s.Contract == ContractStatus && s.IdentityHeaders["sub"] == "" {
		errs.Add(path+".resolver.identityHeaders", "the status contract needs the header that carries the subject (key \"sub\")")
	}
	for claim, h := range s.IdentityHeaders {
		if !validHeaderName(h) {
			errs.Add(path+".resolver.identityHeaders["+claim+"]", "not a valid HTTP header name")
		}
	}
	validateTimings(errs, path+".resolver.timeout", s.Timeout, path, s.CacheTTL, s.NegativeCacheTTL, s.StaleIfError)
}

func validateIntrospection(errs *FieldErrors, path string, in *Introspection) {
	if err := validURL(in.URL, false); err != nil {
		errs.Add(path+".url", "%v", err)
	}
	if in.ClientSecret != "" && in.ClientID == "" {
		errs.Add(path+".clientID", "required with clientSecretRef")
	}
	for i, s := range in.From {
		if s.Name == "" {
			errs.Add(fmt.Sprintf("%s.from[%d].%s.name", path, i, s.Kind), "required")
		}
	}
	validateTimings(errs, path+".timeout", in.Timeout, path, in.CacheTTL, in.NegativeCacheTTL, in.StaleIfError)
}

// validateTimings bounds a resolver's timeout and cache lifetimes: a long
// timeout piles up requests, a long cache delays revocation.
func validateTimings(errs *FieldErrors, timeoutPath string, timeout time.Duration, path string, ttl, negTTL, stale time.Duration) {
	if timeout <= 0 || timeout > 30*time.Second {
		errs.Add(timeoutPath, "must be more than 0s and at most 30s")
	}
	if ttl < 0 || ttl > time.Hour {
		errs.Add(path+".cacheTTL", "must be between 0s and 1h")
	}
	if negTTL < 0 || negTTL > 10*time.Minute {
		errs.Add(path+".negativeCacheTTL", "must be between 0s and 10m")
	}
	if stale < 0 || stale > time.Hour {
		errs.Add(path+".staleIfError", "must be between 0s and 1h")
	}
}

func validateMatch(errs *FieldErrors, path string, r *Rule) {
	switch {
	case (r.Path == "") == (r.PathPrefix == ""):
		errs.Add(path, "exactly one of path, pathPrefix must be set")
	case r.Path != "":
		validConfiguredPath(errs, path+".path", r.Path)
	default:
		validConfiguredPath(errs, path+".pathPrefix", r.PathPrefix)
	}
	for i, m := range r.Methods {
		if !validToken(m) {
			errs.Add(fmt.Sprintf("%s.methods[%d]", path, i), "not a valid HTTP method")
		}
	}
}

func validConfiguredPath(errs *FieldErrors, path, p string) {
	if !strings.HasPrefix(p, "/") {
		errs.Add(path, "must start with /")
		return
	}
	if len(p) > MaxPathLen {
		errs.Add(path, "longer than %d characters", MaxPathLen)
	}
	// Requests are matched after canonicalisation, so a configured path that is
	// not itself canonical could never match and is certainly a mistake.
	// Canonical request paths have repeated slashes merged, so an empty
	// segment is only canonical as the last one (a trailing slash).
	segs := strings.Split(p, "/")[1:]
	for i, seg := range segs {
		if seg == "." || seg == ".." || strings.ContainsAny(seg, "%?#\\") || (seg == "" && i < len(segs)-1) {
			errs.Add(path, "must be a canonical path (no dot segments, repeated slashes, percent-encoding, query or fragment)")
			return
		}
	}
}

func validURL(raw string, issuer bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("must be an absolute http(s) URL")
	}
	if issuer && (u.RawQuery != "" || u.Fragment != "") {
		return fmt.Errorf("an issuer has no query or fragment")
	}
	return nil
}

// ValidHostPattern accepts a lower-case DNS name, or "*." followed by one.
func ValidHostPattern(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(h) > 253 {
		return fmt.Errorf("not a valid host %q", h)
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return fmt.Errorf("not a valid host %q: empty or overlong label", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(label)-1
			if !ok {
				return fmt.Errorf("not a valid host %q: use lower-case letters, digits and inner hyphens (punycode for IDN)", h)
			}
		}
	}
	return nil
}

func validHeaderName(s string) bool { return validToken(s) }

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func reservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "host", "connection", "content-length", "transfer-encoding", "te", "upgrade",
		"keep-alive", "proxy-connection", "trailer", "authorization", "cookie":
		return true
	}
	return strings.HasPrefix(name, ":")
}
