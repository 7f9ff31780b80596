package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/sync/singleflight"

	"github.com/authgate/authgate/pkg/observability/tracing"
)

// keySource owns every JWKS URL's key set for the life of the process, so
// that caches survive policy reloads: jwx's jwk.Cache refreshes each set in
// the background and keeps the last good set when a refresh fails.
type keySource struct {
	ctx    context.Context
	cache  *jwk.Cache
	client *http.Client

	// refetchEvery bounds forced refetches (unknown kid, no set yet) per URL.
	refetchEvery time.Duration
	minRefresh   time.Duration
	fetchTimeout time.Duration

	regMu       sync.Mutex
	mu          sync.Mutex
	lastRefetch map[string]refetch
	discovered  map[string]discovery // issuer -> jwks_uri
	flight      singleflight.Group
	now         func() time.Time
	observer    Observer
}

// refetch is the last forced fetch of a URL and how it ended.
type refetch struct {
	at  time.Time
	err error
}

type discovery struct {
	jwksURI string
	err     error
	at      time.Time
}

// errRateLimited says a refetch was skipped because one ran recently.
var errRateLimited = errors.New("refetch rate-limited")

func (s *keySource) register(u string) error {
	// Check and register under one lock: registering a URL twice would
	// replace its entry and throw away a fetched key set.
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.cache.IsRegistered(u) {
		return nil
	}
	opts := []jwk.RegisterOption{
		jwk.WithHTTPClient(s.client),
		jwk.WithMinRefreshInterval(s.minRefresh),
	}
	if o, ok := s.observer.(KeySetObserver); ok {
		// jwx calls the post-fetcher after every successful fetch, forced
		// or background, which is exactly when the key set's age resets.
		opts = append(opts, jwk.WithPostFetcher(jwk.PostFetchFunc(func(u string, set jwk.Set) (jwk.Set, error) {
			o.KeySetFetched(u)
			return set, nil
		})))
	}
	err := s.cache.Register(u, opts...)
	if err != nil {
		return fmt.Errorf("failed to register JWKS URL %s: %w", u, err)
	}
	return nil
}

// keys returns the key set for u. If none has been fetched successfully yet,
// it fetches now (rate-limited), so an IdP that was down at start is picked
// up without a restart.
func (s *keySource) keys(ctx context.Context, u string) (jwk.Set, error) {
	if err := s.register(u); err != nil {
		return nil, err
	}
	// A request waits for the first fetch of a set at most fetchTimeout,
	// whatever its own deadline.
	gctx, cancel := context.WithTimeout(ctx, s.fetchTimeout)
	set, err := s.cache.Get(gctx, u)
	cancel()
	if err == nil && set != nil {
		return set, nil
	}
	set, rerr := s.refetch(ctx, u)
	if rerr != nil {
		if err == nil {
			err = rerr
		}
		return nil, fmt.Errorf("no key set available from %s: %w", u, err)
	}
	return set, nil
}

// unknownKid tells a KeySetObserver how a refetch asked for by an unknown
// kid ended.
func (s *keySource) unknownKid(err error) {
	o, ok := s.observer.(KeySetObserver)
	if !ok {
		return
	}
	switch {
	case err == nil:
		o.UnknownKid("refetched")
	case errors.Is(err, errRateLimited):
		o.UnknownKid("rate_limited")
	default:
		o.UnknownKid("error")
	}
}

// fetchContext bounds one fetch by fetchTimeout and by the provider's life.
// It keeps the first caller's values (its span is the fetch's parent) but
// not its cancellation: callers that join the flight share the fetch. When
// the provider stops, its fetches stop at once rather than after
// fetchTimeout (jwx's fetcher is gone by then and nobody would answer).
func (s *keySource) fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.fetchTimeout)
	stop := context.AfterFunc(s.ctx, cancel)
	return fctx, func() { stop(); cancel() }
}

