package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Signatures are checked here with crypto/* directly, on public keys parsed
// once per JWK; jwx still fetches, caches and refreshes the key sets. A
// first-seen token used to go through jwt.Parse, which parses the token
// again, converts the JWK on every call and builds a jwx Token beside the
// claims authgate reads: about 2.3 times the cost of the signature check
// itself. The checks are the ones RFC 7515 and RFC 7518 require, each
// commented with its section.

// errSignature is a signature that does not verify with the key.
var errSignature = errors.New("signature does not verify")

// publicKey is a JWK's key in the form crypto/* takes.
type publicKey struct {
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
}

// maxRawKeys bounds rawKeys. Key sets are replaced when they are refreshed,
// so entries for keys no longer served are dropped by starting afresh when
// the map is full; a legitimate deployment has a few keys per issuer.
const maxRawKeys = 1024

// rawKeys caches the publicKey of each jwk.Key. jwx's cache hands out the
// same Key values until the set is refetched, so the map key is the JWK
// itself (its dynamic type is a pointer).
type rawKeys struct {
	mu sync.RWMutex
	m  map[jwk.Key]*publicKey
}

func (c *rawKeys) get(k jwk.Key) (*publicKey, error) {
	c.mu.RLock()
	pk, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return pk, nil
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, fmt.Errorf("unusable key: %w", err)
	}
	pk = &publicKey{}
	switch t := raw.(type) {
	case *rsa.PublicKey:
		pk.rsa = t
	case *ecdsa.PublicKey:
		pk.ec = t
	case ed25519.PublicKey:
		pk.ed = t
	// A JWKS that (wrongly) publishes private keys still verifies with
	// their public halves, as jwx did.
	case *rsa.PrivateKey:
		pk.rsa = &t.PublicKey
	case *ecdsa.PrivateKey:
		pk.ec = &t.PublicKey
	case ed25519.PrivateKey:
		pk.ed, _ = t.Public().(ed25519.PublicKey)
	default:
		return nil, fmt.Errorf("unusable key of type %T", raw)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxRawKeys {
		c.m = make(map[jwk.Key]*publicKey)
	}
	c.m[k] = pk
	c.mu.Unlock()
	return pk, nil
}

// verifySignature checks a JWS signature over input (the encoded header and
// payload joined by a dot) with alg, which the caller has already checked
// against the authenticator's allow-list.
func verifySignature(alg string, pk *publicKey, input, sig []byte) error {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		if pk.rsa == nil {
			return fmt.Errorf("%s needs an RSA key", alg)
		}
		h, digest := hashOf(alg[2:], input)
		var err error
		if alg[0] == 'R' {
			// RFC 7518 section 3.3: RSASSA-PKCS1-v1_5.
			err = rsa.VerifyPKCS1v15(pk.rsa, h, digest, sig)
		} else {
			// RFC 7518 section 3.5: RSASSA-PSS with MGF1 on the same hash
			// and a salt as long as the hash output.
			err = rsa.VerifyPSS(pk.rsa, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		}
		if err != nil {
			return errSignature
		}
		return nil
	case "ES256", "ES384", "ES512":
		// RFC 7518 section 3.4: the curve goes with the algorithm, and the
		// signature is R and S as fixed-size big-endian octets, concatenated.
		curve, size := curveOf(alg)
		if pk.ec == nil || pk.ec.Curve != curve {
			return fmt.Errorf("%s needs a %s key", alg, curve.Params().Name)
		}
		if len(sig) != 2*size {
			return errSignature
		}
		_, digest := hashOf(alg[2:], input)
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pk.ec, digest, r, s) {
			return errSignature
		}
		return nil
	case "EdDSA":
		// RFC 8037 section 3.1: Ed25519 (Go has no Ed448; no IdP we know
		// of issues it).
		if len(pk.ed) != ed25519.PublicKeySize {
			return errors.New("EdDSA needs an Ed25519 key")
		}
		if !ed25519.Verify(pk.ed, input, sig) {
			return errSignature
		}
		return nil
	}
	return fmt.Errorf("algorithm %q is not supported", alg)
}

// hashOf hashes input with SHA-256, -384 or -512 ("256", "384", "512"),
// into an array on the caller's stack where the compiler can keep it.
func hashOf(bits string, input []byte) (crypto.Hash, []byte) {
	switch bits {
	case "384":
		d := sha512.Sum384(input)
		return crypto.SHA384, d[:]
	case "512":
		d := sha512.Sum512(input)
		return crypto.SHA512, d[:]
	}
	d := sha256.Sum256(input)
	return crypto.SHA256, d[:]
}

func curveOf(alg string) (elliptic.Curve, int) {
	switch alg {
	case "ES384":
		return elliptic.P384(), 48
	case "ES512":
		return elliptic.P521(), 66
	}
	return elliptic.P256(), 32
}

// claimsCheck is what RFC 7519 section 4.1 asks of the registered claims
// authgate relies on, and what the policy configures.
type claimsCheck struct {
	issuer    string
	audiences []string
	skew      time.Duration
}

// check validates the claims of a verified token and returns the subject
// and the expiry. Registered claims of the wrong JSON type are refused: a
// token that reads one way to authgate and another way to an application
// behind it must not pass. A NumericDate (exp, nbf, iat) is a JSON number,
// possibly non-integer (RFC 7519 section 2), never a string. Times are
// compared at second precision with the configured skew, as jwx does.
func (c *claimsCheck) check(claims map[string]any, now time.Time) (sub string, exp time.Time, err error) {
	iss, ok := claims["iss"].(string)
	if !ok {
		return "", time.Time{}, errors.New(`"iss" is missing or not a string`)
	}
	if iss != c.issuer {
		return "", time.Time{}, errors.New(`"iss" is not the configured issuer`)
	}
	if v, present := claims["sub"]; present {
		if sub, ok = v.(string); !ok {
			return "", time.Time{}, errors.New(`"sub" is not a string`)
		}
	}
	if err := c.checkAudience(claims["aud"]); err != nil {
		return "", time.Time{}, err
	}

	now = now.Truncate(time.Second)
	exp, present, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return "", time.Time{}, err
	case !present:
		return "", time.Time{}, errors.New(`"exp" is required`)
	case !now.Before(exp.Truncate(time.Second).Add(c.skew)):
		return "", time.Time{}, errExpired
	}
	if nbf, present, err := numericDate(claims, "nbf"); err != nil {
		return "", time.Time{}, err
	} else if present && now.Add(c.skew).Before(nbf.Truncate(time.Second)) {
		return "", time.Time{}, errors.New(`"nbf" is in the future`)
	}
	if iat, present, err := numericDate(claims, "iat"); err != nil {
		return "", time.Time{}, err
	} else if present && now.Add(c.skew).Before(iat.Truncate(time.Second)) {
		return "", time.Time{}, errors.New(`"iat" is in the future`)
	}
	return sub, exp, nil
}

// errExpired is mapped to authn.ErrExpired by the caller.
var errExpired = errors.New("token has expired")

// checkAudience holds when aud, a string or an array of strings, names one
// of the configured audiences (RFC 7519 section 4.1.3).
func (c *claimsCheck) checkAudience(aud any) error {
	match := func(s string) bool {
		for _, want := range c.audiences {
			if s == want {
				return true
			}
		}
		return false
	}
	switch t := aud.(type) {
	case string:
		if match(t) {
			return nil
		}
	case []any:
		found := false
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return errors.New(`"aud" holds a value that is not a string`)
			}
			found = found || match(s)
		}
		if found {
			return nil
		}
	case nil:
		return errors.New(`"aud" is missing`)
	default:
		return errors.New(`"aud" is not a string or an array of strings`)
	}
	return errors.New(`"aud" names none of the configured audiences`)
}

// numericDate reads a NumericDate claim: seconds since the epoch as a JSON
// number. Fractions are kept to the nanosecond.
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return time.Time{}, true, fmt.Errorf("%q is not a number of seconds", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}
