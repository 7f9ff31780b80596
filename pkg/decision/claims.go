package decision

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
)

// scalar returns the string form of a JSON scalar: strings as they are,
// booleans as true/false, numbers without exponent or trailing zeros.
// Arrays, objects and null have no scalar form.
func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatInt(int64(t), 10), true
		}
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}

// evaluate tests one condition. On failure it says why, naming the claim and
// the expectation but never the claim's value.
func evaluate(c *policy.Condition, claims authn.Claims) (bool, string) {
	v, present := authn.Claim(claims, c.Claim)
	switch c.Op {
	case policy.OpExists:
		if present == c.Exists {
			return true, ""
		}
		if c.Exists {
			return false, fmt.Sprintf("claim %q is absent", c.Claim)
		}
		return false, fmt.Sprintf("claim %q is present", c.Claim)
	case policy.OpEquals:
		if s, ok := scalar(v); present && ok && s == c.Value {
			return true, ""
		}
		return false, fmt.Sprintf("claim %q does not equal %q", c.Claim, c.Value)
	case policy.OpOneOf:
		if s, ok := scalar(v); present && ok {
			for _, want := range c.Values {
				if s == want {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("claim %q is not one of %q", c.Claim, c.Values)
	case policy.OpContains:
		if present && contains(v, c.Value) {
			return true, ""
		}
		return false, fmt.Sprintf("claim %q does not contain %q", c.Claim, c.Value)
	}
	return false, fmt.Sprintf("unknown operator on claim %q", c.Claim)
}

// contains holds when an array has the element, or a string has it as a
// space-delimited word (the OAuth "scope" form, RFC 6749 section 3.3).
func contains(v any, want string) bool {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if s, ok := scalar(e); ok && s == want {
				return true
			}
		}
	case string:
		for w := range strings.FieldsSeq(t) {
			if w == want {
				return true
			}
		}
	}
	return false
}

// headerValue renders a claim as a header value: scalars as by scalar,
// arrays of scalars joined with sep. Objects and values with control
// characters yield nothing: a claim must never be able to inject a header.
func headerValue(v any, sep string) (string, bool) {
	var s string
	switch t := v.(type) {
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			p, ok := scalar(e)
			if !ok {
				return "", false
			}
			parts = append(parts, p)
		}
		s = strings.Join(parts, sep)
	default:
		var ok bool
		if s, ok = scalar(v); !ok {
			return "", false
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return s, true
}
