// Package jwt verifies signed access tokens locally against the issuer's
// published keys (JWKS): jwx/v2 fetches, caches and refreshes the key sets,
// and signatures are checked with crypto/* on keys parsed once (jws.go). A Provider lives
// as long as the process and owns the key sets and the verified-token cache;
// each policy's jwt authenticator is built from it and is cheap to rebuild.
package jwt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/cache"
	"github.com/authgate/authgate/pkg/policy"
)

// Observer is told about key fetches and cache use, for metrics. All methods
// must be safe for concurrent use.
type Observer interface {
	JWKSFetch(err error)
	Discovery(err error)
	cache.Stats
}

// KeySetObserver may also be implemented by an Observer to hear of every
// key set fetched successfully (background refreshes included, for the age
// of the set) and of refetches asked for by an unknown kid, by result
// ("refetched", "rate_limited", "error"). It is separate from Observer so
// that Observers written before it keep compiling.
type KeySetObserver interface {
	KeySetFetched(jwksURL string)
	UnknownKid(result string)
}

type nopObserver struct{}

func (nopObserver) JWKSFetch(error) {}
func (nopObserver) Discovery(error) {}
func (nopObserver) Hit()            {}
func (nopObserver) Miss()           {}
func (nopObserver) Evict()          {}

// Config configures a Provider.
type Config struct {
	// HTTPClient fetches discovery documents and key sets. Default: a client
	// with a 5s timeout.
	HTTPClient *http.Client
	// RefetchInterval is the least time between forced refetches of one JWKS
	// URL (unknown kid, or no key set yet). Default 10s.
	RefetchInterval time.Duration
	// MinRefreshInterval is the least time between background refreshes of a
	// key set, whatever the IdP's Cache-Control says. Default 5m.
	MinRefreshInterval time.Duration
	// FetchTimeout bounds one discovery or JWKS fetch. Default 5s.
	FetchTimeout time.Duration
	// CacheSize bounds the verified-token cache. Default 10000.
	CacheSize int
	// Keyer makes cache keys; default a random per-process key.
	Keyer *cache.Keyer
	// Observer receives fetch and cache events (optional).
	Observer Observer
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Provider builds jwt authenticators that share key sets and a token cache.
type Provider struct {
	keys   *keySource
	tokens *cache.Cache[*authn.Identity]
	keyer  *cache.Keyer
	raw    rawKeys // public keys parsed once per JWK
	now    func() time.Time
}

// NewProvider returns a Provider whose background key refreshes stop when
// ctx ends.
func NewProvider(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		// jwx's background refreshes have no context of ours: the client's
		// own timeout bounds them, as FetchTimeout bounds the rest.
		cfg.HTTPClient = &http.Client{Timeout: cfg.FetchTimeout}
	}
	cfg.HTTPClient = closeErrorBodies(cfg.HTTPClient)
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = 10 * time.Second
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 5 * time.Minute
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Keyer == nil {
		k, err := cache.NewKeyer(nil)
		if err != nil {
			return nil, err
		}
		cfg.Keyer = k
	}
	tokens, err := cache.New[*authn.Identity](cache.Config{Size: cfg.CacheSize, Stats: cfg.Observer, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	return &Provider{
		keys: &keySource{
			ctx:          ctx,
			cache:        jwk.NewCache(ctx),
			client:       cfg.HTTPClient,
			refetchEvery: cfg.RefetchInterval,
			minRefresh:   cfg.MinRefreshInterval,
			fetchTimeout: cfg.FetchTimeout,
			lastRefetch:  map[string]refetch{},
			discovered:   map[string]discovery{},
			now:          cfg.Now,
			observer:     cfg.Observer,
		},
		tokens: tokens,
		keyer:  cfg.Keyer,
		now:    cfg.Now,
	}, nil
}

// New builds the authenticator for one policy entry. It does no network I/O:
// keys are fetched on first use (see Warm to fetch them ahead).
func (p *Provider) New(name string, cfg *policy.JWT) (authn.Authenticator, error) {
	if cfg == nil {
		return nil, errors.New("jwt authenticator without configuration")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = policy.DefaultAlgorithms
	}
	allowed := make(map[string]bool, len(algs))
	for _, a := range algs {
		if !policy.SupportedAlgorithms[a] {
			return nil, fmt.Errorf("unsupported algorithm %q", a)
		}
		allowed[a] = true
	}
	from := cfg.From
	if len(from) == 0 {
		from = policy.DefaultSources
	}
	skew := cfg.ClockSkew
	if skew == 0 {
		skew = policy.DefaultClockSkew
	}
	if cfg.JWKSURI != "" {
		if err := p.keys.register(cfg.JWKSURI); err != nil {
			return nil, err
		}
	}
	v := &verifier{
		name:    name,
		issuer:  cfg.Issuer,
		jwksURI: cfg.JWKSURI,
		claims:  claimsCheck{issuer: cfg.Issuer, audiences: cfg.Audiences, skew: skew},
		allowed: allowed,
		from:    from,
		p:       p,
	}
	// Two authenticators with the same checks may share cached verdicts;
	// any difference in issuer, audiences, algorithms or skew separates them.
	v.cacheScope = fmt.Sprintf("jwt\x00%s\x00%s\x00%q\x00%v\x00%s", cfg.Issuer, cfg.JWKSURI, cfg.Audiences, algs, skew)
	return v, nil
}

// CachedTokens is the number of entries in the verified-token cache, for
// metrics.
func (p *Provider) CachedTokens() int { return p.tokens.Len() }

// Warm fetches the authenticator's keys in the background so the first
// request does not pay for discovery and the JWKS fetch. Errors are left for
// that request to report.
func (p *Provider) Warm(a authn.Authenticator) {
	v, ok := a.(*verifier)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(p.keys.ctx, p.keys.fetchTimeout)
		defer cancel()
		if u, err := v.keysURL(ctx); err == nil {
			_, _ = p.keys.keys(ctx, u)
		}
	}()
}
