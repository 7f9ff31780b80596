package cache_test

import (
	clocktesting "k8s.io/utils/clock/testing"

	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/cache"
)

// countingStats is a Stats fake; atomic because Load calls it from many
// goroutines.
type countingStats struct {
	hits, misses, evicts atomic.Int64
}

func (s *countingStats) Hit()   { s.hits.Add(1) }
func (s *countingStats) Miss()  { s.misses.Add(1) }
func (s *countingStats) Evict() { s.evicts.Add(1) }

func newKeyer(t *testing.T) *cache.Keyer {
	t.Helper()
	k, err := cache.NewKeyer([]byte("test secret"))
	if err != nil {
		t.Fatalf("NewKeyer: %v", err)
	}
	return k
}

func newCache(t *testing.T, cfg cache.Config) *cache.Cache[string] {
	t.Helper()
	c, err := cache.New[string](cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestGetSet(t *testing.T) {
	keyer := newKeyer(t)
	k := keyer.Key("scope", "token")

	tests := map[string]struct {
		ttl     time.Duration // Set's deadline relative to now
		advance time.Duration // clock moves before Get
		wantOK  bool
	}{
		"fresh entry is served":             {ttl: time.Minute, advance: 0, wantOK: true},
		"entry just before expiry":          {ttl: time.Minute, advance: time.Minute - time.Nanosecond, wantOK: true},
		"entry at its deadline has expired": {ttl: time.Minute, advance: time.Minute, wantOK: false},
		"entry past its deadline":           {ttl: time.Minute, advance: time.Hour, wantOK: false},
		"deadline in the past stores nothing": {
			ttl: -time.Second, advance: 0, wantOK: false,
		},
		"deadline equal to now stores nothing": {
			ttl: 0, advance: 0, wantOK: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			stats := &countingStats{}
			c := newCache(t, cache.Config{Stats: stats, Now: clock.Now})

			c.Set(k, "identity", clock.Now().Add(tc.ttl))
			clock.Step(tc.advance)
			got, ok := c.Get(k)
			if ok != tc.wantOK {
				t.Fatalf("Get ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && got != "identity" {
				t.Errorf("Get = %q, want %q", got, "identity")
			}
			if !ok && got != "" {
				t.Errorf("Get on miss = %q, want zero value", got)
			}
			wantHits, wantMisses := int64(0), int64(1)
			if tc.wantOK {
				wantHits, wantMisses = 1, 0
			}
			if h, m := stats.hits.Load(), stats.misses.Load(); h != wantHits || m != wantMisses {
				t.Errorf("hits, misses = %d, %d; want %d, %d", h, m, wantHits, wantMisses)
			}
			// An expired entry stays (bounded by the LRU) so that Stale can
			// serve it within a stale-if-error window, and never past it.
			if !tc.wantOK && tc.ttl > 0 {
				if _, ok := c.Stale(k, tc.advance-tc.ttl+time.Second); !ok {
					t.Errorf("Stale within the window missed")
				}
				if _, ok := c.Stale(k, tc.advance-tc.ttl); ok {
					t.Errorf("Stale served an entry past the window")
				}
			}
		})
	}
}

func TestGetUnknownKey(t *testing.T) {
	stats := &countingStats{}
	c := newCache(t, cache.Config{Stats: stats})
	if _, ok := c.Get(newKeyer(t).Key("nothing")); ok {
		t.Fatal("Get of a key never set succeeded")
	}
	if stats.misses.Load() != 1 {
		t.Errorf("misses = %d, want 1", stats.misses.Load())
	}
}

func TestSetReplaces(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := newCache(t, cache.Config{Now: clock.Now})
	k := newKeyer(t).Key("a")
	c.Set(k, "old", clock.Now().Add(time.Second))
	c.Set(k, "new", clock.Now().Add(time.Hour))
	clock.Step(time.Minute)
	if got, ok := c.Get(k); !ok || got != "new" {
		t.Fatalf("Get = %q, %v; want the replacing value with its own deadline", got, ok)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}

func TestBoundedSize(t *testing.T) {
	tests := map[string]struct {
		size       int
		inserts    int
		wantLen    int
		wantEvicts int64
	}{
		"under the bound":           {size: 4, inserts: 3, wantLen: 3, wantEvicts: 0},
		"at the bound":              {size: 4, inserts: 4, wantLen: 4, wantEvicts: 0},
		"over the bound evicts LRU": {size: 4, inserts: 10, wantLen: 4, wantEvicts: 6},
		"size one":                  {size: 1, inserts: 5, wantLen: 1, wantEvicts: 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			stats := &countingStats{}
			keyer := newKeyer(t)
			c := newCache(t, cache.Config{Size: tc.size, Stats: stats, Now: clock.Now})
			for i := range tc.inserts {
				c.Set(keyer.Key(string(rune('a'+i))), "v", clock.Now().Add(time.Hour))
			}
			if c.Len() != tc.wantLen {
				t.Errorf("Len = %d, want %d", c.Len(), tc.wantLen)
			}
			if got := stats.evicts.Load(); got != tc.wantEvicts {
				t.Errorf("evictions = %d, want %d", got, tc.wantEvicts)
			}
			// The most recent insert always survives; the oldest is gone
			// once anything was evicted.
			last := keyer.Key(string(rune('a' + tc.inserts - 1)))
			if _, ok := c.Get(last); !ok {
				t.Error("most recent entry was evicted")
			}
			if tc.wantEvicts > 0 {
				if _, ok := c.Get(keyer.Key("a")); ok {
					t.Error("oldest entry survived eviction")
				}
			}
		})
	}
}

func TestBoundedSizeKeepsRecentlyUsed(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	keyer := newKeyer(t)
	c := newCache(t, cache.Config{Size: 2, Now: clock.Now})
	a, b, d := keyer.Key("a"), keyer.Key("b"), keyer.Key("d")
	exp := clock.Now().Add(time.Hour)
	c.Set(a, "a", exp)
	c.Set(b, "b", exp)
	c.Get(a) // a is now more recently used than b
	c.Set(d, "d", exp)
	if _, ok := c.Get(a); !ok {
		t.Error("recently used entry was evicted")
	}
	if _, ok := c.Get(b); ok {
		t.Error("least recently used entry survived")
	}
}

func TestDefaultSize(t *testing.T) {
	// Size 0 must mean the default bound, not an error or an unbounded cache.
	for _, size := range []int{0, -1} {
		if _, err := cache.New[string](cache.Config{Size: size}); err != nil {
			t.Errorf("New(Size: %d): %v", size, err)
		}
	}
}

func TestKeyer(t *testing.T) {
	k1 := newKeyer(t)
	k2 := newKeyer(t) // same secret as k1
	other, err := cache.NewKeyer([]byte("another secret"))
	if err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		a, b      cache.Key
		wantEqual bool
	}{
		"deterministic":                        {a: k1.Key("scope", "tok"), b: k1.Key("scope", "tok"), wantEqual: true},
		"same secret, same key":                {a: k1.Key("scope", "tok"), b: k2.Key("scope", "tok"), wantEqual: true},
		"length-prefixed: ab|c vs a|bc":        {a: k1.Key("ab", "c"), b: k1.Key("a", "bc"), wantEqual: false},
		"length-prefixed: split vs joined":     {a: k1.Key("ab", "c"), b: k1.Key("abc"), wantEqual: false},
		"length-prefixed: trailing empty part": {a: k1.Key("abc"), b: k1.Key("abc", ""), wantEqual: false},
		"no parts vs one empty part":           {a: k1.Key(), b: k1.Key(""), wantEqual: false},
		"order matters":                        {a: k1.Key("a", "b"), b: k1.Key("b", "a"), wantEqual: false},
		"different scope":                      {a: k1.Key("s1", "tok"), b: k1.Key("s2", "tok"), wantEqual: false},
		"different secret":                     {a: k1.Key("scope", "tok"), b: other.Key("scope", "tok"), wantEqual: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a == tc.b; got != tc.wantEqual {
				t.Errorf("keys equal = %v, want %v (%s vs %s)", got, tc.wantEqual, tc.a, tc.b)
			}
		})
	}
}

