package jwt_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
)

func TestAcceptsEachAlgorithm(t *testing.T) {
	iss := newIssuer(t)
	tests := map[string]struct {
		alg string
	}{
		"RS256": {alg: "RS256"},
		"ES256": {alg: "ES256"},
		"EdDSA": {alg: "EdDSA"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newAuthenticator(t, newProvider(t, jwt.Config{}), issuerPolicy(iss))
			token := mint(t, iss, devissuer.Token{
				Alg:     tc.alg,
				Subject: "alice-" + tc.alg,
				Claims: map[string]any{
					"email":  "alice@example.com",
					"groups": []string{"admins", "devs"},
				},
			})

			id, err := a.Authenticate(t.Context(), bearer(token))
			wantOutcome(t, err, accepted)

			if id.Subject != "alice-"+tc.alg {
				t.Errorf("Subject = %q, want %q", id.Subject, "alice-"+tc.alg)
			}
			// Claims are the payload as plain JSON, so conditions see JSON
			// types (float64, []any), not jwx's.
			want := payloadOf(t, token)
			if !reflect.DeepEqual(id.Claims.Map(), want) {
				t.Errorf("Claims = %#v, want %#v", id.Claims.Map(), want)
			}
			if got, _ := id.Claims.Get("groups"); !reflect.DeepEqual(got, []any{"admins", "devs"}) {
				t.Errorf("groups claim = %#v, want []any{admins devs}", got)
			}
			if got, _ := id.Claims.Get("iss"); got != iss.URL {
				t.Errorf("iss claim = %#v, want %q", got, iss.URL)
			}
			exp := time.Unix(int64(want["exp"].(float64)), 0)
			if !id.ExpiresAt.Equal(exp) {
				t.Errorf("ExpiresAt = %v, want %v", id.ExpiresAt, exp)
			}
		})
	}
}

// flipSignatureByte corrupts one byte of the decoded signature, so the
// change cannot hide in base64 padding bits.
func flipSignatureByte(t testing.TB, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	return parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig)
}

