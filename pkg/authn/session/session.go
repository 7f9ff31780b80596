// Package session resolves session cookies (and, optionally, bearer tokens)
// through the identity provider's session resolver: Authgear's
// /_resolver/resolve, an endpoint that answers with a status (the status
// contract), or one that answers with the session as JSON (Kratos whoami).
// Answers are cached briefly through pkg/authn/remote.
package session

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/cache"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// The Authgear resolver's headers.
const (
	HeaderSessionValid      = "X-Authgear-Session-Valid"
	HeaderUserID            = "X-Authgear-User-Id"
	HeaderUserAnonymous     = "X-Authgear-User-Anonymous"
	HeaderUserVerified      = "X-Authgear-User-Verified"
	HeaderCanReauthenticate = "X-Authgear-User-Can-Reauthenticate"
	HeaderUserRoles         = "X-Authgear-User-Roles"
	HeaderSessionAMR        = "X-Authgear-Session-Amr"
	HeaderAuthenticatedAt   = "X-Authgear-Session-Authenticated-At"
)

// The claims an Authgear access token carries, so a session yields the same
// claims as the token of the same user.
const (
	ClaimIsAnonymous       = "https://authgear.com/claims/user/is_anonymous"
	ClaimIsVerified        = "https://authgear.com/claims/user/is_verified"
	ClaimCanReauthenticate = "https://authgear.com/claims/user/can_reauthenticate"
	ClaimRoles             = "https://authgear.com/claims/user/roles"
)

// Config configures a Provider.
type Config = remote.Deps

// Provider builds session authenticators.
type Provider struct {
	remote.Deps
}

// NewProvider returns a Provider.
func NewProvider(cfg Config) (*Provider, error) {
	d, err := cfg.Complete("session")
	if err != nil {
		return nil, err
	}
	return &Provider{Deps: d}, nil
}

// New builds the authenticator for one policy entry.
func (p *Provider) New(name string, cfg *policy.Session) (authn.Authenticator, error) {
	if cfg == nil {
		return nil, fmt.Errorf("session authenticator without configuration")
	}
	a := &authenticator{
		name: name,
		cfg:  cfg,
		p:    p,
		policy: remote.Policy{
			Timeout: cfg.Timeout, TTL: cfg.CacheTTL, NegativeTTL: cfg.NegativeCacheTTL, StaleIfError: cfg.StaleIfError,
		},
	}
	// Authenticators with the same resolver and inputs share answers.
	a.scope = fmt.Sprintf("session\x00%s\x00%s\x00%q\x00%v\x00%s\x00%v", cfg.URL, cfg.Contract, cfg.Cookies, cfg.ForwardAuthorization, cfg.SubjectField, cfg.IdentityHeaders)
	return a, nil
}

type authenticator struct {
	name   string
	cfg    *policy.Session
	p      *Provider
	policy remote.Policy
	scope  string
}

func (a *authenticator) Name() string { return a.name }

// Present: any configured cookie, or with forwardAuthorization an
// Authorization header.
func (a *authenticator) Present(r *request.Request) bool {
	for _, c := range a.cfg.Cookies {
		if v, ok := r.Cookie(c); ok && v != "" {
			return true
		}
	}
	return a.cfg.ForwardAuthorization && strings.TrimSpace(r.Headers["authorization"]) != ""
}

func (a *authenticator) Authenticate(ctx context.Context, r *request.Request) (*authn.Identity, error) {
	// The cache key covers every credential input forwarded: each configured
	// cookie (present or not) and the Authorization header. What is sent to
	// the resolver is only put together on a miss. The parts live on the
	// stack for the usual one or two cookies.
	var buf [8]string
	parts := append(buf[:0], a.scope)
	found := false
	for _, name := range a.cfg.Cookies {
		v, ok := r.Cookie(name)
		if !ok || v == "" {
			parts = append(parts, "-", "")
			continue
		}
		parts = append(parts, "+", v)
		found = true
	}
	authz := ""
	if a.cfg.ForwardAuthorization {
		authz = strings.TrimSpace(r.Headers["authorization"])
	}
	parts = append(parts, authz)
	if !found && authz == "" {
		return nil, fmt.Errorf("%w: no session cookie", authn.ErrInvalid)
	}
	key := a.p.Keyer.Key(parts...)
	if id, ok, err := a.p.Checker.Cached(key); ok {
		return id, err
	}
	return a.check(ctx, key, r, authz)
}

// check is the cache miss: the closure and the resolver's Cookie header are
// built only here. What the resolver is sent is taken from r before the
// load starts: the load may outlive this request (other requests for the
// same session wait on it), and r is not this authenticator's to keep.
func (a *authenticator) check(ctx context.Context, key cache.Key, r *request.Request, authz string) (*authn.Identity, error) {
	cookies, forward := a.cookieLine(r), a.forwarded(r)
	return a.p.Checker.Check(ctx, key, a.policy, func(ctx context.Context) (remote.Answer, error) {
		return a.resolve(ctx, cookies, authz, forward)
	})
}

// cookieLine builds the Cookie header sent to the resolver: only the
// configured cookies that are present, nothing else the browser sent.
func (a *authenticator) cookieLine(r *request.Request) string {
	var b strings.Builder
	for _, name := range a.cfg.Cookies {
		v, ok := r.Cookie(name)
		if !ok || v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name + "=" + v)
	}
	return b.String()
}

// forwarded picks the configured extra headers from the request.
func (a *authenticator) forwarded(r *request.Request) http.Header {
	h := make(http.Header, len(a.cfg.ForwardHeaders))
	for _, name := range a.cfg.ForwardHeaders {
		if v := r.Headers[strings.ToLower(name)]; v != "" {
			h.Set(name, v)
		}
	}
	return h
}

