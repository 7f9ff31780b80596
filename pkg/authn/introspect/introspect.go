// Package introspect checks opaque access tokens at an OAuth 2.0 token
// introspection endpoint (RFC 7662). Answers are cached briefly through
// pkg/authn/remote, never past the token's own exp.
package introspect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/cache"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// MaxTokenLength bounds the tokens sent for introspection.
const MaxTokenLength = 16 << 10

// Config configures a Provider.
type Config = remote.Deps

// Provider builds introspection authenticators.
type Provider struct {
	remote.Deps
}

// NewProvider returns a Provider.
func NewProvider(cfg Config) (*Provider, error) {
	d, err := cfg.Complete("introspection")
	if err != nil {
		return nil, err
	}
	return &Provider{Deps: d}, nil
}

// New builds the authenticator for one policy entry.
func (p *Provider) New(name string, cfg *policy.Introspection) (authn.Authenticator, error) {
	if cfg == nil {
		return nil, fmt.Errorf("introspection authenticator without configuration")
	}
	from := cfg.From
	if len(from) == 0 {
		from = policy.DefaultSources
	}
	a := &authenticator{
		name: name, cfg: cfg, from: from, p: p,
		policy: remote.Policy{Timeout: cfg.Timeout, TTL: cfg.CacheTTL, NegativeTTL: cfg.NegativeCacheTTL, StaleIfError: cfg.StaleIfError},
		// The client is part of the scope: two clients may see different
		// answers for one token (RFC 7662 section 2.2 lets the server decide
		// per client).
		scope: fmt.Sprintf("introspection\x00%s\x00%s", cfg.URL, cfg.ClientID),
	}
	return a, nil
}

type authenticator struct {
	name   string
	cfg    *policy.Introspection
	from   []policy.Source
	p      *Provider
	policy remote.Policy
	scope  string
}

func (a *authenticator) Name() string { return a.name }

func (a *authenticator) Present(r *request.Request) bool {
	_, ok := authn.Extract(r, a.from)
	return ok
}

func (a *authenticator) Authenticate(ctx context.Context, r *request.Request) (*authn.Identity, error) {
	token, ok := authn.Extract(r, a.from)
	if !ok {
		return nil, fmt.Errorf("%w: no token", authn.ErrInvalid)
	}
	if len(token) > MaxTokenLength {
		return nil, fmt.Errorf("%w: token longer than %d bytes", authn.ErrInvalid, MaxTokenLength)
	}
	key := a.p.Keyer.Key(a.scope, token)
	if id, ok, err := a.p.Checker.Cached(key); ok {
		return id, err
	}
	return a.check(ctx, key, token)
}

// check is the cache miss: the closure is built only here.
func (a *authenticator) check(ctx context.Context, key cache.Key, token string) (*authn.Identity, error) {
	return a.p.Checker.Check(ctx, key, a.policy, func(ctx context.Context) (remote.Answer, error) {
		return a.introspect(ctx, token)
	})
}

// introspect asks the endpoint (RFC 7662 section 2.1): a form POST with the
// token, authenticated as the client with HTTP Basic, whose id and secret
// are form-encoded first (RFC 6749 section 2.3.1).
func (a *authenticator) introspect(ctx context.Context, token string) (remote.Answer, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return remote.Answer{}, fmt.Errorf("failed to build introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if a.cfg.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(string(a.cfg.ClientSecret)))
	}
	res, err := a.p.HTTPClient.Do(req)
	if err != nil {
		return remote.Answer{}, fmt.Errorf("failed to call introspection endpoint %s: %w", a.cfg.URL, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// A 401 here means authgate's own client credentials were refused:
		// a configuration failure (503), not a verdict on the token.
		return remote.Answer{}, &remote.StatusError{URL: a.cfg.URL, Status: res.StatusCode}
	}
	claims, err := remote.DecodeObject(res.Body)
	if err != nil {
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: err.Error()}
	}
	active, ok := claims["active"].(bool)
	if !ok {
		return remote.Answer{}, &remote.MalformedError{URL: a.cfg.URL, Why: `no boolean "active"`}
	}
	if !active {
		return remote.Answer{Invalid: true, Why: "the token is not active"}, nil
	}
	sub, _ := claims["sub"].(string)
	return remote.Answer{Identity: &authn.Identity{Subject: sub, Claims: authn.ClaimsOf(claims), ExpiresAt: remote.Expiry(claims)}}, nil
}
