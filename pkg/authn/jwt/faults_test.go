package jwt_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
)

// jwksFront stands between authgate and a dev issuer's JWKS endpoint and can
// answer like a broken one: hang until released, or send garbage.
type jwksFront struct {
	srv     *httptest.Server
	mode    atomic.Value // "", "hang", "garbage"
	release chan struct{}
	once    sync.Once
	hits    atomic.Int64
}

func newJWKSFront(t *testing.T, iss *devissuer.Issuer) *jwksFront {
	t.Helper()
	f := &jwksFront{release: make(chan struct{})}
	f.mode.Store("")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		switch f.mode.Load() {
		case "hang":
			select {
			case <-f.release:
			case <-r.Context().Done():
			}
			return
		case "garbage":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"keys": [{"kty": "RSA", "n": "!!", "e": 7}], ` /* truncated */)
			return
		}
		resp, err := http.Get(iss.JWKSURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(func() {
		f.unhang()
		f.srv.Close()
	})
	return f
}

func (f *jwksFront) unhang() { f.once.Do(func() { close(f.release) }) }

func (f *jwksFront) policy(iss *devissuer.Issuer) *policy.JWT {
	return &policy.JWT{Issuer: iss.URL, JWKSURI: f.srv.URL + "/jwks", Audiences: []string{"dev"}}
}

// TestJWKSSlow: an endpoint that never answers costs each request at most the
// fetch timeout, concurrent requests share one fetch instead of piling up
// goroutines and connections, and every answer is a dependency failure (503),
// never a 401.
func TestJWKSSlow(t *testing.T) {
	iss := newIssuer(t)
	front := newJWKSFront(t, iss)
	front.mode.Store("hang")
	a := newAuthenticator(t, newProvider(t, jwt.Config{FetchTimeout: 500 * time.Millisecond, RefetchInterval: time.Minute}), front.policy(iss))
	token := mint(t, iss, devissuer.Token{})

	before := runtime.NumGoroutine()
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Go(func() {
			_, err := a.Authenticate(t.Context(), bearer(token))
			errs <- err
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d requests answered in %v; the endpoint was asked %d times", callers, took, front.hits.Load())
	close(errs)
	for err := range errs {
		wantOutcome(t, err, dependency)
	}
	// Generous: a loaded machine may be slow, but 50 requests in series
	// would take 25 s; one fetch and one forced refetch take 1 s.
	if took > 5*time.Second {
		t.Errorf("%d concurrent requests took %v against a fetch timeout of 500ms", callers, took)
	}
	if n := front.hits.Load(); n > 3 {
		t.Errorf("the hanging endpoint was asked %d times by %d concurrent requests", n, callers)
	}
	// Once answered, the callers' goroutines are gone; jwx's own fetch may
	// still be waiting for the endpoint, a handful at most.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+10 {
		t.Errorf("%d goroutines after the requests, %d before: a pile-up", n, before)
	}
}

// TestJWKSGarbage: a key set that does not parse is a failed fetch: the last
// good set keeps verifying tokens, and a token that needs a new key is a
// dependency failure.
func TestJWKSGarbage(t *testing.T) {
	iss := newIssuer(t)
	front := newJWKSFront(t, iss)
	a := newAuthenticator(t, newProvider(t, jwt.Config{RefetchInterval: time.Minute}), front.policy(iss))
	_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Subject: "before"})))
	wantOutcome(t, err, accepted)

	front.mode.Store("garbage")
	// A kid the set lacks forces a refetch, which gets garbage.
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "rotated-in"})))
	wantOutcome(t, err, dependency)
	// The last good set was kept: known keys still verify new tokens.
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Alg: alg, Subject: "after-" + alg})))
		wantOutcome(t, err, accepted)
	}
}

// TestProviderStopEndsFetches: when the provider's context ends (authgate
// shuts down) a fetch in flight ends too, instead of holding its callers for
// the whole fetch timeout.
func TestProviderStopEndsFetches(t *testing.T) {
	iss := newIssuer(t)
	front := newJWKSFront(t, iss)
	ctx, cancel := context.WithCancel(t.Context())
	p, err := jwt.NewProvider(ctx, jwt.Config{FetchTimeout: time.Minute, RefetchInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator(t, p, front.policy(iss))
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{})))
	wantOutcome(t, err, accepted)

	front.mode.Store("hang")
	done := make(chan error, 1)
	go func() {
		// An unknown kid: a forced refetch that hangs.
		_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "rotated-in"})))
		done <- err
	}()
	for front.hits.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		wantOutcome(t, err, dependency)
	case <-time.After(20 * time.Second):
		t.Fatal("the fetch outlived the provider by 20 s (its timeout is a minute)")
	}
}