func (a *authenticator) resolve(ctx context.Context, cookies, authz string, forward http.Header) (remote.Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.URL, nil)
	if err != nil {
		return remote.Answer{}, fmt.Errorf("failed to build resolver request: %w", err)
	}
	for k, v := range forward {
		req.Header[k] = v
	}
	if cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if a.cfg.Contract == policy.ContractJSON {
		req.Header.Set("Accept", "application/json")
	}
	res, err := a.p.HTTPClient.Do(req)
	if err != nil {
		return remote.Answer{}, fmt.Errorf("failed to call session resolver %s: %w", a.cfg.URL, err)
	}
	defer res.Body.Close()
	switch a.cfg.Contract {
	case policy.ContractStatus:
		return a.statusAnswer(res)
	case policy.ContractJSON:
		return a.jsonAnswer(res)
	default:
		return a.authgearAnswer(res)
	}
}

// drain reads what is left of a body (bounded) so the connection is reused.
func drain(res *http.Response) { _, _ = io.Copy(io.Discard, io.LimitReader(res.Body, remote.MaxBody)) }

// authgearAnswer reads Authgear's resolver answer: always 200, the verdict in
// X-Authgear-Session-Valid (true, false, or absent for no session).
func (a *authenticator) authgearAnswer(res *http.Response) (remote.Answer, error) {
	drain(res)
	if res.StatusCode != http.StatusOK {
		return remote.Answer{}, &remote.StatusError{URL: a.cfg.URL, Status: res.StatusCode}
	}
	h := res.Header
	switch v := h.Get(HeaderSessionValid); v {
	case "":
		return remote.Answer{Invalid: true, Why: "the resolver found no session"}, nil
	case "false":
		return remote.Answer{Invalid: true, Why: "the resolver says the session is not valid"}, nil
	case "true":
	default:
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: HeaderSessionValid + " is neither true nor false"}
	}
	sub := h.Get(HeaderUserID)
	if sub == "" {
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: "a valid session without " + HeaderUserID}
	}
	claims := map[string]any{"sub": sub}
	for header, claim := range map[string]string{HeaderUserAnonymous: ClaimIsAnonymous, HeaderUserVerified: ClaimIsVerified, HeaderCanReauthenticate: ClaimCanReauthenticate} {
		if v := h.Get(header); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: header + " is not a boolean"}
			}
			claims[claim] = b
		}
	}
	if v := h.Get(HeaderUserRoles); v != "" {
		claims[ClaimRoles] = list(v, func(r rune) bool { return r == ',' })
	}
	if v := h.Get(HeaderSessionAMR); v != "" {
		claims["amr"] = list(v, func(r rune) bool { return r == ' ' || r == ',' })
	}
	if v := h.Get(HeaderAuthenticatedAt); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: HeaderAuthenticatedAt + " is not a Unix time"}
		}
		claims["auth_time"] = float64(n)
	}
	return remote.Answer{Identity: &authn.Identity{Subject: sub, Claims: authn.ClaimsOf(claims)}}, nil
}

func list(v string, sep func(rune) bool) []any {
	var out []any
	for _, s := range strings.FieldsFunc(v, sep) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// statusAnswer: 2xx valid with identity from the configured headers,
// 401/403 invalid, anything else a failure.
func (a *authenticator) statusAnswer(res *http.Response) (remote.Answer, error) {
	drain(res)
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return remote.Answer{Invalid: true, Why: fmt.Sprintf("the resolver answered %d", res.StatusCode)}, nil
	case res.StatusCode < 200 || res.StatusCode > 299:
		return remote.Answer{}, &remote.StatusError{URL: a.cfg.URL, Status: res.StatusCode}
	}
	claims := map[string]any{}
	for claim, header := range a.cfg.IdentityHeaders {
		if v := res.Header.Get(header); v != "" {
			claims[claim] = v
		}
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: "a valid session without the subject header " + a.cfg.IdentityHeaders["sub"]}
	}
	return remote.Answer{Identity: &authn.Identity{Subject: sub, Claims: authn.ClaimsOf(claims)}}, nil
}

// jsonAnswer: 200 with the session as a JSON object (its fields are the
// claims), 401/403 invalid, anything else a failure.
func (a *authenticator) jsonAnswer(res *http.Response) (remote.Answer, error) {
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		drain(res)
		return remote.Answer{Invalid: true, Why: fmt.Sprintf("the resolver answered %d", res.StatusCode)}, nil
	case res.StatusCode != http.StatusOK:
		drain(res)
		return remote.Answer{}, &remote.StatusError{URL: a.cfg.URL, Status: res.StatusCode}
	}
	claims, err := remote.DecodeObject(res.Body)
	if err != nil {
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: err.Error()}
	}
	if active, ok := claims["active"].(bool); ok && !active {
		// Kratos marks ended sessions inactive. Checked before the subject:
		// an ended session need not say whose it was, and calling it
		// malformed would make it a failure that stale-if-error hides.
		return remote.Answer{Invalid: true, Why: "the session is not active"}, nil
	}
	sub, ok := authn.MapClaim(claims, a.cfg.SubjectField)
	subject, isString := sub.(string)
	if !ok || !isString || subject == "" {
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: "no string subject at " + a.cfg.SubjectField}
	}
	if _, has := claims["sub"]; !has {
		claims["sub"] = subject
	}
	return remote.Answer{Identity: &authn.Identity{Subject: subject, Claims: authn.ClaimsOf(claims), ExpiresAt: remote.Expiry(claims)}}, nil
}
