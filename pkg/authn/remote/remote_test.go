package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/cache"
)

type calls struct {
	n      atomic.Int64
	answer func() (Answer, error)
}

func (c *calls) call(context.Context) (Answer, error) {
	c.n.Add(1)
	return c.answer()
}

func valid(sub string, exp time.Time) func() (Answer, error) {
	return func() (Answer, error) {
		return Answer{Identity: &authn.Identity{Subject: sub, ExpiresAt: exp}}, nil
	}
}

func newChecker(t *testing.T, clock *clocktesting.FakeClock) (*Checker, *cache.Keyer) {
	t.Helper()
	c, err := NewChecker(100, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cache.NewKeyer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

var pol = Policy{Timeout: time.Second, TTL: 30 * time.Second, NegativeTTL: 2 * time.Second}

func TestCheckCachesByOutcome(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		answer    func() (Answer, error)
		policy    Policy
		step      time.Duration
		wantCalls int64 // after a second Check, `step` later
		wantErr   error
	}{
		"valid answer reused within TTL":        {answer: valid("a", time.Time{}), policy: pol, step: 29 * time.Second, wantCalls: 1},
		"valid answer refetched after TTL":      {answer: valid("a", time.Time{}), policy: pol, step: 30 * time.Second, wantCalls: 2},
		"TTL capped by the credential's expiry": {answer: valid("a", start.Add(10*time.Second)), policy: pol, step: 10 * time.Second, wantCalls: 2, wantErr: authn.ErrExpired},
		"TTL 0 disables caching":                {answer: valid("a", time.Time{}), policy: Policy{Timeout: time.Second}, step: 0, wantCalls: 2},
		"invalid answer reused within negative TTL": {
			answer: func() (Answer, error) { return Answer{Invalid: true, Why: "revoked"}, nil }, policy: pol, step: time.Second, wantCalls: 1, wantErr: authn.ErrInvalid,
		},
		"invalid answer refetched after negative TTL": {
			answer: func() (Answer, error) { return Answer{Invalid: true, Why: "revoked"}, nil }, policy: pol, step: 2 * time.Second, wantCalls: 2, wantErr: authn.ErrInvalid,
		},
		"errors are never cached": {
			answer: func() (Answer, error) { return Answer{}, &StatusError{URL: "u", Status: 500} }, policy: pol, step: 0, wantCalls: 2, wantErr: ErrUpstream,
		},
		"a valid answer without identity is a failure": {
			answer: func() (Answer, error) { return Answer{}, nil }, policy: pol, step: 0, wantCalls: 2, wantErr: ErrUpstream,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(start)
			c, k := newChecker(t, clock)
			cl := &calls{answer: tc.answer}
			key := k.Key("scope", "credential")
			_, _ = c.Check(context.Background(), key, tc.policy, cl.call)
			clock.Step(tc.step)
			id, err := c.Check(context.Background(), key, tc.policy, cl.call)
			if got := cl.n.Load(); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if errors.Is(tc.wantErr, ErrUpstream) && errors.Is(err, authn.ErrInvalid) {
					t.Fatal("an upstream failure must never look like an invalid credential")
				}
				return
			}
			if err != nil || id == nil || id.Subject != "a" {
				t.Fatalf("Check = %v, %v", id, err)
			}
		})
	}
}

// TestConcurrentMissesCallOnce: 200 concurrent first requests with one
// credential make exactly one upstream call.
func TestConcurrentMissesCallOnce(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Now())
	c, k := newChecker(t, clock)
	release := make(chan struct{})
	var n atomic.Int64
	call := func(context.Context) (Answer, error) {
		n.Add(1)
		<-release
		return Answer{Identity: &authn.Identity{Subject: "a"}}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Check(context.Background(), k.Key("s", "cookie"), pol, call)
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the callers queue up
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("upstream calls = %d, want 1", got)
	}
}