// refetch forces a fetch of u unless one happened within refetchEvery.
// Concurrent callers share one fetch.
func (s *keySource) refetch(ctx context.Context, u string) (jwk.Set, error) {
	v, err, _ := s.flight.Do(u, func() (any, error) {
		s.mu.Lock()
		last, ok := s.lastRefetch[u]
		now := s.now()
		if ok && now.Sub(last.at) < s.refetchEvery {
			s.mu.Unlock()
			if last.err != nil {
				// The last refetch failed: a token we cannot place may be
				// signed by a key we could not fetch, so this is still a
				// dependency failure (503), not an invalid token (401).
				return nil, last.err
			}
			return nil, errRateLimited
		}
		s.lastRefetch[u] = refetch{at: now}
		s.mu.Unlock()

		fctx, cancel := s.fetchContext(ctx)
		defer cancel()
		// jwx fetches on its own goroutine without this context, so the
		// fetch's span is started here. fctx keeps the values of the first
		// caller's context (WithoutCancel), so its check span is the parent;
		// callers that join the flight share the fetch, not the span.
		fctx, span := tracing.StartUpstream(fctx, tracing.SpanJWKSFetch, http.MethodGet, u)
		set, err := s.cache.Refresh(fctx, u)
		tracing.EndUpstream(span, 0, err)
		s.observer.JWKSFetch(err)
		if err != nil {
			err = fmt.Errorf("failed to fetch JWKS from %s: %w", u, err)
			s.mu.Lock()
			s.lastRefetch[u] = refetch{at: now, err: err}
			s.mu.Unlock()
			return nil, err
		}
		return set, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(jwk.Set), nil
}

// jwksURI returns the JWKS URL for an issuer, from OIDC discovery. A failed
// discovery is retried at most every refetchEvery.
func (s *keySource) jwksURI(ctx context.Context, issuer string) (string, error) {
	s.mu.Lock()
	d, ok := s.discovered[issuer]
	s.mu.Unlock()
	if ok && (d.err == nil || s.now().Sub(d.at) < s.refetchEvery) {
		return d.jwksURI, d.err
	}
	v, err, _ := s.flight.Do("discovery "+issuer, func() (any, error) {
		fctx, cancel := s.fetchContext(ctx)
		defer cancel()
		fctx, span := tracing.StartUpstream(fctx, tracing.SpanDiscovery, http.MethodGet, discoveryURL(issuer))
		u, err := discover(fctx, s.client, issuer)
		tracing.EndUpstream(span, 0, err)
		s.observer.Discovery(err)
		s.mu.Lock()
		s.discovered[issuer] = discovery{jwksURI: u, err: err, at: s.now()}
		s.mu.Unlock()
		return u, err
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// maxDiscoveryDoc bounds what authgate reads from a discovery endpoint.
const maxDiscoveryDoc = 1 << 20

// discoveryURL is where an issuer's discovery document is.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// discover reads <issuer>/.well-known/openid-configuration (OpenID Connect
// Discovery 1.0 section 4) and returns jwks_uri. The document's issuer must
// equal the configured one (section 4.3), or a misconfigured or hostile
// endpoint could hand out another issuer's keys.
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := discoveryURL(issuer)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("failed to build discovery request for %s: %w", issuer, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to fetch OIDC discovery from %s: %w", u, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("OIDC discovery at %s answered %d", u, res.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxDiscoveryDoc)).Decode(&doc); err != nil {
		return "", fmt.Errorf("failed to decode OIDC discovery from %s: %w", u, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("OIDC discovery at %s names issuer %q, want %q", u, doc.Issuer, issuer)
	}
	if !strings.HasPrefix(doc.JWKSURI, "https://") && !strings.HasPrefix(doc.JWKSURI, "http://") {
		return "", fmt.Errorf("OIDC discovery at %s has no usable jwks_uri", u)
	}
	return doc.JWKSURI, nil
}
