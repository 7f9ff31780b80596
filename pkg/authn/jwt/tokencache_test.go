package jwt_test

import (
	clocktesting "k8s.io/utils/clock/testing"

	"reflect"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
)

func TestTokenCacheServesWithoutNetwork(t *testing.T) {
	iss := newIssuer(t)
	obs := &countingObserver{}
	a := newAuthenticator(t, newProvider(t, jwt.Config{Observer: obs}), issuerPolicy(iss))
	token := mint(t, iss, devissuer.Token{Subject: "cached"})

	first, err := a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
	if obs.misses.Load() != 1 || obs.hits.Load() != 0 {
		t.Fatalf("after first use: hits, misses = %d, %d; want 0, 1", obs.hits.Load(), obs.misses.Load())
	}

	// Take the IdP away entirely: the second use must not need it.
	if err := iss.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
	if obs.hits.Load() != 1 {
		t.Errorf("second use of the token was not a cache hit (hits %d)", obs.hits.Load())
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("cached identity %+v differs from the verified one %+v", second, first)
	}
}

func TestTokenCacheHonoursExpiry(t *testing.T) {
	iss := newIssuer(t)
	clock := clocktesting.NewFakeClock(time.Now())
	obs := &countingObserver{}
	pol := issuerPolicy(iss)
	pol.ClockSkew = 30 * time.Second
	a := newAuthenticator(t, newProvider(t, jwt.Config{Observer: obs, Now: clock.Now}), pol)
	token := mint(t, iss, devissuer.Token{TTL: time.Hour})
	exp := time.Unix(int64(payloadOf(t, token)["exp"].(float64)), 0)

	_, err := a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)

	// Shortly before exp it is served from the cache.
	clock.Step(exp.Sub(clock.Now()) - time.Second)
	_, err = a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
	if obs.hits.Load() != 1 {
		t.Fatalf("hits before exp = %d, want 1", obs.hits.Load())
	}

	// Past exp the cache must not answer, whatever the skew: the token is
	// verified again, and past the skew that says expired.
	clock.Step(2 * time.Minute)
	_, err = a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, expired)
	if obs.hits.Load() != 1 {
		t.Errorf("expired token was served from the cache (hits %d)", obs.hits.Load())
	}
}

func TestTokenCacheNotSharedAcrossChecks(t *testing.T) {
	// One provider, one token cache: a verdict for one authenticator must
	// not be replayed for another whose checks differ.
	iss := newIssuer(t)
	p := newProvider(t, jwt.Config{})
	token := mint(t, iss, devissuer.Token{Alg: "ES256"})

	lenient := newAuthenticator(t, p, issuerPolicy(iss))
	_, err := lenient.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)

	tests := map[string]struct {
		edit func(*policy.JWT)
	}{
		"other audience":        {edit: func(c *policy.JWT) { c.Audiences = []string{"other"} }},
		"other issuer":          {edit: func(c *policy.JWT) { c.Issuer = "https://other.example" }},
		"algorithms without it": {edit: func(c *policy.JWT) { c.Algorithms = []string{"RS256", "EdDSA"} }},
		"other JWKS URI":        {edit: func(c *policy.JWT) { c.JWKSURI = iss.URL + "/nothing-here" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := issuerPolicy(iss)
			tc.edit(cfg)
			strict := newAuthenticator(t, p, cfg)
			_, err := strict.Authenticate(t.Context(), bearer(token))
			if classify(err) == accepted {
				t.Fatal("token accepted from another authenticator's cached verdict")
			}
		})
	}
}

func TestTokenCacheSharedForSameChecks(t *testing.T) {
	// Rebuilding an authenticator on a policy reload keeps its verdicts.
	iss := newIssuer(t)
	obs := &countingObserver{}
	p := newProvider(t, jwt.Config{Observer: obs})
	token := mint(t, iss, devissuer.Token{})
	_, err := newAuthenticator(t, p, issuerPolicy(iss)).Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
	_, err = newAuthenticator(t, p, issuerPolicy(iss)).Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
	if obs.hits.Load() != 1 {
		t.Errorf("hits = %d, want 1", obs.hits.Load())
	}
}

func TestTokenCacheKeepsNoFailures(t *testing.T) {
	// A token refused while the IdP was down must be verified again once
	// it is back, not refused from a cached failure.
	iss := newIssuer(t)
	a := newAuthenticator(t, newProvider(t, jwt.Config{}), issuerPolicy(iss))
	token := mint(t, iss, devissuer.Token{})
	iss.SetFailing(true)
	_, err := a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, dependency)
	iss.SetFailing(false)
	time.Sleep(testRefetch + 10*time.Millisecond)
	_, err = a.Authenticate(t.Context(), bearer(token))
	wantOutcome(t, err, accepted)
}
