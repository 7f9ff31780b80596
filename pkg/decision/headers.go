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
	set := make([]Header, 0, len(c.Headers)+1)
	if c.Authgear {
		switch {
		case d.Identity != nil:
			set = append(set, Header{Name: store.SessionValidHeader, Value: "true"})
		case d.rejected:
			set = append(set, Header{Name: store.SessionValidHeader, Value: "false"})
		}
	}
	for i := range c.Headers {
		h := &c.Headers[i]
		if h.Claim == "" {
			// A fixed value goes on every allowed request of the policy, so
			// the upstream can tell that authgate saw the request.
			set = append(set, Header{Name: h.Name, Value: h.Value})
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
			set = append(set, Header{Name: h.Name, Value: s})
		}
	}
	d.Set = set

	remove := make([]string, 0, len(c.Strip))
	for _, name := range c.Strip {
		if !isSet(set, name) {
			remove = append(remove, name)
		}
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
