package translate

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
)

// tenant is an AuthPolicy of a multi-tenant platform: issuer, resolver and
// client secret vary by case, the rest is the same for every tenant.
const tenant = `
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: %[1]s, namespace: ns}
spec:
  hosts: ["%[1]s.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: "%[2]s", audiences: [shop]}
  - name: web
    session:
      cookies: [session]
      resolver: {url: "%[3]s"}
  - name: opaque
    introspection:
      url: https://idp.example.com/introspect
      clientID: authgate
      clientSecretRef: {name: idp, key: secret}
  rules:
  - name: public
    match: {pathPrefix: %[4]s}
    allowAnonymous: true
  - name: default
    match: {pathPrefix: /}
  response:
    headers:
      X-User-Id: {claim: sub}
`

func translateTenant(t *testing.T, name, issuer, resolver, public, secret string) *policy.Policy {
	t.Helper()
	var ap v1alpha1.AuthPolicy
	if err := yaml.UnmarshalStrict(fmt.Appendf(nil, tenant, name, issuer, resolver, public), &ap); err != nil {
		t.Fatal(err)
	}
	p, err := AuthPolicy(&ap, func(_, _, _ string) ([]byte, bool) { return []byte(secret), true })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestShare pins what policies share: equal parts are one value, parts
// that differ in anything (a secret included) are not, and sharing never
// changes what a policy says.
func TestShare(t *testing.T) {
	const iss, res, sec = "https://a.example.com", "https://a.example.com/_resolver/resolve", "s1"
	a := translateTenant(t, "a", iss, res, "/public", sec)
	tests := []struct {
		name                             string
		issuer, resolver, public, secret string
		jwt, session, introspection      bool // shared with a's
		authenticators, rules            bool
	}{
		{"same settings", iss, res, "/public", sec, true, true, true, true, true},
		{"another issuer", "https://b.example.com", res, "/public", sec, false, true, true, false, true},
		{"another resolver", iss, "https://b.example.com/r", "/public", sec, true, false, true, false, true},
		{"another client secret", iss, res, "/public", "s2", true, true, false, false, true},
		{"another rule", iss, res, "/open", sec, true, true, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := translateTenant(t, "b", tc.issuer, tc.resolver, tc.public, tc.secret)
			for _, c := range []struct {
				part      string
				got, want bool
			}{
				{"jwt", a.Authenticators[0].JWT == b.Authenticators[0].JWT, tc.jwt},
				{"session", a.Authenticators[1].Session == b.Authenticators[1].Session, tc.session},
				{"introspection", a.Authenticators[2].Introspection == b.Authenticators[2].Introspection, tc.introspection},
				{"authenticators", &a.Authenticators[0] == &b.Authenticators[0], tc.authenticators},
				{"rules", &a.Rules[0] == &b.Rules[0], tc.rules},
				// Every case has the same headers.
				{"headers", &a.Response.Headers[0] == &b.Response.Headers[0], true},
			} {
				if c.got != c.want {
					t.Errorf("%s shared = %v, want %v", c.part, c.got, c.want)
				}
			}
			if got, want := b.Authenticators[0].JWT.Issuer, tc.issuer; got != want {
				t.Errorf("issuer %q, want %q", got, want)
			}
			if got, want := b.Authenticators[1].Session.URL, tc.resolver; got != want {
				t.Errorf("resolver %q, want %q", got, want)
			}
			if got, want := string(b.Authenticators[2].Introspection.ClientSecret), tc.secret; got != want {
				t.Errorf("client secret differs from the Secret's")
			}
			if got, want := b.Rules[0].PathPrefix, tc.public; got != want {
				t.Errorf("rule prefix %q, want %q", got, want)
			}
			// The policy itself is b's: its name and hosts.
			if b.Name != "b" || !reflect.DeepEqual(b.Hosts, []string{"b.example.com"}) {
				t.Errorf("policy %s %v", b.Name, b.Hosts)
			}
		})
	}
	runtime.KeepAlive(a)
}

// TestShareForgets checks that the tables do not keep what no policy uses:
// after thousands of distinct issuers come and go, the table of JWT
// settings holds about as many entries as policies still use them.
func TestShareForgets(t *testing.T) {
	keep := translateTenant(t, "kept", "https://kept.example.com", "https://r", "/public", "s")
	for i := range 2000 {
		translateTenant(t, "t", fmt.Sprintf("https://%d.example.com", i), "https://r", "/public", "s")
		if i%400 == 0 {
			runtime.GC()
		}
	}
	runtime.GC()
	// One more distinct value: the table sweeps once it has grown enough.
	for i := range 200 {
		translateTenant(t, "t", fmt.Sprintf("https://late%d.example.com", i), "https://r", "/public", "s")
	}
	shared.jwts.mu.Lock()
	n := len(shared.jwts.m)
	shared.jwts.mu.Unlock()
	if n > 1000 {
		t.Errorf("the JWT table holds %d entries after 2,200 distinct issuers, nearly all unused", n)
	}
	again := translateTenant(t, "again", "https://kept.example.com", "https://r", "/public", "s")
	if again.Authenticators[0].JWT != keep.Authenticators[0].JWT {
		t.Error("a JWT setting still in use was forgotten")
	}
}
