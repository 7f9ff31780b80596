package integration

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/authgate/authgate/api/v1alpha1"
)

// TestAdmissionRejectsInvalidSpecs: what can be rejected at admission is, by
// the real API server, with a message that names the problem.
func TestAdmissionRejectsInvalidSpecs(t *testing.T) {
	ns := namespace(t)
	str := func(s string) *string { return &s }
	jwt := func() *v1alpha1.JWTAuthenticator {
		return &v1alpha1.JWTAuthenticator{Issuer: "https://idp.example.com", Audiences: []string{"a"}}
	}
	base := func() v1alpha1.AuthPolicySpec {
		return v1alpha1.AuthPolicySpec{
			Hosts:          []string{"shop.example.com"},
			Authenticators: []v1alpha1.Authenticator{{Name: "bearer", JWT: jwt()}},
			Rules:          []v1alpha1.Rule{{Name: "all", Match: v1alpha1.Match{PathPrefix: "/"}}},
		}
	}
	tests := map[string]struct {
		mutate func(*v1alpha1.AuthPolicySpec)
		want   string // a fragment of the API server's message
	}{
		"two kinds in one authenticator": {
			mutate: func(s *v1alpha1.AuthPolicySpec) {
				s.Authenticators[0].Introspection = &v1alpha1.IntrospectionAuthenticator{URL: "https://idp.example.com/introspect"}
			},
			want: "exactly one",
		},
		"no kind": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Authenticators[0].JWT = nil },
			want:   "exactly one",
		},
		"duplicate authenticator names": {
			mutate: func(s *v1alpha1.AuthPolicySpec) {
				s.Authenticators = append(s.Authenticators, v1alpha1.Authenticator{Name: "bearer", JWT: jwt()})
			},
			want: "unique",
		},
		"rule names a missing authenticator": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Rules[0].Authenticators = []string{"nope"} },
			want:   "authenticator",
		},
		"HS256": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Authenticators[0].JWT.Algorithms = []string{"HS256"} },
			want:   "HS256",
		},
		"none": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Authenticators[0].JWT.Algorithms = []string{"none"} },
			want:   "none",
		},
		"duration that does not parse": {
			mutate: func(s *v1alpha1.AuthPolicySpec) {
				s.Authenticators[0].JWT.ClockSkew = nil
				s.Authenticators = append(s.Authenticators[:0], v1alpha1.Authenticator{Name: "web", Session: &v1alpha1.SessionAuthenticator{
					Cookies: []string{"session"}, Resolver: v1alpha1.SessionResolver{URL: "https://idp.example.com/_resolver/resolve"},
					CacheTTL: &metav1.Duration{Duration: -1},
				}})
			},
			want: "cacheTTL",
		},
		"upper-case host": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Hosts = []string{"Shop.Example.com"} },
			want:   "hosts",
		},
		"host with a path": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Hosts = []string{"shop.example.com/admin"} },
			want:   "hosts",
		},
		"both path and prefix": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Rules[0].Match.Path = "/x" },
			want:   "path",
		},
		"condition with two operators": {
			mutate: func(s *v1alpha1.AuthPolicySpec) {
				s.Rules[0].Require = []v1alpha1.Condition{{Claim: "sub", Equals: str("a"), Contains: str("b")}}
			},
			want: "exactly one",
		},
		"anonymous rule with conditions": {
			mutate: func(s *v1alpha1.AuthPolicySpec) {
				s.Rules[0].AllowAnonymous = true
				s.Rules[0].Require = []v1alpha1.Condition{{Claim: "sub", Equals: str("a")}}
			},
			want: "allowAnonymous",
		},
		"unknown enforcement": {
			mutate: func(s *v1alpha1.AuthPolicySpec) { s.Enforcement = "Sometimes" },
			want:   "enforcement",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := base()
			tc.mutate(&spec)
			ap := &v1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "invalid-"}, Spec: spec}
			err := k8s.Create(context.Background(), ap)
			if err == nil {
				t.Fatalf("the API server accepted an invalid spec")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("message %q does not mention %q", err.Error(), tc.want)
			}
		})
	}
	// The valid base is admitted: the rejections above are about the change.
	ok := &v1alpha1.AuthPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "valid"}, Spec: base()}
	if err := k8s.Create(context.Background(), ok); err != nil {
		t.Fatalf("a valid spec was rejected: %v", err)
	}
}