// keyConfusion hand-crafts the classic attack: an HS256 token whose HMAC
// secret is the RSA public key, in the form a naive verifier would pass to
// HMAC, and whose kid names the RSA key.
func keyConfusion(t testing.TB, iss *devissuer.Issuer, usePEM bool) string {
	t.Helper()
	jwk, err := iss.PublicKey("RS256")
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := jwk.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	secret, err := x509.MarshalPKIXPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if usePEM {
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: secret})
	}
	input := segment(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": jwk.KeyID()}) + "." +
		segment(t, map[string]any{
			"iss": iss.URL, "sub": "mallory", "aud": []string{"dev"},
			"exp": time.Now().Add(time.Hour).Unix(),
		})
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

// unsigned hand-crafts an alg "none" token (empty signature) with otherwise
// valid claims.
func unsigned(t testing.TB, iss *devissuer.Issuer, header map[string]any) string {
	t.Helper()
	return segment(t, header) + "." + segment(t, map[string]any{
		"iss": iss.URL, "sub": "mallory", "aud": []string{"dev"},
		"exp": time.Now().Add(time.Hour).Unix(),
	}) + "."
}

func TestDevIssuerTokens(t *testing.T) {
	iss := newIssuer(t)
	rsaKid, ecKid, edKid := kidOf(t, iss, "RS256"), kidOf(t, iss, "ES256"), kidOf(t, iss, "EdDSA")

	tests := map[string]struct {
		policy func(*policy.JWT) // edits the default policy
		token  func(t testing.TB) string
		want   outcome
	}{
		"expired beyond the clock skew": {
			policy: func(p *policy.JWT) { p.ClockSkew = 30 * time.Second },
			token:  func(t testing.TB) string { return mint(t, iss, devissuer.Token{TTL: -2 * time.Minute}) },
			want:   expired,
		},
		"expired within the clock skew": {
			policy: func(p *policy.JWT) { p.ClockSkew = 30 * time.Second },
			token:  func(t testing.TB) string { return mint(t, iss, devissuer.Token{TTL: -5 * time.Second}) },
			want:   accepted,
		},
		"expired within the default clock skew": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{TTL: -5 * time.Second}) },
			want:  accepted,
		},
		"expired with no clock skew left": {
			policy: func(p *policy.JWT) { p.ClockSkew = time.Second },
			token:  func(t testing.TB) string { return mint(t, iss, devissuer.Token{TTL: -10 * time.Second}) },
			want:   expired,
		},
		"not yet valid beyond the clock skew": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{NotYet: 5 * time.Minute}) },
			want:  invalid,
		},
		"not yet valid within the clock skew": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{NotYet: 5 * time.Second}) },
			want:  accepted,
		},
		"wrong issuer": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Issuer: "https://evil.example"}) },
			want:  invalid,
		},
		"issuer differing by a trailing slash": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Issuer: iss.URL + "/"}) },
			want:  invalid,
		},
		"wrong audience": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Audience: []string{"other"}}) },
			want:  invalid,
		},
		"empty audience": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Audience: []string{}}) },
			want:  invalid,
		},
		"one of the token's audiences matches": {
			token: func(t testing.TB) string {
				return mint(t, iss, devissuer.Token{Audience: []string{"other", "dev"}})
			},
			want: accepted,
		},
		"one of the policy's audiences matches": {
			policy: func(p *policy.JWT) { p.Audiences = []string{"api", "dev"} },
			token:  func(t testing.TB) string { return mint(t, iss, devissuer.Token{}) },
			want:   accepted,
		},
		"algorithm not in the allow-list": {
			policy: func(p *policy.JWT) { p.Algorithms = []string{"RS256"} },
			token:  func(t testing.TB) string { return mint(t, iss, devissuer.Token{Alg: "ES256"}) },
			want:   invalid,
		},
		"algorithm in a narrowed allow-list": {
			policy: func(p *policy.JWT) { p.Algorithms = []string{"EdDSA"} },
			token:  func(t testing.TB) string { return mint(t, iss, devissuer.Token{Alg: "EdDSA"}) },
			want:   accepted,
		},
		"bad signature": {
			token: func(t testing.TB) string { return flipSignatureByte(t, mint(t, iss, devissuer.Token{})) },
			want:  invalid,
		},
		"bad EdDSA signature": {
			token: func(t testing.TB) string {
				return flipSignatureByte(t, mint(t, iss, devissuer.Token{Alg: "EdDSA"}))
			},
			want: invalid,
		},
		"signature removed": {
			token: func(t testing.TB) string {
				tok := mint(t, iss, devissuer.Token{})
				return tok[:strings.LastIndexByte(tok, '.')+1]
			},
			want: invalid,
		},
		"claims swapped under a valid signature": {
			token: func(t testing.TB) string {
				victim := strings.Split(mint(t, iss, devissuer.Token{Subject: "victim"}), ".")
				forged := strings.Split(mint(t, iss, devissuer.Token{Subject: "admin"}), ".")
				return victim[0] + "." + forged[1] + "." + victim[2]
			},
			want: invalid,
		},
		"kid of an EC key, alg RS256": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Alg: "RS256", Kid: ecKid}) },
			want:  invalid,
		},
		"kid of an RSA key, alg ES256": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Alg: "ES256", Kid: rsaKid}) },
			want:  invalid,
		},
		"kid of an Ed25519 key, alg ES256": {
			token: func(t testing.TB) string { return mint(t, iss, devissuer.Token{Alg: "ES256", Kid: edKid}) },
			want:  invalid,
		},
		"kid of an RSA key, alg PS256": {
			// The key's own alg (RS256) pins it; PS256 must not be tried
			// with it even though the key type fits.
			policy: func(p *policy.JWT) { p.Algorithms = []string{"RS256", "PS256"} },
			token: func(t testing.TB) string {
				tok := mint(t, iss, devissuer.Token{})
				parts := strings.Split(tok, ".")
				return segment(t, map[string]any{"alg": "PS256", "kid": rsaKid}) + "." + parts[1] + "." + parts[2]
			},
			want: invalid,
		},
		"alg none": {
			token: func(t testing.TB) string { return unsigned(t, iss, map[string]any{"alg": "none"}) },
			want:  invalid,
		},
		"alg none with the RSA kid": {
			token: func(t testing.TB) string {
				return unsigned(t, iss, map[string]any{"alg": "none", "kid": rsaKid})
			},
			want: invalid,
		},
		"alg None": {
			token: func(t testing.TB) string { return unsigned(t, iss, map[string]any{"alg": "None"}) },
			want:  invalid,
		},
		"no alg": {
			token: func(t testing.TB) string { return unsigned(t, iss, map[string]any{"typ": "JWT"}) },
			want:  invalid,
		},
		"HS256 keyed with the RSA public key (PEM)": {
			token: func(t testing.TB) string { return keyConfusion(t, iss, true) },
			want:  invalid,
		},
		"HS256 keyed with the RSA public key (DER)": {
			token: func(t testing.TB) string { return keyConfusion(t, iss, false) },
			want:  invalid,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pol := issuerPolicy(iss)
			if tc.policy != nil {
				tc.policy(pol)
			}
			a := newAuthenticator(t, newProvider(t, jwt.Config{}), pol)
			id, err := a.Authenticate(t.Context(), bearer(tc.token(t)))
			wantOutcome(t, err, tc.want)
			if tc.want != accepted && id != nil {
				t.Errorf("rejected token still yielded identity %+v", id)
			}
		})
	}
}

