package jwt_test

import (
	clocktesting "k8s.io/utils/clock/testing"

	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
)

func TestUnknownKid(t *testing.T) {
	iss := newIssuer(t)
	a := newAuthenticator(t, newProvider(t, jwt.Config{}), issuerPolicy(iss))
	_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "no-such-kid"})))
	wantOutcome(t, err, invalid)
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	iss := newIssuer(t)
	clock := clocktesting.NewFakeClock(time.Now())
	const interval = 10 * time.Second
	a := newAuthenticator(t, newProvider(t, jwt.Config{RefetchInterval: interval, Now: clock.Now}), issuerPolicy(iss))

	// Load the key set the ordinary way first.
	_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{})))
	wantOutcome(t, err, accepted)
	base := iss.JWKSFetches()

	// Signing is the slow part; do it before the flood so the flood is one.
	const flood = 100
	tokens := make([]string, flood)
	for i := range tokens {
		tokens[i] = mint(t, iss, devissuer.Token{Kid: fmt.Sprintf("random-%d-%d", i, time.Now().UnixNano())})
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			_, err := a.Authenticate(t.Context(), bearer(tok))
			if got := classify(err); got != invalid {
				t.Errorf("unknown kid: outcome %v (err: %v), want invalid", got, err)
			}
		})
	}
	wg.Wait()
	if extra := iss.JWKSFetches() - base; extra > 1 {
		t.Fatalf("%d unknown kids caused %d JWKS fetches within the refetch interval, want at most 1", flood, extra)
	}

	// Once the interval has passed an unknown kid may refetch again, once.
	clock.Step(interval + time.Second)
	before := iss.JWKSFetches()
	for range 10 {
		_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "still-unknown"})))
		wantOutcome(t, err, invalid)
	}
	if extra := iss.JWKSFetches() - before; extra != 1 {
		t.Errorf("after the refetch interval: %d JWKS fetches, want 1", extra)
	}

	// Known keys keep working throughout.
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Subject: "after-flood"})))
	wantOutcome(t, err, accepted)
}

func TestKeyRotation(t *testing.T) {
	tests := map[string]struct {
		alg string
	}{
		"RS256": {alg: "RS256"},
		"ES256": {alg: "ES256"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			iss := newIssuer(t)
			a := newAuthenticator(t, newProvider(t, jwt.Config{}), issuerPolicy(iss))

			oldToken := mint(t, iss, devissuer.Token{Alg: tc.alg, Subject: "old"})
			_, err := a.Authenticate(t.Context(), bearer(oldToken))
			wantOutcome(t, err, accepted)

			newKid, err := iss.AddKey(tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			newToken := mint(t, iss, devissuer.Token{Alg: tc.alg, Subject: "new"})
			if got := kidOf(t, iss, tc.alg); got != newKid {
				t.Fatalf("issuer signs with kid %q, want the new %q", got, newKid)
			}

			// The new kid is unknown to the cached set: the verifier must
			// refetch rather than reject, with no restart.
			before := iss.JWKSFetches()
			id, err := a.Authenticate(t.Context(), bearer(newToken))
			wantOutcome(t, err, accepted)
			if id.Subject != "new" {
				t.Errorf("Subject = %q, want new", id.Subject)
			}
			if n := iss.JWKSFetches() - before; n != 1 {
				t.Errorf("picking up the new key took %d JWKS fetches, want 1", n)
			}
			// The old key is still published: a provider that never saw
			// either token verifies both from one fetched set.
			fresh := newAuthenticator(t, newProvider(t, jwt.Config{}), issuerPolicy(iss))
			for _, tok := range []string{oldToken, newToken} {
				_, err := fresh.Authenticate(t.Context(), bearer(tok))
				wantOutcome(t, err, accepted)
			}
		})
	}
}