// TestOneCallerGivingUpDoesNotFailOthers: the call runs under its own
// timeout, detached from the first caller's context.
func TestOneCallerGivingUpDoesNotFailOthers(t *testing.T) {
	c, k := newChecker(t, clocktesting.NewFakeClock(time.Now()))
	release := make(chan struct{})
	call := func(ctx context.Context) (Answer, error) {
		select {
		case <-release:
			return Answer{Identity: &authn.Identity{Subject: "a"}}, nil
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		}
	}
	impatient, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Check(impatient, k.Key("s", "c"), pol, call)
		first <- err
	}()
	time.Sleep(20 * time.Millisecond)
	second := make(chan error, 1)
	go func() {
		_, err := c.Check(context.Background(), k.Key("s", "c"), pol, call)
		second <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the impatient caller got %v", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("the patient caller failed: %v", err)
	}
}

func TestTimeoutIsAnUpstreamError(t *testing.T) {
	c, k := newChecker(t, clocktesting.NewFakeClock(time.Now()))
	call := func(ctx context.Context) (Answer, error) {
		<-ctx.Done()
		return Answer{}, ctx.Err()
	}
	_, err := c.Check(context.Background(), k.Key("s", "c"), Policy{Timeout: 20 * time.Millisecond, TTL: time.Minute}, call)
	if !errors.Is(err, ErrUpstream) || errors.Is(err, authn.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if Classify(err) != "timeout" {
		t.Fatalf("class = %q", Classify(err))
	}
}

func TestStaleIfError(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	failing := func(context.Context) (Answer, error) { return Answer{}, &StatusError{URL: "u", Status: 503} }
	tests := map[string]struct {
		stale   time.Duration
		exp     time.Time
		step    time.Duration
		wantOK  bool
		invalid bool
	}{
		"off by default":                   {stale: 0, step: 31 * time.Second},
		"served within the window":         {stale: time.Minute, step: 89 * time.Second, wantOK: true},
		"not past the window":              {stale: time.Minute, step: 91 * time.Second},
		"never past the credential's exp":  {stale: time.Minute, exp: start.Add(40 * time.Second), step: 41 * time.Second},
		"an invalid answer is never stale": {stale: time.Minute, step: 3 * time.Second, invalid: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(start)
			c, k := newChecker(t, clock)
			p := pol
			p.StaleIfError = tc.stale
			key := k.Key("s", "c")
			first := valid("a", tc.exp)
			if tc.invalid {
				first = func() (Answer, error) { return Answer{Invalid: true}, nil }
			}
			_, _ = c.Check(context.Background(), key, p, (&calls{answer: first}).call)
			clock.Step(tc.step)
			id, err := c.Check(context.Background(), key, p, failing)
			if tc.wantOK {
				if err != nil || id.Subject != "a" {
					t.Fatalf("want the stale answer, got %v, %v", id, err)
				}
				return
			}
			if !errors.Is(err, ErrUpstream) {
				t.Fatalf("want an upstream error, got %v, %v", id, err)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	_, refused := net.Dial("tcp", "127.0.0.1:1")
	tests := map[string]struct {
		err  error
		want string
	}{
		"nil":       {nil, ""},
		"deadline":  {fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		"status":    {fmt.Errorf("x: %w", &StatusError{URL: "u", Status: 500}), "status"},
		"malformed": {&MalformedError{URL: "u", Why: "w"}, "malformed"},
		"refused":   {refused, "refused"},
		"other":     {errors.New("boom"), "other"},
		"client timeout": {func() error {
			res, err := (&http.Client{Timeout: time.Nanosecond}).Get("http://127.0.0.1:1/")
			if err == nil {
				_ = res.Body.Close()
			}
			return err
		}(), "timeout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	if got := Expiry(map[string]any{"exp": 1795770000.0}); !got.Equal(time.Unix(1795770000, 0)) {
		t.Fatalf("exp: %v", got)
	}
	if got := Expiry(map[string]any{"expires_at": "2026-11-27T12:00:00Z"}); !got.Equal(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("expires_at: %v", got)
	}
	if got := Expiry(map[string]any{"exp": "soon", "expires_at": "tomorrow"}); !got.IsZero() {
		t.Fatalf("garbage: %v", got)
	}
}
