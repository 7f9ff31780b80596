package authn

import (
	"slices"
	"strings"
)

// Claims are a credential's claims, sorted by name, each at most once (make
// them with ClaimsOf: Get relies on the order). They
// are a list rather than a map because identities are cached by the tens of
// thousands: a Go map costs about 340 bytes however few claims it holds
// (one group of eight slots, and its header), a list 32 bytes a claim. A
// lookup is a binary search over a dozen names or so.
type Claims []NamedClaim

// NamedClaim is one claim.
type NamedClaim struct {
	Name  string
	Value any
}

// ClaimsOf makes Claims of a decoded JSON object. The values are kept, not
// copied.
func ClaimsOf(m map[string]any) Claims {
	if len(m) == 0 {
		return nil
	}
	c := make(Claims, 0, len(m))
	for name, v := range m {
		c = append(c, NamedClaim{Name: name, Value: v})
	}
	slices.SortFunc(c, func(a, b NamedClaim) int { return strings.Compare(a.Name, b.Name) })
	return c
}

// Get returns the top-level claim called name.
func (c Claims) Get(name string) (any, bool) {
	i, ok := slices.BinarySearchFunc(c, name, func(e NamedClaim, name string) int {
		return strings.Compare(e.Name, name)
	})
	if !ok {
		return nil, false
	}
	return c[i].Value, true
}

// Map returns the claims as a new map, for what wants a JSON object (the
// gRPC adapter's dynamic metadata).
func (c Claims) Map() map[string]any {
	m := make(map[string]any, len(c))
	for _, e := range c {
		m[e.Name] = e.Value
	}
	return m
}
