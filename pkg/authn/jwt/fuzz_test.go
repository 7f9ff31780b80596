package jwt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
)

// FuzzAuthenticate feeds hostile tokens to a verifier with a live key set.
// Authenticate must never panic, must refuse everything it cannot verify
// with ErrInvalid (garbage is the caller's fault, never a 503), and can only
// accept what the issuer signed.
func FuzzAuthenticate(f *testing.F) {
	iss := newIssuer(f)
	// A long refetch interval: unknown kids must not turn the fuzzer into a
	// JWKS load test.
	a := newAuthenticator(f, newProvider(f, jwt.Config{RefetchInterval: time.Hour}), issuerPolicy(iss))

	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		f.Add(mint(f, iss, devissuer.Token{Alg: alg, Subject: "fuzz-user"}))
	}
	valid := mint(f, iss, devissuer.Token{Subject: "fuzz-user"})
	parts := strings.Split(valid, ".")
	for _, s := range []string{
		"",
		".",
		"..",
		"....",
		"a.b.c",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "none"}) + "." + parts[1] + ".",
		segment(f, map[string]any{"alg": "HS256", "kid": kidOf(f, iss, "RS256")}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "RS256", "crit": []string{"x"}}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "RS256", "kid": 7}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "RS256"}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "ES256", "kid": kidOf(f, iss, "RS256")}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "RS256", "kid": "unknown"}) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + segment(f, []any{1, 2}) + "." + parts[2],
		parts[0] + "." + segment(f, map[string]any{"exp": "x", "aud": 5, "iss": nil}) + "." + parts[2],
		valid + "." + parts[2] + "." + parts[2],
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		id, err := a.Authenticate(t.Context(), bearer(token))
		switch classify(err) {
		case accepted:
			if id == nil || id.Subject != "fuzz-user" {
				t.Fatalf("accepted a token the issuer never signed: %+v", id)
			}
		case invalid, expired:
		default:
			t.Fatalf("hostile token caused a dependency failure: %v", err)
		}
	})
}
