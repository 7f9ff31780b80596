package jwt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// MaxTokenLength bounds the tokens authgate looks at. Longer ones are
// rejected before any decoding, so a huge token costs nothing.
const MaxTokenLength = 16 << 10

// maxKeysWithoutKid bounds the keys tried for a token that names no kid.
const maxKeysWithoutKid = 8

type verifier struct {
	name       string
	issuer     string
	jwksURI    string
	claims     claimsCheck
	allowed    map[string]bool
	from       []policy.Source
	cacheScope string
	p          *Provider
}

func (v *verifier) Name() string { return v.name }

func (v *verifier) Present(r *request.Request) bool {
	_, ok := authn.Extract(r, v.from)
	return ok
}

func (v *verifier) Authenticate(ctx context.Context, r *request.Request) (*authn.Identity, error) {
	token, ok := authn.Extract(r, v.from)
	if !ok {
		return nil, fmt.Errorf("%w: no token", authn.ErrInvalid)
	}
	if len(token) > MaxTokenLength {
		return nil, fmt.Errorf("%w: token longer than %d bytes", authn.ErrInvalid, MaxTokenLength)
	}
	key := v.p.keyer.Key(v.cacheScope, token)
	if id, ok := v.p.tokens.Get(key); ok {
		return id, nil
	}
	id, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if !id.ExpiresAt.IsZero() {
		v.p.tokens.Set(key, id, id.ExpiresAt)
	}
	return id, nil
}

// header is the part of a JWS protected header authgate reads before it
// picks a key. It is decoded with encoding/json/v2 semantics (the
// go-json-experiment module): member names match exactly, as jwx and every
// JOSE library read them (encoding/json would take "ALG" for "alg"), and a
// name given twice is an error.
type header struct {
	Alg  string         `json:"alg"`
	Kid  string         `json:"kid"`
	Crit jsontext.Value `json:"crit"`
}