func TestHandCraftedTokens(t *testing.T) {
	// Two keys, so tokens without a kid have more than one candidate.
	h := newHandIssuer(t, 2)
	header := func(i int) map[string]any { return map[string]any{"alg": "RS256", "kid": h.kid(i), "typ": "JWT"} }
	noKid := map[string]any{"alg": "RS256", "typ": "JWT"}
	with := func(edit func(map[string]any)) map[string]any {
		c := h.claims()
		edit(c)
		return c
	}

	tests := map[string]struct {
		key    int
		header map[string]any
		claims map[string]any
		want   outcome
	}{
		"baseline": {
			header: header(0), claims: h.claims(), want: accepted,
		},
		"signed by the second key": {
			key: 1, header: header(1), claims: h.claims(), want: accepted,
		},
		"kid names the other key": {
			key: 1, header: header(0), claims: h.claims(), want: invalid,
		},
		"missing exp": {
			header: header(0), claims: with(func(c map[string]any) { delete(c, "exp") }), want: invalid,
		},
		"exp not a number": {
			header: header(0), claims: with(func(c map[string]any) { c["exp"] = "tomorrow" }), want: invalid,
		},
		"missing iss": {
			header: header(0), claims: with(func(c map[string]any) { delete(c, "iss") }), want: invalid,
		},
		"missing aud": {
			header: header(0), claims: with(func(c map[string]any) { delete(c, "aud") }), want: invalid,
		},
		"aud as a matching string": {
			header: header(0), claims: with(func(c map[string]any) { c["aud"] = "api" }), want: accepted,
		},
		"aud as a matching array": {
			header: header(0), claims: with(func(c map[string]any) { c["aud"] = []string{"x", "api"} }), want: accepted,
		},
		"aud as a non-matching string": {
			header: header(0), claims: with(func(c map[string]any) { c["aud"] = "apix" }), want: invalid,
		},
		"aud as a non-matching array": {
			header: header(0), claims: with(func(c map[string]any) { c["aud"] = []string{"x", "y"} }), want: invalid,
		},
		"iat far in the future": {
			header: header(0), claims: with(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }),
			want: invalid,
		},
		"crit header": {
			header: map[string]any{"alg": "RS256", "kid": h.kid(0), "crit": []string{"exp"}},
			claims: h.claims(), want: invalid,
		},
		"crit header naming an extension": {
			header: map[string]any{"alg": "RS256", "kid": h.kid(0), "crit": []string{"x-ext"}, "x-ext": true},
			claims: h.claims(), want: invalid,
		},
		"no kid, first key": {
			header: noKid, claims: h.claims(), want: accepted,
		},
		"no kid, second key": {
			key: 1, header: noKid, claims: h.claims(), want: accepted,
		},
		"no kid, first key, expired": {
			// The key that verifies the signature decides the reason: a
			// later key that does not fit must not turn "expired" into a
			// plain signature failure.
			header: noKid, claims: with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
			want: expired,
		},
		"no kid, second key, expired": {
			key: 1, header: noKid, claims: with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
			want: expired,
		},
		"no kid, first key, wrong audience": {
			header: noKid, claims: with(func(c map[string]any) { c["aud"] = "other" }), want: invalid,
		},
		"no kid, alg with no fitting key": {
			header: map[string]any{"alg": "ES256"}, claims: h.claims(), want: invalid,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newAuthenticator(t, newProvider(t, jwt.Config{}), &policy.JWT{
				Issuer: h.url, JWKSURI: h.jwksURI(), Audiences: []string{"api"},
			})
			token := h.sign(t, tc.key, tc.header, tc.claims)
			id, err := a.Authenticate(t.Context(), bearer(token))
			wantOutcome(t, err, tc.want)
			if tc.want == accepted && id.Subject != "hand-user" {
				t.Errorf("Subject = %q, want hand-user", id.Subject)
			}
		})
	}
}

