// Package authn defines how authgate learns who a caller is: the
// Authenticator interface every credential kind implements (jwt, session,
// introspection), the Identity it yields, and the errors that tell an
// invalid credential (401) from a failed dependency (503).
package authn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authgate/authgate/pkg/memo"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

// ErrInvalid means the credential is not acceptable: bad signature, wrong
// issuer or audience, malformed. It maps to 401. Any error that is not
// ErrInvalid is a dependency failure and maps to 503.
var ErrInvalid = errors.New("invalid credential")

// ErrExpired is an ErrInvalid for a credential past its expiry, so the reason
// can say "expired" while every check for ErrInvalid still holds.
var ErrExpired = &reasonError{msg: "credential expired"}

type reasonError struct{ msg string }

func (e *reasonError) Error() string        { return e.msg }
func (e *reasonError) Is(target error) bool { return target == ErrInvalid }

// Identity is who the caller is, once authenticated.
type Identity struct {
	Subject string
	// Claims as the credential carries them (JSON types: string, float64,
	// bool, []any, map[string]any).
	Claims Claims
	// ExpiresAt bounds how long a proxy may cache an allow; zero if unknown.
	ExpiresAt time.Time

	// memo holds what transports derive from the identity (the gRPC
	// adapter's claims as dynamic metadata, the decision's header lists).
	// Verified identities are cached and shared by every request with the
	// same credential, so it is computed once per credential, not once per
	// request.
	memo memo.List
}

// Memo returns what derive makes of the identity, computing it the first
// time key is asked for. derive must depend on the identity alone, and the
// value must not be modified afterwards: concurrent requests share it.
// Concurrent first calls may each derive; one value wins and all return it.
func (id *Identity) Memo(key any, derive func(*Identity) any) any {
	if v, ok := id.memo.Lookup(key); ok {
		return v
	}
	return id.memo.Add(key, derive(id))
}

// Authenticator checks one kind of credential.
type Authenticator interface {
	// Name is the authenticator's name in the policy.
	Name() string
	// Present reports whether the request carries this authenticator's
	// credential. It must be cheap: it runs for every request.
	Present(r *request.Request) bool
	// Authenticate verifies the credential. Errors wrap ErrInvalid for a bad
	// credential; anything else is a dependency failure. It never panics on
	// hostile input. r is the caller's: it may be reused once Authenticate
	// returns, so work that outlives the call (a shared cache load) copies
	// what it needs from r first.
	Authenticate(ctx context.Context, r *request.Request) (*Identity, error)
}

// Extract returns the first credential found in the sources, in order. A
// header source with a prefix matches the prefix case-insensitively (RFC 6750
// auth schemes are case-insensitive) and takes the rest. Every value is taken
// with surrounding blanks trimmed, and an empty or all-blank value counts as
// absent, so that a blank cookie or query parameter does not hide a
// credential in a later source.
func Extract(r *request.Request, sources []policy.Source) (string, bool) {
	for i := range sources {
		if v, ok := extractOne(r, &sources[i]); ok {
			return v, true
		}
	}
	return "", false
}

func extractOne(r *request.Request, s *policy.Source) (string, bool) {
	switch s.Kind {
	case policy.SourceHeader:
		v, ok := r.Headers[s.Name]
		if !ok {
			return "", false
		}
		if s.Prefix != "" {
			if len(v) < len(s.Prefix) || !strings.EqualFold(v[:len(s.Prefix)], s.Prefix) {
				return "", false
			}
			v = v[len(s.Prefix):]
		}
		v = trimBlanks(v)
		return v, v != ""
	case policy.SourceCookie:
		v, _ := r.Cookie(s.Name)
		v = trimBlanks(v)
		return v, v != ""
	case policy.SourceQuery:
		v, _ := r.Query(s.Name)
		v = trimBlanks(v)
		return v, v != ""
	}
	return "", false
}

// trimBlanks removes spaces and tabs around v (RFC 9110's OWS), as
// strings.Trim(v, " \t") does without building a set on every request.
func trimBlanks(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// Claim looks a claim up by name. A name that is a URL (contains "/" or ":",
// like Authgear's "https://authgear.com/claims/user/roles") is taken whole;
// otherwise a name that is not a top-level claim is read as a dotted path
// into nested objects ("realm_access.roles").
func Claim(claims Claims, name string) (any, bool) { return claimPath(claims.Get, name) }

// MapClaim is Claim over a decoded JSON object (a resolver's answer, before
// it becomes an Identity's Claims).
func MapClaim(claims map[string]any, name string) (any, bool) {
	return claimPath(func(n string) (any, bool) { v, ok := claims[n]; return v, ok }, name)
}

func claimPath(top func(string) (any, bool), name string) (any, bool) {
	if v, ok := top(name); ok {
		return v, true
	}
	if strings.ContainsAny(name, "/:") || !strings.Contains(name, ".") {
		return nil, false
	}
	first, rest, _ := strings.Cut(name, ".")
	cur, ok := top(first)
	if !ok {
		return nil, false
	}
	for part := range strings.SplitSeq(rest, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
