package hostile

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/source"
)

// TestTenThousandHosts loads 10,000 hosts (ten policies at the per-policy
// limit, policy.MaxHosts) next to the usual policies and decides on the
// first and last of them over both transports. Path rules are exact or
// segment-aware prefixes compared as strings, and hosts are exact or a
// leading "*." looked up in a map: no policy holds a regular expression or
// glob, so no policy can make matching super-linear.
func TestTenThousandHosts(t *testing.T) {
	s := newStack(t)
	const perPolicy, policies = policy.MaxHosts, 10
	var b strings.Builder
	for p := range policies {
		fmt.Fprintf(&b, "---\napiVersion: authgate.io/v1alpha1\nkind: AuthPolicy\nmetadata: {name: many-%d, namespace: load}\nspec:\n  hosts:\n", p)
		for h := range perPolicy {
			fmt.Fprintf(&b, "  - h%d-%d.load.example.com\n", p, h)
		}
		b.WriteString("  authenticators:\n  - name: bearer\n    jwt: {issuer: \"" + s.iss.URL + "\", audiences: [load]}\n")
		b.WriteString("  rules:\n  - {name: open, match: {pathPrefix: /open}, allowAnonymous: true}\n  - {name: rest, match: {pathPrefix: /}}\n")
	}
	many, err := source.ParseFile("many.yaml", []byte(b.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := s.srv.Store().Load().Policies()
	all := make([]*policy.Policy, 0, len(base)+len(many))
	for _, c := range base {
		all = append(all, c.Policy)
	}
	snap := s.srv.Apply(append(all, many...))
	if n := len(snap.Policies()); n != len(base)+policies {
		t.Fatalf("%d policies in force, want %d; problems %+v", n, len(base)+policies, snap.Problems())
	}
	rows := map[string]row{
		"first host, open path": {r: req{host: "h0-0.load.example.com", target: "/open/x"}, want: http.StatusOK},
		"last host, open path":  {r: req{host: fmt.Sprintf("h%d-%d.load.example.com", policies-1, perPolicy-1), target: "/open/x"}, want: http.StatusOK},
		"last host, protected":  {r: req{host: fmt.Sprintf("h%d-%d.load.example.com", policies-1, perPolicy-1), target: "/x"}, want: http.StatusUnauthorized},
		"one past the last":     {r: req{host: fmt.Sprintf("h%d-%d.load.example.com", policies-1, perPolicy), target: "/open/x"}, want: http.StatusForbidden},
		"earlier policies kept": {r: req{target: "/public/x"}, want: http.StatusOK},
	}
	s.run(t, rows)
}

// TestPolicyLimits: a policy over the host limit, or with an overlong
// path, is refused when loaded, so the work per policy is bounded too.
func TestPolicyLimits(t *testing.T) {
	hosts := make([]string, policy.MaxHosts+1)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("\"h%d.example.com\"", i)
	}
	tests := map[string]struct{ spec, want string }{
		"too many hosts": {"hosts: [" + strings.Join(hosts, ",") + "]\n  rules: [{name: r, match: {pathPrefix: /}, allowAnonymous: true}]", "at most"},
		"overlong path":  {"hosts: [a.example.com]\n  rules: [{name: r, match: {pathPrefix: /" + strings.Repeat("a", policy.MaxPathLen) + "}, allowAnonymous: true}]", "longer than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := "apiVersion: authgate.io/v1alpha1\nkind: AuthPolicy\nmetadata: {name: big, namespace: x}\nspec:\n  " + tc.spec + "\n"
			_, err := source.ParseFile("big.yaml", []byte(doc), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