func TestKeyerRandomSecret(t *testing.T) {
	// Two processes (here: two nil-secret keyers) must not agree on keys, so
	// a key leaked from one is useless against another.
	a, err := cache.NewKeyer(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cache.NewKeyer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key("tok") == b.Key("tok") {
		t.Error("two random-secret keyers made the same key")
	}
}

func TestKeyString(t *testing.T) {
	k := newKeyer(t).Key("a-very-secret-token")
	s := k.String()
	if len(s) != 12 {
		t.Errorf("String() = %q, want 12 hex digits", s)
	}
}

func TestKeyerConcurrent(t *testing.T) {
	// The keyer pools HMAC states; concurrent use must neither race nor mix
	// one caller's input into another's key.
	keyer := newKeyer(t)
	want := keyer.Key("scope", "tok")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				if got := keyer.Key("scope", "tok"); got != want {
					t.Error("concurrent Key gave a different key")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLoadSingleFlight(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := newCache(t, cache.Config{Now: clock.Now})
	k := newKeyer(t).Key("k")

	const callers = 200
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (string, time.Time, error) {
		calls.Add(1)
		<-release // hold the load until every caller is queued on it
		return "value", clock.Now().Add(time.Hour), nil
	}

	var started, done sync.WaitGroup
	started.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		done.Go(func() {
			started.Done()
			v, err := c.Load(t.Context(), k, time.Second, load)
			if err == nil && v != "value" {
				err = errors.New("wrong value " + v)
			}
			errs <- err
		})
	}
	started.Wait()
	// Give the goroutines a moment to reach Load; late arrivals must be
	// served from the cache, so the count below holds either way.
	time.Sleep(20 * time.Millisecond)
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Load: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("loader called %d times, want 1", n)
	}
	// And the value is now cached.
	if v, ok := c.Get(k); !ok || v != "value" {
		t.Errorf("Get after Load = %q, %v", v, ok)
	}
}

func TestLoadServesCached(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := newCache(t, cache.Config{Now: clock.Now})
	k := newKeyer(t).Key("k")
	c.Set(k, "cached", clock.Now().Add(time.Minute))
	v, err := c.Load(t.Context(), k, time.Second, func(context.Context) (string, time.Time, error) {
		t.Error("loader called for a cached key")
		return "", time.Time{}, nil
	})
	if err != nil || v != "cached" {
		t.Fatalf("Load = %q, %v", v, err)
	}
}

func TestLoadErrorNotCached(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := newCache(t, cache.Config{Now: clock.Now})
	k := newKeyer(t).Key("k")
	errDown := errors.New("idp down")

	var calls int
	load := func(context.Context) (string, time.Time, error) {
		calls++
		if calls == 1 {
			return "", clock.Now().Add(time.Hour), errDown
		}
		return "ok", clock.Now().Add(time.Hour), nil
	}
	if _, err := c.Load(t.Context(), k, time.Second, load); !errors.Is(err, errDown) {
		t.Fatalf("first Load error = %v, want %v", err, errDown)
	}
	if _, ok := c.Get(k); ok {
		t.Fatal("failed load left an entry")
	}
	v, err := c.Load(t.Context(), k, time.Second, load)
	if err != nil || v != "ok" {
		t.Fatalf("second Load = %q, %v; want a fresh call", v, err)
	}
	if calls != 2 {
		t.Errorf("loader called %d times, want 2", calls)
	}
}

func TestLoadExpiry(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := newCache(t, cache.Config{Now: clock.Now})
	k := newKeyer(t).Key("k")
	var calls int
	load := func(context.Context) (string, time.Time, error) {
		calls++
		return "v", clock.Now().Add(time.Minute), nil
	}
	for range 3 {
		if _, err := c.Load(t.Context(), k, time.Second, load); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("loader called %d times before expiry, want 1", calls)
	}
	clock.Step(time.Minute)
	if _, err := c.Load(t.Context(), k, time.Second, load); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("loader called %d times after expiry, want 2", calls)
	}
}

