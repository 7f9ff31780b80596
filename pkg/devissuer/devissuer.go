// Package devissuer is a minimal OpenID Connect issuer for development and
// tests: ephemeral RSA, EC and Ed25519 signing keys, their JWKS, the discovery
// document, and a Mint function. It is only ever started by `authgate dev` and
// by tests; `authgate serve` never trusts it.
package devissuer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Config configures an Issuer.
type Config struct {
	// Addr to listen on; default "127.0.0.1:0" (a free loopback port).
	Addr string
	// Algorithms to create a key for; default RS256, ES256, EdDSA. The first
	// is the default for Mint.
	Algorithms []string
}

// Issuer serves discovery and JWKS and mints tokens.
type Issuer struct {
	// URL is the issuer identifier, e.g. "http://127.0.0.1:40123".
	URL string

	ln  net.Listener
	srv *http.Server

	mu      sync.RWMutex
	keys    []jwk.Key // private keys, in creation order
	byAlg   map[string]jwk.Key
	fail    bool
	fetches int
	serial  int
}

// New creates the keys and starts serving on Addr.
func New(cfg Config) (*Issuer, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{"RS256", "ES256", "EdDSA"}
	}
	iss := &Issuer{byAlg: map[string]jwk.Key{}}
	for _, alg := range cfg.Algorithms {
		if _, err := iss.AddKey(alg); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", cfg.Addr, err)
	}
	iss.ln = ln
	iss.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.serveDiscovery)
	mux.HandleFunc("GET /jwks", iss.serveJWKS)
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = iss.srv.Serve(ln) }()
	return iss, nil
}

// JWKSURI is where the public keys are served.
func (i *Issuer) JWKSURI() string { return i.URL + "/jwks" }

// Close stops serving.
func (i *Issuer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := i.srv.Shutdown(ctx); err != nil {
		// Shutdown waits for connections that are still active, or new and
		// not yet idle (a client that connected but has not sent its
		// request), and leaves them open when it gives up: close them, or
		// they would outlive the issuer with their clients' goroutines.
		return i.srv.Close()
	}
	return nil
}

// AddKey creates a new signing key for alg and publishes it; later Mints for
// alg use it. This is key rotation as an IdP does it. It returns the kid.
func (i *Issuer) AddKey(alg string) (string, error) {
	raw, err := generate(alg)
	if err != nil {
		return "", err
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return "", fmt.Errorf("failed to wrap %s key: %w", alg, err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.serial++
	kid := fmt.Sprintf("%s-%d", alg, i.serial)
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		return "", err
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)); err != nil {
		return "", err
	}
	if err := k.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return "", err
	}
	i.keys = append(i.keys, k)
	i.byAlg[alg] = k
	return kid, nil
}

func generate(alg string) (any, error) {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("devissuer: unsupported algorithm %q", alg)
}

// SetFailing makes discovery and JWKS answer 500 while true, to test faults.
func (i *Issuer) SetFailing(fail bool) {
	i.mu.Lock()
	i.fail = fail
	i.mu.Unlock()
}

// JWKSFetches counts the JWKS requests served, to test refetch limits.
func (i *Issuer) JWKSFetches() int {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.fetches
}

// PublicKey returns the public JWK currently used for alg.
func (i *Issuer) PublicKey(alg string) (jwk.Key, error) {
	i.mu.RLock()
	k, ok := i.byAlg[alg]
	i.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("devissuer: no key for %s", alg)
	}
	return k.PublicKey()
}

// Token describes a token to mint. Zero fields take defaults.
type Token struct {
	Alg      string         // default: the first configured algorithm
	Subject  string         // default "dev-user"
	Audience []string       // default ["dev"]
	Issuer   string         // default the issuer's URL
	TTL      time.Duration  // default 1h; negative mints an expired token
	NotYet   time.Duration  // sets nbf that far in the future
	Kid      string         // overrides the kid header (e.g. an unknown one)
	Claims   map[string]any // extra claims
}

// Mint signs a token.
func (i *Issuer) Mint(t Token) (string, error) {
	i.mu.RLock()
	alg := t.Alg
	if alg == "" && len(i.keys) > 0 {
		alg = i.keys[0].Algorithm().String()
	}
	key, ok := i.byAlg[alg]
	i.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("devissuer: no key for %s", alg)
	}
	now := time.Now()
	tok := jwt.New()
	var setErr error
	set := func(k string, v any) {
		if err := tok.Set(k, v); err != nil && setErr == nil {
			setErr = fmt.Errorf("devissuer: setting claim %s: %w", k, err)
		}
	}
	set(jwt.IssuerKey, or(t.Issuer, i.URL))
	set(jwt.SubjectKey, or(t.Subject, "dev-user"))
	aud := t.Audience
	if aud == nil {
		aud = []string{"dev"}
	}
	set(jwt.AudienceKey, aud)
	set(jwt.IssuedAtKey, now)
	ttl := t.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	set(jwt.ExpirationKey, now.Add(ttl))
	if t.NotYet > 0 {
		set(jwt.NotBeforeKey, now.Add(t.NotYet))
	}
	for k, v := range t.Claims {
		set(k, v)
	}
	if setErr != nil {
		return "", setErr
	}
	hdr := jws.NewHeaders()
	if t.Kid != "" {
		if err := hdr.Set(jws.KeyIDKey, t.Kid); err != nil {
			return "", err
		}
	}
	signKey := key
	if t.Kid != "" {
		// The header's kid wins over the key's own: clone so we can drop it.
		c, err := key.Clone()
		if err != nil {
			return "", err
		}
		_ = c.Remove(jwk.KeyIDKey)
		signKey = c
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.SignatureAlgorithm(alg), signKey, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("devissuer: failed to sign: %w", err)
	}
	return string(b), nil
}

// SignRaw signs exactly the given protected header and payload JSON with
// the issuer's current key for alg, whatever they say: for tests that need
// tokens Mint will not make (duplicate member names, a kid naming another
// key, claims of the wrong JSON type). It returns the compact serialisation.
func (i *Issuer) SignRaw(alg string, header, payload []byte) (string, error) {
	i.mu.RLock()
	key, ok := i.byAlg[alg]
	i.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("devissuer: no key for %s", alg)
	}
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return "", fmt.Errorf("devissuer: %w", err)
	}
	var raw any
	if err := key.Raw(&raw); err != nil {
		return "", fmt.Errorf("devissuer: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := signer.Sign([]byte(input), raw)
	if err != nil {
		return "", fmt.Errorf("devissuer: failed to sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	if i.failing() {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.JWKSURI(),
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	i.fetches++
	keys := append([]jwk.Key(nil), i.keys...)
	i.mu.Unlock()
	if i.failing() {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := set.AddKey(pub); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	writeJSON(w, set)
}

func (i *Issuer) failing() bool {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.fail
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