func TestKeyRotationInsideRefetchInterval(t *testing.T) {
	// A key rotated in just after an unknown-kid refetch is refused (401)
	// until the interval has passed, then picked up: the rate limit delays
	// rotation by at most one interval and never blocks it.
	iss := newIssuer(t)
	clock := clocktesting.NewFakeClock(time.Now())
	const interval = 10 * time.Second
	a := newAuthenticator(t, newProvider(t, jwt.Config{RefetchInterval: interval, Now: clock.Now}), issuerPolicy(iss))
	_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{})))
	wantOutcome(t, err, accepted)
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "bogus"})))
	wantOutcome(t, err, invalid)

	if _, err := iss.AddKey("RS256"); err != nil {
		t.Fatal(err)
	}
	token := mint(t, iss, devissuer.Token{Subject: "rotated"})
	_, err = a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, invalid)

	clock.Step(interval)
	_, err = a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
}

func TestOIDCDiscovery(t *testing.T) {
	iss := newIssuer(t)
	obs := &countingObserver{}
	a := newAuthenticator(t, newProvider(t, jwt.Config{Observer: obs}), &policy.JWT{
		Issuer: iss.URL, Audiences: []string{"dev"}, // no JWKSURI: discover it
	})
	for i := range 3 {
		_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Subject: fmt.Sprint("u", i)})))
		wantOutcome(t, err, accepted)
	}
	// A good discovery is remembered.
	if n := obs.discoveries.Load(); n != 1 {
		t.Errorf("discoveries = %d, want 1", n)
	}
}

