package translate

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"sync"
	"unsafe"
	"weak"

	"github.com/authgate/authgate/pkg/policy"
)

// Many tenants, one configuration: a platform with thousands of
// AuthPolicies usually has a handful of issuers and session resolvers, and
// most policies repeat the same authenticators, rules and headers. Each
// translated policy used to carry its own copy of all of them, kept for as
// long as the policy is loaded (the folder source and the controller keep
// every policy to rebuild snapshots): about a kilobyte a policy. share
// makes equal parts of policies one value, held weakly, so a part is shared
// while a loaded policy uses it and forgotten after. Policies are read-only
// once translated (nothing modifies one), so sharing changes no outcome:
// AuthPolicy still returns equal policies for equal input.
//
// It also lets the store recognise equal authenticator entries and rule
// lists by their address.
var shared struct {
	jwts           table[policy.JWT]
	sessions       table[policy.Session]
	introspections table[policy.Introspection]
	authenticators table[policy.Authenticator]
	rules          table[policy.Rule]
	headers        table[policy.HeaderSpec]
}

// share replaces p's parts with equal parts of policies translated before.
func share(p *policy.Policy) {
	for i := range p.Authenticators {
		a := &p.Authenticators[i] // p's own list: not shared yet
		a.JWT = shareValue(&shared.jwts, a.JWT)
		a.Session = shareValue(&shared.sessions, a.Session)
		a.Introspection = shareValue(&shared.introspections, a.Introspection)
	}
	p.Authenticators = shareList(&shared.authenticators, p.Authenticators)
	p.Rules = shareList(&shared.rules, p.Rules)
	p.Response.Headers = shareList(&shared.headers, p.Response.Headers)
}

// shareValue returns a kept value equal to *v, or keeps v.
func shareValue[T any](t *table[T], v *T) *T {
	if v == nil {
		return nil
	}
	return t.keep(v, 1, func(k *T) bool { return reflect.DeepEqual(k, v) })
}

// shareList returns a kept list equal to s, or keeps s.
func shareList[T any](t *table[T], s []T) []T {
	if len(s) == 0 {
		return s
	}
	first := t.keep(&s[0], len(s), func(k *T) bool { return reflect.DeepEqual(list(k, len(s)), s) })
	return list(first, len(s))
}

// list is the n values from first: a list as the table holds it, by its
// first element and length. Lists are kept whole (the table checks n), so
// the n values are there.
func list[T any](first *T, n int) []T { return unsafe.Slice(first, n) }

// table maps a value's hash to a weak pointer to the value.
type table[T any] struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]entry[T]
	// live is how many entries were live at the last sweep.
	live int
}

// entry is a kept value: a pointer to it, or to a list's first element,
// and the list's length.
type entry[T any] struct {
	p weak.Pointer[T]
	n int
}

// keep returns the kept value equal to v (same hash and length, and same
// says so), or keeps v and returns it.
func (t *table[T]) keep(v *T, n int, same func(*T) bool) *T {
	var s any = v
	if n > 1 {
		s = list(v, n)
	}
	key := render(s) // before the lock: it is most of the work
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.seed = maphash.MakeSeed()
		t.m = map[uint64]entry[T]{}
	}
	h := maphash.String(t.seed, key)
	if e, ok := t.m[h]; ok && e.n == n {
		if kept := e.p.Value(); kept != nil && same(kept) {
			return kept
		}
	}
	// A new value, or a value whose hash another took (kept until then).
	t.m[h] = entry[T]{p: weak.Make(v), n: n}
	// Forget the values no policy uses any more, once they may be half of
	// the table: a sweep now and then, not a cleanup per value.
	if len(t.m) >= 2*t.live+64 {
		for h, e := range t.m {
			if e.p.Value() == nil {
				delete(t.m, h)
			}
		}
		t.live = len(t.m)
	}
	return v
}

// render writes every field of v in Go syntax, types included. %#v prints
// a policy.Secret's value, not its redacted String, so values that differ
// only in a client secret hash differently (a hit is confirmed by
// comparing values all the same); the rendering is hashed and dropped,
// never logged. Pointers render as addresses: the parts they point to are
// shared first, so equal parts have equal addresses.
func render(v any) string { return fmt.Sprintf("%#v", v) }
