package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/store"
)

type nopFactory struct{}

func (nopFactory) New(*policy.Authenticator) (authn.Authenticator, error) { return nil, nil }

type events struct{ got []string }

func (e *events) Eventf(_ runtime.Object, _ runtime.Object, eventtype, reason, _, _ string, _ ...any) {
	e.got = append(e.got, eventtype+"/"+reason)
}

func ap(name string, created int, hosts ...string) *v1alpha1.AuthPolicy {
	return &v1alpha1.AuthPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 3, CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))},
		Spec: v1alpha1.AuthPolicySpec{Hosts: hosts, Rules: []v1alpha1.Rule{
			{Name: "all", Match: v1alpha1.Match{PathPrefix: "/"}, AllowAnonymous: true},
		}},
	}
}

func TestReconcileStatus(t *testing.T) {
	dry := ap("dry", 5, "dry.example.com")
	dry.Spec.Enforcement = v1alpha1.EnforcementDryRun
	invalid := ap("invalid", 6, "invalid.example.com")
	invalid.Spec.Rules[0].Match.PathPrefix = "no-slash"
	missing := ap("missing", 7, "missing.example.com")
	missing.Spec.Authenticators = []v1alpha1.Authenticator{{Name: "opaque", Introspection: &v1alpha1.IntrospectionAuthenticator{
		URL: "https://idp.example.com/introspect", ClientID: "c", ClientSecretRef: &v1alpha1.SecretKeyRef{Name: "absent", Key: "k"},
	}}}
	objs := []client.Object{ap("holder", 1, "shared.example.com"), ap("loser", 2, "shared.example.com"), dry, invalid, missing,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "unrelated"}}}

	want := map[string]struct {
		status metav1.ConditionStatus
		reason string
		accept metav1.ConditionStatus
	}{
		"holder":  {metav1.ConditionTrue, ReasonAccepted, metav1.ConditionTrue},
		"loser":   {metav1.ConditionFalse, ReasonHostConflict, metav1.ConditionTrue},
		"dry":     {metav1.ConditionTrue, ReasonDryRun, metav1.ConditionTrue},
		"invalid": {metav1.ConditionFalse, ReasonInvalid, metav1.ConditionFalse},
		"missing": {metav1.ConditionFalse, ReasonRefNotFound, metav1.ConditionTrue},
	}
	for name, leader := range map[string]bool{"leader writes status": true, "follower only serves": false} {
		t.Run(name, func(t *testing.T) {
			scheme, err := Scheme()
			if err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&v1alpha1.AuthPolicy{}).Build()
			var applied *store.Snapshot
			ev := &events{}
			r := &Reconciler{Client: c, Leader: func() bool { return leader }, Events: ev, Log: logr.Discard(),
				Apply: func(ps []*policy.Policy) *store.Snapshot { applied = store.Build(ps, nopFactory{}); return applied }}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{}); err != nil {
				t.Fatal(err)
			}
			if applied == nil || applied.Lookup("shared.example.com").Policy.Name != "holder" || applied.Lookup("dry.example.com") == nil {
				t.Fatal("the snapshot was not built from the valid policies")
			}
			if !r.referenced(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "absent"}}) ||
				r.referenced(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "unrelated"}}) {
				t.Fatal("only referenced Secrets (found or not) may trigger rebuilds")
			}
			for name, w := range want {
				var got v1alpha1.AuthPolicy
				if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, &got); err != nil {
					t.Fatal(err)
				}
				ready := meta.FindStatusCondition(got.Status.Conditions, ConditionReady)
				if !leader {
					if ready != nil {
						t.Fatalf("%s: a follower wrote status", name)
					}
					continue
				}
				accepted := meta.FindStatusCondition(got.Status.Conditions, ConditionAccepted)
				if ready == nil || accepted == nil {
					t.Fatalf("%s: conditions %v", name, got.Status.Conditions)
				}
				if ready.Status != w.status || ready.Reason != w.reason || accepted.Status != w.accept || ready.ObservedGeneration != 3 {
					t.Errorf("%s: Ready %s/%s (gen %d), Accepted %s; want Ready %s/%s, Accepted %s: %s",
						name, ready.Status, ready.Reason, ready.ObservedGeneration, accepted.Status, w.status, w.reason, w.accept, ready.Message)
				}
			}
			if leader && len(ev.got) != len(want) {
				t.Errorf("events %v, want one per policy's first readiness", ev.got)
			}
			// A second rebuild with nothing changed writes nothing and
			// emits nothing.
			before := len(ev.got)
			if _, err := r.Reconcile(context.Background(), ctrl.Request{}); err != nil {
				t.Fatal(err)
			}
			if len(ev.got) != before {
				t.Errorf("an unchanged rebuild emitted events: %v", ev.got[before:])
			}
		})
	}
}

func TestConditionMessagesAreBounded(t *testing.T) {
	long := fmt.Sprintf("%040000d", 0)
	if got := truncate(long); len(got) > 32768 {
		t.Fatalf("len %d", len(got))
	}
	if truncate("short") != "short" {
		t.Fatal("short messages are kept")
	}
}
