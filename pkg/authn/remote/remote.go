// Package remote is what the authenticators that ask an upstream (session
// resolver, token introspection) share: the cached, single-flight call, with
// separate lifetimes for valid and invalid answers, expiry capped by the
// credential's own, errors never cached, and an optional stale-if-error.
package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/cache"
)

// Answer is what the upstream said about a credential.
type Answer struct {
	// Identity is set for a valid credential.
	Identity *authn.Identity
	// Invalid says the upstream rejected the credential; Why says how,
	// without the credential.
	Invalid bool
	Why     string
}

// Policy is how long answers are reused.
type Policy struct {
	// Timeout bounds one upstream call, whoever waits for it.
	Timeout time.Duration
	// TTL is the life of a valid answer (0: not cached), capped by the
	// identity's ExpiresAt.
	TTL time.Duration
	// NegativeTTL is the life of an invalid answer.
	NegativeTTL time.Duration
	// StaleIfError serves a valid answer this long past its expiry while
	// the upstream fails (0: never).
	StaleIfError time.Duration
}

// Observer is told about upstream calls, for metrics.
type Observer interface {
	cache.Stats
	// Upstream reports one call: how long it took and its error class
	// ("" for success, see Classify).
	Upstream(took time.Duration, errClass string)
	// Stale reports an answer served past its expiry.
	Stale()
}

type nopObserver struct{}

func (nopObserver) Hit()                           {}
func (nopObserver) Miss()                          {}
func (nopObserver) Evict()                         {}
func (nopObserver) Upstream(time.Duration, string) {}
func (nopObserver) Stale()                         {}

// Checker runs cached upstream checks.
type Checker struct {
	cache *cache.Cache[Answer]
	obs   Observer
	now   func() time.Time
}

// NewChecker returns a Checker with a cache of the given size.
func NewChecker(size int, obs Observer, now func() time.Time) (*Checker, error) {
	if obs == nil {
		obs = nopObserver{}
	}
	if now == nil {
		now = time.Now
	}
	c, err := cache.New[Answer](cache.Config{Size: size, Stats: obs, Now: now})
	if err != nil {
		return nil, err
	}
	return &Checker{cache: c, obs: obs, now: now}, nil
}

// ErrUpstream wraps every upstream failure, so it is never mistaken for an
// invalid credential: it maps to 503.
var ErrUpstream = errors.New("upstream check failed")

// Len is the number of cached answers, for metrics.
func (c *Checker) Len() int { return c.cache.Len() }

// Cached answers from the cache alone: ok is false on a miss, and the
// caller then calls Check, which counts the miss. Authenticators call it
// first so that a cache hit, the common case, costs no closure for the
// upstream call.
func (c *Checker) Cached(key cache.Key) (id *authn.Identity, ok bool, err error) {
	a, ok := c.cache.TryGet(key)
	if !ok {
		return nil, false, nil
	}
	id, err = c.answer(a)
	return id, true, err
}

