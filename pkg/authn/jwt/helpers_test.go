package jwt_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// testRefetch is the refetch interval for tests that use the real clock:
// long enough that one test step stays inside it, short enough to sleep past.
const testRefetch = 50 * time.Millisecond

// countingObserver is an Observer fake counting every event.
type countingObserver struct {
	hits, misses, evicts       atomic.Int64
	fetches, fetchErrs         atomic.Int64
	discoveries, discoveryErrs atomic.Int64
}

func (o *countingObserver) JWKSFetch(err error) {
	o.fetches.Add(1)
	if err != nil {
		o.fetchErrs.Add(1)
	}
}

func (o *countingObserver) Discovery(err error) {
	o.discoveries.Add(1)
	if err != nil {
		o.discoveryErrs.Add(1)
	}
}

func (o *countingObserver) Hit()   { o.hits.Add(1) }
func (o *countingObserver) Miss()  { o.misses.Add(1) }
func (o *countingObserver) Evict() { o.evicts.Add(1) }

// newIssuer starts a dev issuer with RS256, ES256 and EdDSA keys on a free
// loopback port.
func newIssuer(t testing.TB) *devissuer.Issuer {
	t.Helper()
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatalf("devissuer.New: %v", err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	return iss
}

// newProvider builds a Provider that lives as long as the test, with a small
// refetch interval unless cfg sets one.
func newProvider(t testing.TB, cfg jwt.Config) *jwt.Provider {
	t.Helper()
	if cfg.RefetchInterval == 0 {
		cfg.RefetchInterval = testRefetch
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = 2 * time.Second
	}
	p, err := jwt.NewProvider(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return p
}

func newAuthenticator(t testing.TB, p *jwt.Provider, cfg *policy.JWT) authn.Authenticator {
	t.Helper()
	a, err := p.New("test", cfg)
	if err != nil {
		t.Fatalf("Provider.New: %v", err)
	}
	return a
}

// issuerPolicy trusts iss through its JWKS URL, audience "dev" (devissuer's
// default).
func issuerPolicy(iss *devissuer.Issuer) *policy.JWT {
	return &policy.JWT{Issuer: iss.URL, JWKSURI: iss.JWKSURI(), Audiences: []string{"dev"}}
}

func mint(t testing.TB, iss *devissuer.Issuer, tok devissuer.Token) string {
	t.Helper()
	s, err := iss.Mint(tok)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return s
}

func bearer(token string) *request.Request {
	return &request.Request{Headers: map[string]string{"authorization": "Bearer " + token}}
}

func kidOf(t testing.TB, iss *devissuer.Issuer, alg string) string {
	t.Helper()
	k, err := iss.PublicKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyID()
}

// outcome names the class of an Authenticate error, as the server maps it.
type outcome int

const (
	accepted   outcome = iota
	expired            // ErrExpired: 401 with reason "expired"
	invalid            // ErrInvalid but not ErrExpired: 401
	dependency         // anything else: 503
)

func (o outcome) String() string {
	return [...]string{"accepted", "expired", "invalid", "dependency failure"}[o]
}

func classify(err error) outcome {
	switch {
	case err == nil:
		return accepted
	case errors.Is(err, authn.ErrExpired):
		return expired
	case errors.Is(err, authn.ErrInvalid):
		return invalid
	}
	return dependency
}

func wantOutcome(t testing.TB, err error, want outcome) {
	t.Helper()
	if got := classify(err); got != want {
		t.Fatalf("outcome = %v (err: %v), want %v", got, err, want)
	}
}

var b64 = base64.RawURLEncoding

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(b)
}

// payloadOf decodes a compact token's claims without verifying them.
func payloadOf(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// handIssuer signs tokens byte by byte with its own RSA keys and serves their
// JWKS, for tokens devissuer will not mint: no exp, a crit header, aud as a
// plain string, no kid.
type handIssuer struct {
	url  string // issuer identifier
	keys []*rsa.PrivateKey
	srv  *httptest.Server
}

func newHandIssuer(t testing.TB, nkeys int) *handIssuer {
	t.Helper()
	h := &handIssuer{}
	for range nkeys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		h.keys = append(h.keys, k)
	}
	type jwkJSON struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	var set struct {
		Keys []jwkJSON `json:"keys"`
	}
	for i, k := range h.keys {
		set.Keys = append(set.Keys, jwkJSON{
			Kty: "RSA", Kid: h.kid(i), Use: "sig", Alg: "RS256",
			N: b64.EncodeToString(k.N.Bytes()),
			E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(h.srv.Close)
	h.url = h.srv.URL
	return h
}

func (h *handIssuer) kid(i int) string { return fmt.Sprintf("hand-%d", i) }

func (h *handIssuer) jwksURI() string { return h.srv.URL + "/jwks" }

// claims returns a valid claim set for audience "api", to be edited.
func (h *handIssuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": h.url,
		"sub": "hand-user",
		"aud": []string{"api"},
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// sign makes an RS256 JWS with key i over exactly the given header and
// claims.
func (h *handIssuer) sign(t testing.TB, i int, header, claims map[string]any) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, h.keys[i], crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}