// discoveryServer serves a discovery document naming issuer (its own URL
// when empty) and jwksURI.
func discoveryServer(t *testing.T, issuer, jwksURI string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		name := issuer
		if name == "" {
			name = srv.URL
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": name, "jwks_uri": jwksURI})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOIDCDiscoveryFailures(t *testing.T) {
	iss := newIssuer(t)
	tests := map[string]struct {
		issuer func(t *testing.T) string // the configured issuer
	}{
		"document names a different issuer": {
			// A hostile or misconfigured endpoint handing out the keys of
			// a real issuer must not be trusted for its own tokens.
			issuer: func(t *testing.T) string { return discoveryServer(t, iss.URL, iss.JWKSURI()).URL },
		},
		"configured issuer has a trailing slash the document lacks": {
			issuer: func(t *testing.T) string { return iss.URL + "/" },
		},
		"no jwks_uri": {
			issuer: func(t *testing.T) string { return discoveryServer(t, "", "").URL },
		},
		"jwks_uri not http(s)": {
			issuer: func(t *testing.T) string { return discoveryServer(t, "", "file:///etc/passwd").URL },
		},
		"no discovery document": {
			issuer: func(t *testing.T) string {
				srv := httptest.NewServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				return srv.URL
			},
		},
		"issuer unreachable": {
			issuer: func(t *testing.T) string {
				srv := httptest.NewServer(http.NotFoundHandler())
				srv.Close() // nothing listens there any more
				return srv.URL
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			issuer := tc.issuer(t)
			a := newAuthenticator(t, newProvider(t, jwt.Config{}), &policy.JWT{
				Issuer: issuer, Audiences: []string{"dev"},
			})
			// The token is otherwise right for the configured issuer, so
			// only the discovery failure can stop it.
			token := mint(t, iss, devissuer.Token{Issuer: issuer})
			_, err := a.Authenticate(t.Context(), bearer(token))
			wantOutcome(t, err, dependency)
		})
	}
}

func TestOIDCDiscoveryRecovers(t *testing.T) {
	iss := newIssuer(t)
	obs := &countingObserver{}
	a := newAuthenticator(t, newProvider(t, jwt.Config{Observer: obs}), &policy.JWT{
		Issuer: iss.URL, Audiences: []string{"dev"},
	})
	iss.SetFailing(true)
	token := mint(t, iss, devissuer.Token{})
	for range 5 {
		_, err := a.Authenticate(t.Context(), bearer(token))
		wantOutcome(t, err, dependency)
	}
	// A failed discovery is not retried on every request.
	if n := obs.discoveries.Load(); n != 1 {
		t.Errorf("discoveries while failing = %d, want 1", n)
	}

	iss.SetFailing(false)
	time.Sleep(testRefetch + 10*time.Millisecond)
	_, err := a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
}

func TestJWKSDownAtStart(t *testing.T) {
	iss := newIssuer(t)
	obs := &countingObserver{}
	a := newAuthenticator(t, newProvider(t, jwt.Config{Observer: obs}), issuerPolicy(iss))
	iss.SetFailing(true)

	token := mint(t, iss, devissuer.Token{})
	_, err := a.Authenticate(t.Context(), bearer(token))
	// Without keys we cannot tell a good token from a bad one: that is the
	// IdP's fault, a 503, never a 401 that would sign users out.
	wantOutcome(t, err, dependency)

	// Further requests inside the refetch interval do not hammer the IdP.
	fetched := iss.JWKSFetches()
	for range 20 {
		_, err := a.Authenticate(t.Context(), bearer(token))
		wantOutcome(t, err, dependency)
	}
	if n := iss.JWKSFetches() - fetched; n != 0 {
		t.Errorf("%d more JWKS fetches inside the refetch interval, want 0", n)
	}

	// The IdP recovers; once the interval has passed the next request
	// fetches the keys, with no restart.
	iss.SetFailing(false)
	time.Sleep(testRefetch + 10*time.Millisecond)
	id, err := a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
	if id.Subject != "dev-user" {
		t.Errorf("Subject = %q, want dev-user", id.Subject)
	}
	if obs.fetchErrs.Load() == 0 {
		t.Error("observer was not told about the failed fetches")
	}
}

func TestJWKSDownLater(t *testing.T) {
	iss := newIssuer(t)
	// An interval no loaded machine can overrun: the end of this test is
	// about what happens inside it.
	a := newAuthenticator(t, newProvider(t, jwt.Config{RefetchInterval: time.Minute}), issuerPolicy(iss))
	_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Subject: "before"})))
	wantOutcome(t, err, accepted)

	iss.SetFailing(true)
	// New tokens (not in the token cache) signed by known keys still verify
	// against the cached key set.
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Alg: alg, Subject: "during-" + alg})))
		wantOutcome(t, err, accepted)
	}

	// An unknown kid forces a refetch that fails: we cannot know whether the
	// token is good, so that is a dependency failure...
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "rotated-in"})))
	wantOutcome(t, err, dependency)
	// ...and the failed refetch must not have thrown away the last good set.
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Subject: "after-failed-refetch"})))
	wantOutcome(t, err, accepted)

	// Within the interval, further unknown kids are not fetched for, and
	// since the last refetch failed they are still a dependency failure (a
	// 401 would send browsers to sign in and be cached by ingress-nginx).
	before := iss.JWKSFetches()
	_, err = a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{Kid: "rotated-in-2"})))
	wantOutcome(t, err, dependency)
	if n := iss.JWKSFetches() - before; n != 0 {
		t.Errorf("rate-limited unknown kid fetched %d times", n)
	}
}

func TestWarm(t *testing.T) {
	iss := newIssuer(t)
	p := newProvider(t, jwt.Config{})
	a := newAuthenticator(t, p, &policy.JWT{Issuer: iss.URL, Audiences: []string{"dev"}})
	p.Warm(a)
	deadline := time.Now().Add(5 * time.Second)
	for iss.JWKSFetches() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Warm did not fetch the keys")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The first request then needs no fetch of its own.
	_, err := a.Authenticate(t.Context(), bearer(mint(t, iss, devissuer.Token{})))
	wantOutcome(t, err, accepted)
	if n := iss.JWKSFetches(); n != 1 {
		t.Errorf("JWKS fetches = %d, want the 1 Warm made", n)
	}
}
