package authn_test

import (
	"reflect"
	"testing"

	"github.com/authgate/authgate/pkg/authn"
)

// TestClaims: Claims hold a JSON object's members sorted by name; Get finds
// top-level names only, Claim and MapClaim also read dotted paths into
// nested objects (but take URL names whole), and Map gives the object back.
func TestClaims(t *testing.T) {
	object := map[string]any{
		"sub":                                    "alice",
		"aud":                                    []any{"shop"},
		"exp":                                    1.7e9,
		"realm_access":                           map[string]any{"roles": []any{"admin"}},
		"dotted.name":                            "top",
		"https://authgear.com/claims/user/roles": []any{"viewer"},
	}
	c := authn.ClaimsOf(object)
	var names []string
	for _, e := range c {
		names = append(names, e.Name)
	}
	want := []string{"aud", "dotted.name", "exp", "https://authgear.com/claims/user/roles", "realm_access", "sub"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names %q, want %q (sorted)", names, want)
	}
	if !reflect.DeepEqual(c.Map(), object) {
		t.Errorf("Map = %#v, want the object", c.Map())
	}
	tests := map[string]struct {
		name    string
		want    any
		present bool
		top     bool // Get finds it too
	}{
		"top-level":                   {name: "sub", want: "alice", present: true, top: true},
		"first name":                  {name: "aud", want: []any{"shop"}, present: true, top: true},
		"last name":                   {name: "sub", want: "alice", present: true, top: true},
		"absent":                      {name: "email"},
		"before every name":           {name: "AAA"},
		"after every name":            {name: "zzz"},
		"nested path":                 {name: "realm_access.roles", want: []any{"admin"}, present: true},
		"nested path, absent member":  {name: "realm_access.groups"},
		"path through a scalar":       {name: "sub.x"},
		"top-level dotted name first": {name: "dotted.name", want: "top", present: true, top: true},
		"url name taken whole":        {name: "https://authgear.com/claims/user/roles", want: []any{"viewer"}, present: true, top: true},
		"url name is not a path":      {name: "https://realm_access.roles"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for how, lookup := range map[string]func(string) (any, bool){
				"Claim":    func(n string) (any, bool) { return authn.Claim(c, n) },
				"MapClaim": func(n string) (any, bool) { return authn.MapClaim(object, n) },
			} {
				got, ok := lookup(tc.name)
				if ok != tc.present || !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s(%q) = %#v, %v; want %#v, %v", how, tc.name, got, ok, tc.want, tc.present)
				}
			}
			got, ok := c.Get(tc.name)
			if ok != tc.top || (tc.top && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("Get(%q) = %#v, %v; want %v", tc.name, got, ok, tc.top)
			}
		})
	}
	if got := authn.ClaimsOf(nil); got != nil {
		t.Errorf("ClaimsOf(nil) = %#v, want nil", got)
	}
	if _, ok := authn.Claims(nil).Get("sub"); ok {
		t.Error("empty claims have no sub")
	}
}