// Check returns the identity for the credential behind key, calling the
// upstream at most once at a time per key and reusing answers per p.
func (c *Checker) Check(ctx context.Context, key cache.Key, p Policy, call func(context.Context) (Answer, error)) (*authn.Identity, error) {
	// The cache runs call once for all concurrent callers, under its own
	// timeout, detached from the first caller's cancellation but not from its
	// values (context.WithoutCancel). So when tracing is on, the upstream
	// call's span (tracing.Transport on the HTTP client) is a child of the
	// first caller's check span, and may outlive it if that caller gives up
	// first; callers that join the flight share the answer, not the span.
	a, err := c.cache.Load(ctx, key, p.Timeout, func(lctx context.Context) (Answer, time.Time, error) {
		start := c.now()
		a, err := call(lctx)
		c.obs.Upstream(time.Since(start), Classify(err))
		if err != nil {
			return Answer{}, time.Time{}, err
		}
		now := c.now()
		if a.Invalid {
			return a, now.Add(p.NegativeTTL), nil
		}
		if a.Identity == nil {
			return Answer{}, time.Time{}, fmt.Errorf("%w: a valid answer without an identity", ErrUpstream)
		}
		exp := now.Add(p.TTL)
		if e := a.Identity.ExpiresAt; !e.IsZero() && e.Before(exp) {
			exp = e
		}
		return a, exp, nil
	})
	if err != nil {
		if p.StaleIfError > 0 {
			if old, ok := c.cache.Stale(key, p.StaleIfError); ok && !old.Invalid && old.Identity != nil &&
				(old.Identity.ExpiresAt.IsZero() || c.now().Before(old.Identity.ExpiresAt)) {
				c.obs.Stale()
				return old.Identity, nil
			}
		}
		if errors.Is(err, ErrUpstream) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	return c.answer(a)
}

// answer turns a fresh answer into Check's result.
func (c *Checker) answer(a Answer) (*authn.Identity, error) {
	if a.Invalid {
		return nil, fmt.Errorf("%w: %s", authn.ErrInvalid, a.Why)
	}
	if exp := a.Identity.ExpiresAt; !exp.IsZero() && !c.now().Before(exp) {
		return nil, authn.ErrExpired
	}
	return a.Identity, nil
}

// Classify names an upstream error for metrics: timeout, refused, status,
// malformed or other; "" for nil.
func Classify(err error) string {
	var (
		netErr net.Error
		se     *StatusError
		me     *MalformedError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &se):
		return "status"
	case errors.As(err, &me):
		return "malformed"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case isRefused(err):
		return "refused"
	}
	return "other"
}

// StatusError is an upstream answer with a status the contract does not
// allow (5xx, a redirect, ...).
type StatusError struct {
	URL    string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d", e.URL, e.Status)
}

// MalformedError is an answer that does not follow the contract.
type MalformedError struct {
	URL string
	Why string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed answer from %s: %s", e.URL, e.Why)
}

func isRefused(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// Deps are what every resolver-backed authenticator kind (session,
// introspection) is built with.
type Deps struct {
	// HTTPClient calls the upstream; each call is bounded by the policy's
	// timeout. Default NoRedirectClient: a redirect is an answer, never
	// followed, so credentials are not sent elsewhere.
	HTTPClient *http.Client
	// Checker caches answers.
	Checker *Checker
	// Keyer makes cache keys.
	Keyer *cache.Keyer
}

// Complete checks the required parts and fills the defaults; kind names the
// authenticator kind in the error.
func (d Deps) Complete(kind string) (Deps, error) {
	if d.Checker == nil || d.Keyer == nil {
		return d, fmt.Errorf("%s provider needs a checker and a keyer", kind)
	}
	if d.HTTPClient == nil {
		d.HTTPClient = NoRedirectClient()
	}
	return d, nil
}

// MaxBody bounds what authgate reads from an upstream answer.
const MaxBody = 1 << 20

// NoRedirectClient is an HTTP client that returns redirects as answers:
// a resolver or introspection endpoint that redirects is misconfigured, and
// following it could send credentials elsewhere.
func NoRedirectClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Every cache miss is a call to the same few hosts, many at once: keep
	// enough connections open to them (the default keeps two per host, so a
	// burst of misses would open and close connections on every call).
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// DecodeObject reads one JSON object of at most MaxBody bytes.
func DecodeObject(r io.Reader) (map[string]any, error) {
	var claims map[string]any
	dec := json.NewDecoder(io.LimitReader(r, MaxBody))
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if claims == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return claims, nil
}

// Expiry reads when a session or token ends: a numeric "exp" (seconds since
// the epoch, as in JWT and RFC 7662) or an RFC 3339 "expires_at" (Kratos).
// Zero when neither is there.
func Expiry(claims map[string]any) time.Time {
	if exp, ok := claims["exp"].(float64); ok && exp > 0 {
		return time.Unix(int64(exp), 0)
	}
	if s, ok := claims["expires_at"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
