package decision

import (
	"strings"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/store"
)

// setHeaders fills Set and Remove for an allowed decision. Headers with no
// value this time (no identity, claim absent) are not set; every header the
// policy may set that is not set is removed, and underscore variants always
// are, so a client can never supply an identity header of its own.
func setHeaders(d *Decision, c *store.Compiled) {
	set := d.setBuf[:0]
	var mask uint64 // bits of the names set this time
	slow := false   // a name without a bit was set: compare names
	add := func(name, key, value string, bit uint64) {
		set = append(set, Header{Name: name, Key: key, Value: value})
		mask |= bit
		slow = slow || bit == 0
	}
	if c.Authgear {
		switch {
		case d.Identity != nil:
			add(store.SessionValidHeader, store.SessionValidKey, "true", c.SessionValidBit)
		case d.rejected:
			add(store.SessionValidHeader, store.SessionValidKey, "false", c.SessionValidBit)
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
		if d.Identity == nil {
			continue
		}
		v, ok := authn.Claim(d.Identity.Claims, h.Claim)
		if !ok {
			continue
		}
		if s, ok := headerValue(v, h.Join); ok {
			add(h.Name, h.Key, s, h.Bit)
		}
	}
	d.Set = set

	remove := d.removeBuf[:0]
	for i, name := range c.Strip {
		if b := c.StripBits[i]; b&mask != 0 || b == 0 && slow && isSet(set, name) {
			continue
		}
		remove = append(remove, name)
	}
	d.Remove = remove
}

func isSet(set []Header, lowerName string) bool {
	for _, h := range set {
		if strings.EqualFold(h.Name, lowerName) {
			return true
		}
	}
	return false
}