// TestRejectedBeforeKeyFetch covers tokens that must be refused from their
// shape or header alone: no key fetch, no parse, so garbage costs nothing and
// cannot be used to make authgate hammer the IdP.
func TestRejectedBeforeKeyFetch(t *testing.T) {
	iss := newIssuer(t)
	rsaKid := kidOf(t, iss, "RS256")
	valid := mint(t, iss, devissuer.Token{})
	validParts := strings.Split(valid, ".")

	tests := map[string]struct {
		token string
	}{
		"1 MB token": {
			token: strings.Repeat("A", 1<<20),
		},
		"1 MB token made of a valid one": {
			token: valid + strings.Repeat("A", 1<<20),
		},
		"just over the length limit": {
			token: validParts[0] + "." + strings.Repeat("A", jwt.MaxTokenLength) + "." + validParts[2],
		},
		"JWE-shaped, 5 parts": {
			token: segment(t, map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": rsaKid}) +
				".ZW5jcnlwdGVka2V5.aXY.Y2lwaGVydGV4dA.dGFn",
		},
		"2 parts": {
			token: validParts[0] + "." + validParts[1],
		},
		"4 parts": {
			token: valid + ".extra",
		},
		"no dots": {
			token: "notajwt",
		},
		"header not base64url": {
			token: "!!!." + validParts[1] + "." + validParts[2],
		},
		"header padded base64": {
			token: validParts[0] + "==." + validParts[1] + "." + validParts[2],
		},
		"header not JSON": {
			token: b64.EncodeToString([]byte("RS256")) + "." + validParts[1] + "." + validParts[2],
		},
		"header a JSON array": {
			token: b64.EncodeToString([]byte(`["RS256"]`)) + "." + validParts[1] + "." + validParts[2],
		},
		"alg none": {
			token: unsigned(t, iss, map[string]any{"alg": "none"}),
		},
		"HS256 key confusion": {
			token: keyConfusion(t, iss, true),
		},
		"algorithm outside the allow-list": {
			token: segment(t, map[string]any{"alg": "RS512", "kid": rsaKid}) + "." + validParts[1] + "." + validParts[2],
		},
		"crit header": {
			token: segment(t, map[string]any{"alg": "RS256", "kid": rsaKid, "crit": []string{"b64"}, "b64": false}) +
				"." + validParts[1] + "." + validParts[2],
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newAuthenticator(t, newProvider(t, jwt.Config{}), &policy.JWT{
				Issuer: iss.URL, JWKSURI: iss.JWKSURI(), Audiences: []string{"dev"},
				Algorithms: []string{"RS256", "ES256", "EdDSA"},
			})
			before := iss.JWKSFetches()
			start := time.Now()
			_, err := a.Authenticate(t.Context(), bearer(tc.token))
			elapsed := time.Since(start)
			wantOutcome(t, err, invalid)
			if n := iss.JWKSFetches() - before; n != 0 {
				t.Errorf("rejecting it fetched the JWKS %d times, want 0", n)
			}
			// Generous bound for -race on a loaded machine; the real cost is
			// microseconds.
			if elapsed > 250*time.Millisecond {
				t.Errorf("rejecting it took %v", elapsed)
			}
		})
	}
}

func TestNoToken(t *testing.T) {
	iss := newIssuer(t)
	a := newAuthenticator(t, newProvider(t, jwt.Config{}), issuerPolicy(iss))
	_, err := a.Authenticate(t.Context(), bearer(""))
	wantOutcome(t, err, invalid)
}

func TestNewRejectsConfig(t *testing.T) {
	p := newProvider(t, jwt.Config{})
	tests := map[string]struct {
		cfg *policy.JWT
	}{
		"no configuration": {cfg: nil},
		"HS256":            {cfg: &policy.JWT{Issuer: "https://idp.example", Audiences: []string{"a"}, Algorithms: []string{"HS256"}}},
		"none":             {cfg: &policy.JWT{Issuer: "https://idp.example", Audiences: []string{"a"}, Algorithms: []string{"none"}}},
		"HS256 among asymmetric": {
			cfg: &policy.JWT{Issuer: "https://idp.example", Audiences: []string{"a"}, Algorithms: []string{"RS256", "HS256"}},
		},
		"lower-case alg": {cfg: &policy.JWT{Issuer: "https://idp.example", Audiences: []string{"a"}, Algorithms: []string{"rs256"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if a, err := p.New("x", tc.cfg); err == nil {
				t.Fatalf("New accepted the configuration: %v", a)
			}
		})
	}
}

func TestName(t *testing.T) {
	p := newProvider(t, jwt.Config{})
	a, err := p.New("corp-sso", &policy.JWT{Issuer: "https://idp.example", Audiences: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "corp-sso" {
		t.Errorf("Name = %q, want corp-sso", a.Name())
	}
}