func TestLoadCallerCancellation(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := newCache(t, cache.Config{Now: clock.Now})
	k := newKeyer(t).Key("k")

	entered := make(chan struct{})
	release := make(chan struct{})
	var loadCtxErr atomic.Value
	load := func(ctx context.Context) (string, time.Time, error) {
		close(entered)
		<-release
		// The load's context must not have inherited the first caller's
		// cancellation.
		if err := ctx.Err(); err != nil {
			loadCtxErr.Store(err)
		}
		return "v", clock.Now().Add(time.Hour), nil
	}

	impatient, cancel := context.WithCancel(t.Context())
	impatientErr := make(chan error, 1)
	go func() {
		_, err := c.Load(impatient, k, 5*time.Second, load)
		impatientErr <- err
	}()
	<-entered // the impatient caller started the load

	patientRes := make(chan error, 1)
	go func() {
		v, err := c.Load(t.Context(), k, 5*time.Second, load)
		if err == nil && v != "v" {
			err = errors.New("wrong value " + v)
		}
		patientRes <- err
	}()

	cancel()
	if err := <-impatientErr; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller error = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-patientRes; err != nil {
		t.Errorf("patient caller failed because another gave up: %v", err)
	}
	if err, _ := loadCtxErr.Load().(error); err != nil {
		t.Errorf("load context was cancelled with the first caller: %v", err)
	}
	if v, ok := c.Get(k); !ok || v != "v" {
		t.Errorf("value not cached after the abandoned caller's load: %q, %v", v, ok)
	}
}

func TestLoadTimeout(t *testing.T) {
	// The load is bounded by its own timeout even when no caller has a
	// deadline, so a hung dependency cannot pin the flight forever.
	c := newCache(t, cache.Config{})
	k := newKeyer(t).Key("k")
	_, err := c.Load(context.Background(), k, 20*time.Millisecond, func(ctx context.Context) (string, time.Time, error) {
		<-ctx.Done()
		return "", time.Time{}, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load error = %v, want context.DeadlineExceeded", err)
	}
}
