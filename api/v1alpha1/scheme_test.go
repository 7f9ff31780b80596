package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/authgate/authgate/api/v1alpha1"
)

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{v1alpha1.Kind, v1alpha1.Kind + "List"} {
		gvk := v1alpha1.GroupVersion.WithKind(kind)
		obj, err := s.New(gvk)
		if err != nil {
			t.Fatalf("%s not registered: %v", gvk, err)
		}
		if kinds, _, err := s.ObjectKinds(obj); err != nil || len(kinds) != 1 || kinds[0] != gvk {
			t.Errorf("ObjectKinds(%T) = %v, %v", obj, kinds, err)
		}
	}
}

// TestDeepCopy guards the generated deepcopy: a copy shares no memory.
func TestDeepCopy(t *testing.T) {
	yes, eq := true, "x"
	in := &v1alpha1.AuthPolicy{Spec: v1alpha1.AuthPolicySpec{
		Hosts: []string{"a.example.com"},
		Authenticators: []v1alpha1.Authenticator{{Name: "s", Session: &v1alpha1.SessionAuthenticator{
			Cookies: []string{"s"}, ForwardAuthorization: &yes,
			Resolver: v1alpha1.SessionResolver{URL: "https://r.example", IdentityHeaders: map[string]string{"sub": "X-User"}},
		}}},
		Rules:    []v1alpha1.Rule{{Name: "r", Require: []v1alpha1.Condition{{Claim: "c", Equals: &eq}}}},
		Response: &v1alpha1.Response{Headers: map[string]v1alpha1.HeaderValue{"X-A": {Claim: "sub"}}},
	}}
	out := in.DeepCopyObject().(*v1alpha1.AuthPolicy)
	out.Spec.Hosts[0] = "changed"
	*out.Spec.Authenticators[0].Session.ForwardAuthorization = false
	out.Spec.Authenticators[0].Session.Resolver.IdentityHeaders["sub"] = "changed"
	*out.Spec.Rules[0].Require[0].Equals = "changed"
	out.Spec.Response.Headers["X-A"] = v1alpha1.HeaderValue{Value: "changed"}
	if in.Spec.Hosts[0] != "a.example.com" || !yes || eq != "x" ||
		in.Spec.Authenticators[0].Session.Resolver.IdentityHeaders["sub"] != "X-User" ||
		in.Spec.Response.Headers["X-A"].Claim != "sub" {
		t.Errorf("the copy shares memory with the original: %+v", in.Spec)
	}
}