func (v *verifier) verify(ctx context.Context, token string) (*authn.Identity, error) {
	// RFC 7515 section 7.1: three base64url segments. JWE (5 parts) and the
	// JSON serialisation are not access tokens we accept.
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot1 == dot2 || strings.IndexByte(token[dot1+1:dot2], '.') >= 0 {
		return nil, fmt.Errorf("%w: not a compact JWS", authn.ErrInvalid)
	}
	if strings.ContainsAny(token, "\r\n") {
		// Go's base64 decoder skips CR and LF even in strict mode: refuse
		// them so that one signed token has one spelling.
		return nil, fmt.Errorf("%w: not unpadded base64url", authn.ErrInvalid)
	}
	var h header
	if err := decodeSegment(token[:dot1], &h); err != nil {
		return nil, fmt.Errorf("%w: bad header: %w", authn.ErrInvalid, err)
	}
	if !v.allowed[h.Alg] {
		return nil, fmt.Errorf("%w: algorithm %q not allowed", authn.ErrInvalid, h.Alg)
	}
	if len(h.Crit) > 0 {
		// RFC 7515 section 4.1.11: we understand no extensions, so a token
		// that marks any as critical must be rejected.
		return nil, fmt.Errorf("%w: unsupported crit header", authn.ErrInvalid)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(token[dot2+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature encoding", authn.ErrInvalid)
	}

	u, err := v.keysURL(ctx)
	if err != nil {
		return nil, err
	}
	set, err := v.p.keys.keys(ctx, u)
	if err != nil {
		return nil, err
	}
	candidates, err := v.candidates(ctx, u, set, &h)
	if err != nil {
		return nil, err
	}

	// RFC 7515 section 5.2: the signature is over the encoded header and
	// payload as they appear in the token. The claims are read only once a
	// signature verifies.
	input := unsafe.Slice(unsafe.StringData(token), dot2) // read, never written
	lastErr := errSignature
	for _, k := range candidates {
		pk, err := v.p.raw.get(k)
		if err != nil {
			lastErr = err
			continue
		}
		if lastErr = verifySignature(h.Alg, pk, input, sig); lastErr == nil {
			return v.identity(token[dot1+1 : dot2])
		}
	}
	return nil, fmt.Errorf("%w: %w", authn.ErrInvalid, lastErr)
}

// candidates picks the keys that may have signed the token: the one named by
// kid (refetching the set, rate-limited, when the kid is unknown, so keys
// rotated in at the IdP are picked up without a restart), or without a kid
// every signing key whose type fits the algorithm.
func (v *verifier) candidates(ctx context.Context, u string, set jwk.Set, h *header) ([]jwk.Key, error) {
	if h.Kid != "" {
		k, ok := set.LookupKeyID(h.Kid)
		if !ok {
			fresh, err := v.p.keys.refetch(ctx, u)
			v.p.keys.unknownKid(err)
			switch {
			case errors.Is(err, errRateLimited):
				// A fresh set was fetched moments ago and lacks the kid.
				return nil, fmt.Errorf("%w: unknown kid", authn.ErrInvalid)
			case err != nil:
				// The token may be signed by a key we cannot fetch: that is a
				// dependency failure, not proof of a bad token.
				return nil, err
			}
			if k, ok = fresh.LookupKeyID(h.Kid); !ok {
				return nil, fmt.Errorf("%w: unknown kid", authn.ErrInvalid)
			}
		}
		if !usable(k, h.Alg) {
			return nil, fmt.Errorf("%w: key %q cannot verify %s", authn.ErrInvalid, h.Kid, h.Alg)
		}
		return []jwk.Key{k}, nil
	}
	var out []jwk.Key
	for i := 0; i < set.Len() && len(out) < maxKeysWithoutKid; i++ {
		k, _ := set.Key(i)
		if usable(k, h.Alg) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no key for %s", authn.ErrInvalid, h.Alg)
	}
	return out, nil
}

// usable reports whether a JWK may verify a signature with alg: its use is
// sig (or unset), its alg matches (or is unset) and its type fits alg.
func usable(k jwk.Key, alg string) bool {
	if k == nil {
		return false
	}
	if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return false
	}
	if ka := k.Algorithm().String(); ka != "" && ka != alg {
		return false
	}
	switch k.KeyType() {
	case jwa.RSA:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case jwa.EC:
		return strings.HasPrefix(alg, "ES")
	case jwa.OKP:
		return alg == "EdDSA"
	}
	return false
}

func (v *verifier) keysURL(ctx context.Context) (string, error) {
	if v.jwksURI != "" {
		return v.jwksURI, nil
	}
	return v.p.keys.jwksURI(ctx, v.issuer)
}

// identity decodes and checks the claims of a token whose signature
// verified. Claims are decoded as plain JSON, so conditions see what the IdP
// sent; a name given twice at any depth is refused, since parsers disagree
// on which copy wins.
func (v *verifier) identity(payload string) (*authn.Identity, error) {
	claims := map[string]any{}
	if err := decodeSegment(payload, &claims); err != nil {
		return nil, fmt.Errorf("%w: bad claims: %w", authn.ErrInvalid, err)
	}
	sub, exp, err := v.claims.check(claims, v.p.now())
	if errors.Is(err, errExpired) {
		return nil, authn.ErrExpired
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", authn.ErrInvalid, err)
	}
	return &authn.Identity{Subject: sub, Claims: authn.ClaimsOf(claims), ExpiresAt: exp}, nil
}

// decodeSegment decodes one strict base64url segment holding a JSON object.
// encoding/json/v2 semantics refuse duplicate names and invalid UTF-8.
func decodeSegment(seg string, into any) error {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return errors.New("bad base64url")
	}
	if err := jsonv2.Unmarshal(raw, into); err != nil {
		var se *jsonv2.SemanticError
		if errors.As(err, &se) {
			return errors.New("unexpected JSON type")
		}
		if errors.Is(err, jsontext.ErrDuplicateName) {
			return errors.New("duplicate JSON member name")
		}
		return errors.New("bad JSON")
	}
	return nil
}
