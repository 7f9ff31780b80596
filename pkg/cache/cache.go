// Package cache is the bounded, expiring, HMAC-keyed cache that sits in front
// of every expensive check (signature verification, session resolution). Keys
// are HMACs of the credential, so raw tokens and cookies are never held as
// keys; entries expire at their own deadline; concurrent misses for one key
// share a single load; errors are never cached.
package cache

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Key is an HMAC-SHA256 of a credential and the context it was checked in.
type Key [sha256.Size]byte

// Keyer makes Keys with one secret. The secret is random per process unless
// configured, so keys are useless outside the process that made them.
type Keyer struct {
	pool sync.Pool // of *keyState
}

// keyState is one pooled HMAC with its scratch space. The buffers live here,
// not on Key's stack, because hash.Hash is an interface: whatever is passed
// to its methods escapes, and would cost two allocations per key.
type keyState struct {
	h   hash.Hash
	n   [4]byte
	sum [sha256.Size]byte
}

// NewKeyer returns a Keyer with the given secret, or a random one when nil.
func NewKeyer(secret []byte) (*Keyer, error) {
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("failed to generate cache key secret: %w", err)
		}
	}
	k := &Keyer{}
	k.pool.New = func() any { return &keyState{h: hmac.New(sha256.New, secret)} }
	return k, nil
}

// Key returns the HMAC of the parts. Each part is length-prefixed so that
// ("ab","c") and ("a","bc") never collide.
func (k *Keyer) Key(parts ...string) Key {
	s := k.pool.Get().(*keyState)
	s.h.Reset()
	for _, p := range parts {
		l := len(p)
		s.n[0], s.n[1], s.n[2], s.n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		s.h.Write(s.n[:])
		// The hash reads p and keeps nothing: no need to copy a token or a
		// cookie into a fresh slice on every request.
		s.h.Write(unsafe.Slice(unsafe.StringData(p), len(p)))
	}
	out := Key(s.h.Sum(s.sum[:0]))
	k.pool.Put(s)
	return out
}

// String is a short, safe form of the key for debugging; it reveals nothing
// about the credential.
func (k Key) String() string { return hex.EncodeToString(k[:6]) }

// Stats are counted by the cache and read by metrics.
type Stats interface {
	Hit()
	Miss()
	Evict()
}

type noStats struct{}

func (noStats) Hit()   {}
func (noStats) Miss()  {}
func (noStats) Evict() {}

type entry[V any] struct {
	value   V
	expires time.Time
}

// Cache is a bounded LRU whose entries each expire at their own time.
type Cache[V any] struct {
	lru   *lru.Cache[Key, entry[V]]
	group singleflight.Group
	stats Stats
	now   func() time.Time
}

// Config configures a Cache.
type Config struct {
	// Size is the maximum number of entries (default 10000).
	Size int
	// Stats receives hit, miss and eviction counts (optional).
	Stats Stats
	// Now replaces the clock in tests.
	Now func() time.Time
}

// New returns an empty cache.
func New[V any](cfg Config) (*Cache[V], error) {
	if cfg.Size <= 0 {
		cfg.Size = 10000
	}
	if cfg.Stats == nil {
		cfg.Stats = noStats{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache[V]{stats: cfg.Stats, now: cfg.Now}
	l, err := lru.NewWithEvict(cfg.Size, func(Key, entry[V]) { c.stats.Evict() })
	if err != nil {
		return nil, fmt.Errorf("failed to create cache: %w", err)
	}
	c.lru = l
	return c, nil
}

// Get returns the value for key if present and not expired. An expired
// entry stays until it is replaced or evicted, so Stale can still serve it.
func (c *Cache[V]) Get(key Key) (V, bool) {
	e, ok := c.lru.Get(key)
	if ok && c.now().Before(e.expires) {
		c.stats.Hit()
		return e.value, true
	}
	c.stats.Miss()
	var zero V
	return zero, false
}

// TryGet is Get for a caller that calls Load on a miss: it counts a hit but
// not a miss, which Load counts. Callers use it to skip building Load's
// arguments (closures that allocate) on the common path.
func (c *Cache[V]) TryGet(key Key) (V, bool) {
	e, ok := c.lru.Get(key)
	if ok && c.now().Before(e.expires) {
		c.stats.Hit()
		return e.value, true
	}
	var zero V
	return zero, false
}

// Stale returns the value for key even if it expired, as long as it expired
// less than maxStale ago: for serving the last good answer while the
// upstream is failing, when a policy opts into that.
func (c *Cache[V]) Stale(key Key, maxStale time.Duration) (V, bool) {
	e, ok := c.lru.Peek(key)
	if ok && c.now().Before(e.expires.Add(maxStale)) {
		return e.value, true
	}
	var zero V
	return zero, false
}

// Set stores value until expires. A deadline in the past stores nothing.
func (c *Cache[V]) Set(key Key, value V, expires time.Time) {
	if !c.now().Before(expires) {
		return
	}
	c.lru.Add(key, entry[V]{value: value, expires: expires})
}

// Len is the number of entries, expired ones included until touched.
func (c *Cache[V]) Len() int { return c.lru.Len() }

// Load returns the cached value for key, or calls load once for all
// concurrent callers with the same key. load runs under its own context
// (detached from any one caller's cancellation, bounded by timeout) so one
// impatient caller cannot fail the others. load returns the value and its
// expiry; an error is returned to every waiting caller and not cached.
func (c *Cache[V]) Load(ctx context.Context, key Key, timeout time.Duration, load func(context.Context) (V, time.Time, error)) (V, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	ch := c.group.DoChan(string(key[:]), func() (any, error) {
		// Another caller may have filled the entry while we queued.
		if e, ok := c.lru.Peek(key); ok && c.now().Before(e.expires) {
			return e.value, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		v, exp, err := load(lctx)
		if err != nil {
			return v, err
		}
		c.Set(key, v, exp)
		return v, nil
	})
	select {
	case res := <-ch:
		v, _ := res.Val.(V)
		return v, res.Err
	case <-ctx.Done():
		var zero V
		return zero, fmt.Errorf("gave up waiting for cache load: %w", ctx.Err())
	}
}
