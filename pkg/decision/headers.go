package decision

import (
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/store"
)

// setHeaders fills Set and Remove for an allowed decision. Headers with no
// value this time (no identity, claim absent) are not set; every header the
// policy may set that is not set is removed, and underscore variants always
// are, so a client can never supply an identity header of its own.
//
// Both lists depend on the policy and the identity alone, and identities are
// cached per credential: they are built once per (policy, identity), or per
// policy for an allow without identity, and shared, read-only, by every
// request after. A cached allow then costs no header work at all. An
// identity keeps the lists of the last compiled policy it was allowed by
// only, so it never holds on to the policies of older snapshots.
func setHeaders(d *Decision, c *store.Compiled) {
	var hs *headerSet
	if id := d.Identity; id != nil {
		slot := id.Memo(headersKey{}, newHeaderSlot).(*atomic.Pointer[headerSet])
		hs = slot.Load()
		if hs == nil || hs.policy != c {
			hs = buildHeaders(c, id, false)
			slot.Store(hs)
		}
	} else {
		rejected := d.rejected
		hs = c.Memo(anonymousKey{rejected}, func() any { return buildHeaders(c, nil, rejected) }).(*headerSet)
	}
	d.Set, d.Remove, d.RemoveJoined, d.HeadersUTF8 = hs.set, hs.remove.names, hs.remove.joined, hs.utf8
}

// headerSet is an allow's Set and Remove, and the compiled policy they
// were built for. An identity keeps one, in a slot of its memo: it is one
// allocation because tens of thousands of cached identities each keep one.
type headerSet struct {
	policy *store.Compiled
	set    []Header
	remove *removal
	// utf8: every name and value of set and remove is UTF-8.
	utf8 bool
}

// removal is an allow's Remove, with what adapters derive from it: made
// once per list, not per request.
type removal struct {
	names []string
	// joined is names joined with ",", the form of Envoy's
	// x-envoy-auth-headers-to-remove.
	joined string
	utf8   bool
}

func newRemoval(names []string) *removal {
	r := &removal{names: names, joined: strings.Join(names, ","), utf8: true}
	for _, n := range names {
		r.utf8 = r.utf8 && utf8.ValidString(n)
	}
	return r
}

// headersKey is the identity's memo slot for its headers.
type headersKey struct{}

func newHeaderSlot(*authn.Identity) any { return new(atomic.Pointer[headerSet]) }

// anonymousKey memoises the headers of a policy's allows without identity.
type anonymousKey struct{ rejected bool }

func buildHeaders(c *store.Compiled, id *authn.Identity, rejected bool) *headerSet {
	// The list is built on the stack and copied out at its final length:
	// it is kept per cached identity, and most claims a policy may map are
	// absent from most identities (3 of the authgear preset's 9 entries is
	// usual), so capacity for every plan tripled what each identity kept.
	var buf [16]Header
	set := buf[:0]
	if n := len(c.Headers) + 1; n > len(buf) {
		set = make([]Header, 0, n)
	}
	var mask uint64 // bits of the names set this time
	slow := false   // a name without a bit was set: compare names
	add := func(name, key, value string, bit uint64) {
		set = append(set, Header{Name: name, Key: key, Value: value})
		mask |= bit
		slow = slow || bit == 0
	}
	if c.Authgear {
		switch {
		case id != nil:
			add(store.SessionValidHeader, store.SessionValidKey, "true", c.SessionValidBit())
		case rejected:
			add(store.SessionValidHeader, store.SessionValidKey, "false", c.SessionValidBit())
		}
	}
	for i := range c.Headers {
		h := &c.Headers[i]
		if h.Claim == "" {
			// A fixed value goes on every allowed request of the policy, so
			// the upstream can tell that authgate saw the request.
			add(h.Name, h.Key, h.Value, h.Bit)
			continue
		}
		if id == nil {
			continue
		}
		v, ok := authn.Claim(id.Claims, h.Claim)
		if !ok {
			continue
		}
		if s, ok := headerValue(v, h.Join); ok {
			add(h.Name, h.Key, s, h.Bit)
		}
	}
	var remove *removal
	if slow {
		remove = newRemoval(removeList(c, mask, set))
	} else {
		// Without a name past the 64th the list depends on the mask and the
		// policy's names alone: one list per mask, shared by every identity
		// and every policy with the same names.
		remove = c.NamesMemo(removeKey{mask}, func() any { return newRemoval(removeList(c, mask, nil)) }).(*removal)
	}
	kept := make([]Header, len(set))
	copy(kept, set)
	valid := remove.utf8
	for _, h := range kept {
		valid = valid && utf8.ValidString(h.Name) && utf8.ValidString(h.Key) && utf8.ValidString(h.Value)
	}
	return &headerSet{policy: c, set: kept, remove: remove, utf8: valid}
}

// removeKey memoises a policy's remove list for one mask of set names.
type removeKey struct{ mask uint64 }

// removeList is every strip entry not set: by bit, or by name for the
// names without one (set given only then).
func removeList(c *store.Compiled, mask uint64, set []Header) []string {
	remove := make([]string, 0, len(c.Strip()))
	for i, name := range c.Strip() {
		if b := c.StripBits()[i]; b&mask != 0 || b == 0 && set != nil && isSet(set, name) {
			continue
		}
		remove = append(remove, name)
	}
	return slices.Clip(remove)
}

func isSet(set []Header, lowerName string) bool {
	for _, h := range set {
		if strings.EqualFold(h.Name, lowerName) {
			return true
		}
	}
	return false
}
