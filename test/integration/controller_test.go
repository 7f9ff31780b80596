package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/controller"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/server"
)

// replica is one authgate: a decision server fed by a controller manager.
type replica struct {
	srv  *server.Server
	stop context.CancelFunc
	done chan error
}

// startReplica runs one authgate against the test API server, watching ns.
// agent names its API client, so tests can see which replica wrote status.
func startReplica(t *testing.T, ns, agent string, leaderElect bool) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Log: logr.Discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	rc := rest.CopyConfig(cfg)
	rc.UserAgent = agent
	mgr, err := controller.New(controller.Config{
		RestConfig: rc, Namespaces: []string{ns}, Apply: srv.Apply, Log: logr.Discard(),
		LeaderElection: leaderElect, LeaderElectionNamespace: ns, LeaderElectionID: "authgate-" + ns,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &replica{srv: srv, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(r.shutdown)
	return r
}

// shutdown stops the replica; the manager's own error on the way out is
// not the test's concern (each test checks what it needs).
func (r *replica) shutdown() {
	r.stop()
	select {
	case err := <-r.done:
		_ = err
	case <-time.After(10 * time.Second):
	}
}

func (r *replica) decide(host, path string) *decision.Decision {
	return r.srv.Engine().Check(context.Background(), &request.Request{
		Transport: "test", Host: host, Method: http.MethodGet, Path: path, Headers: map[string]string{},
	})
}

func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

// open is a policy that allows anonymous requests below the given prefixes.
func open(ns, name string, hosts []string, prefixes ...string) *v1alpha1.AuthPolicy {
	ap := &v1alpha1.AuthPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.AuthPolicySpec{Hosts: hosts},
	}
	for i, p := range prefixes {
		ap.Spec.Rules = append(ap.Spec.Rules, v1alpha1.Rule{Name: fmt.Sprintf("r%d", i), Match: v1alpha1.Match{PathPrefix: p}, AllowAnonymous: true})
	}
	return ap
}

// update changes a policy, retrying on conflicts with status writes.
func update(t *testing.T, ns, name string, change func(*v1alpha1.AuthPolicy)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var ap v1alpha1.AuthPolicy
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ap); err != nil {
			return err
		}
		change(&ap)
		return k8s.Update(context.Background(), &ap)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readyCondition(t *testing.T, ns, name string) (*metav1.Condition, error) {
	t.Helper()
	var ap v1alpha1.AuthPolicy
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ap); err != nil {
		return nil, err
	}
	c := meta.FindStatusCondition(ap.Status.Conditions, controller.ConditionReady)
	if c == nil {
		return nil, fmt.Errorf("no Ready condition yet")
	}
	if c.ObservedGeneration != ap.Generation {
		return nil, fmt.Errorf("Ready observed generation %d, object at %d", c.ObservedGeneration, ap.Generation)
	}
	return c, nil
}

func wantReady(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, 5*time.Second, fmt.Sprintf("%s/%s Ready=%s/%s", ns, name, status, reason), func() error {
		c, err := readyCondition(t, ns, name)
		if err != nil {
			return err
		}
		if c.Status != status || c.Reason != reason {
			return fmt.Errorf("Ready=%s/%s: %s", c.Status, c.Reason, c.Message)
		}
		got = c
		return nil
	})
	return got
}

// TestPolicyLifecycle: create, update and delete an AuthPolicy and see the
// decisions change within a second, with status written.
func TestPolicyLifecycle(t *testing.T) {
	ns := namespace(t)
	r := startReplica(t, ns, "authgate-a", false)
	eventually(t, 10*time.Second, "first snapshot", func() error {
		if !r.srv.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	host := ns + ".example.com"
	ap := open(ns, "site", []string{host}, "/public")
	if err := k8s.Create(ctxFor(t), ap); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "created policy decides", func() error {
		if d := r.decide(host, "/public/x"); !d.Allow {
			return fmt.Errorf("%d %s", d.Status, d.Reason)
		}
		return nil
	})
	if d := r.decide(host, "/private"); d.Allow || d.Reason != decision.ReasonNoRule {
		t.Fatalf("/private: %v %s", d.Allow, d.Reason)
	}
	wantReady(t, ns, "site", metav1.ConditionTrue, controller.ReasonAccepted)

	update(t, ns, "site", func(ap *v1alpha1.AuthPolicy) {
		ap.Spec.Rules = append(ap.Spec.Rules, v1alpha1.Rule{Name: "all", Match: v1alpha1.Match{PathPrefix: "/"}, AllowAnonymous: true})
	})
	eventually(t, time.Second, "updated policy decides", func() error {
		if d := r.decide(host, "/private"); !d.Allow {
			return fmt.Errorf("%d %s", d.Status, d.Reason)
		}
		return nil
	})
	wantReady(t, ns, "site", metav1.ConditionTrue, controller.ReasonAccepted)

	update(t, ns, "site", func(ap *v1alpha1.AuthPolicy) { ap.Spec.Enforcement = v1alpha1.EnforcementDryRun })
	wantReady(t, ns, "site", metav1.ConditionTrue, controller.ReasonDryRun)

	if err := k8s.Delete(ctxFor(t), ap); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "deleted policy stops deciding", func() error {
		if d := r.decide(host, "/public/x"); d.Reason != decision.ReasonUnknownHost {
			return fmt.Errorf("%d %s", d.Status, d.Reason)
		}
		return nil
	})
}

// TestHostConflict: the older policy holds the host, the newer one is
// reported; deleting the older hands the host over.
func TestHostConflict(t *testing.T) {
	ns := namespace(t)
	r := startReplica(t, ns, "authgate-a", false)
	host := "shared." + ns + ".example.com"
	older := open(ns, "older", []string{host}, "/older")
	if err := k8s.Create(ctxFor(t), older); err != nil {
		t.Fatal(err)
	}
	// creationTimestamp has one-second resolution: make "older" older.
	time.Sleep(1100 * time.Millisecond)
	newer := open(ns, "newer", []string{host, "own." + host}, "/newer")
	if err := k8s.Create(ctxFor(t), newer); err != nil {
		t.Fatal(err)
	}
	c := wantReady(t, ns, "newer", metav1.ConditionFalse, controller.ReasonHostConflict)
	if !strings.Contains(c.Message, ns+"/older") {
		t.Fatalf("the conflict message must name the holder: %q", c.Message)
	}
	wantReady(t, ns, "older", metav1.ConditionTrue, controller.ReasonAccepted)
	if d := r.decide(host, "/older"); !d.Allow || d.Policy != ns+"/older" {
		t.Fatalf("host decided by %q (%v)", d.Policy, d.Allow)
	}

	if err := k8s.Delete(ctxFor(t), older); err != nil {
		t.Fatal(err)
	}
	wantReady(t, ns, "newer", metav1.ConditionTrue, controller.ReasonAccepted)
	eventually(t, time.Second, "host handed over", func() error {
		if d := r.decide(host, "/newer"); !d.Allow || d.Policy != ns+"/newer" {
			return fmt.Errorf("decided by %q: %s", d.Policy, d.Reason)
		}
		return nil
	})
}

// TestSecretCreatedLateAndRotated: a policy whose Secret is missing is
// reported RefNotFound; the Secret created later, and rotated after, is
// picked up without touching the policy.
func TestSecretCreatedLateAndRotated(t *testing.T) {
	ns := namespace(t)
	r := startReplica(t, ns, "authgate-a", false)
	host := ns + ".example.com"
	ap := open(ns, "api", []string{host})
	ap.Spec.Authenticators = []v1alpha1.Authenticator{{Name: "opaque", Introspection: &v1alpha1.IntrospectionAuthenticator{
		URL: "https://auth.example.com/oauth2/introspect", ClientID: "authgate",
		ClientSecretRef: &v1alpha1.SecretKeyRef{Name: "introspection", Key: "clientSecret"},
	}}}
	ap.Spec.Rules = []v1alpha1.Rule{{Name: "all", Match: v1alpha1.Match{PathPrefix: "/"}}}
	if err := k8s.Create(ctxFor(t), ap); err != nil {
		t.Fatal(err)
	}
	c := wantReady(t, ns, "api", metav1.ConditionFalse, controller.ReasonRefNotFound)
	if !strings.Contains(c.Message, "introspection") {
		t.Fatalf("RefNotFound must name the Secret: %q", c.Message)
	}

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "introspection"},
		Data: map[string][]byte{"clientSecret": []byte("first\n")}}
	if err := k8s.Create(ctxFor(t), secret); err != nil {
		t.Fatal(err)
	}
	wantReady(t, ns, "api", metav1.ConditionTrue, controller.ReasonAccepted)
	clientSecret := func() string {
		for _, c := range r.srv.Store().Load().Policies() {
			if c.Policy.Key() == ns+"/api" {
				return string(c.Policy.Authenticators[0].Introspection.ClientSecret)
			}
		}
		return ""
	}
	eventually(t, time.Second, "secret in force", func() error {
		if got := clientSecret(); got != "first" {
			return fmt.Errorf("secret %q", got)
		}
		return nil
	})

	secret.Data["clientSecret"] = []byte("second")
	if err := k8s.Update(ctxFor(t), secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "rotated secret in force", func() error {
		if got := clientSecret(); got != "second" {
			return fmt.Errorf("secret %q", got)
		}
		return nil
	})
}

// TestRestartRebuilds: a new replica is not ready until it has built its
// first snapshot from the cluster, then decides as the old one did.
func TestRestartRebuilds(t *testing.T) {
	ns := namespace(t)
	host := ns + ".example.com"
	if err := k8s.Create(ctxFor(t), open(ns, "site", []string{host}, "/")); err != nil {
		t.Fatal(err)
	}
	first := startReplica(t, ns, "authgate-a", false)
	eventually(t, 5*time.Second, "first replica decides", func() error {
		if d := first.decide(host, "/x"); !d.Allow {
			return fmt.Errorf("%s", d.Reason)
		}
		return nil
	})
	first.shutdown()

	second := startReplica(t, ns, "authgate-b", false)
	// Before its caches sync and the first snapshot is built, a replica is
	// not ready and fails closed.
	if second.srv.Ready() {
		if d := second.decide(host, "/x"); !d.Allow {
			t.Fatal("ready but not deciding")
		}
	} else if d := second.decide(host, "/x"); d.Allow || d.Status != http.StatusServiceUnavailable {
		t.Fatalf("not ready, yet %v %d", d.Allow, d.Status)
	}
	eventually(t, 5*time.Second, "second replica decides", func() error {
		if d := second.decide(host, "/x"); !d.Allow {
			return fmt.Errorf("%s", d.Reason)
		}
		return nil
	})
}

// TestTwoReplicas: both replicas serve; only the elected one writes status.
func TestTwoReplicas(t *testing.T) {
	ns := namespace(t)
	host := ns + ".example.com"
	a := startReplica(t, ns, "authgate-replica-a", true)
	b := startReplica(t, ns, "authgate-replica-b", true)
	if err := k8s.Create(ctxFor(t), open(ns, "site", []string{host}, "/")); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*replica{"a": a, "b": b} {
		eventually(t, 5*time.Second, "replica "+name+" decides", func() error {
			if d := r.decide(host, "/x"); !d.Allow {
				return fmt.Errorf("%s", d.Reason)
			}
			return nil
		})
	}
	wantReady(t, ns, "site", metav1.ConditionTrue, controller.ReasonAccepted)
	var ap v1alpha1.AuthPolicy
	if err := k8s.Get(ctxFor(t), client.ObjectKey{Namespace: ns, Name: "site"}, &ap); err != nil {
		t.Fatal(err)
	}
	writers := map[string]bool{}
	for _, mf := range ap.ManagedFields {
		if mf.Subresource == "status" {
			writers[mf.Manager] = true
		}
	}
	if len(writers) != 1 {
		t.Fatalf("status written by %v, want exactly one replica", writers)
	}
}

// TestLabelSelectorShards: a replica with a label selector sees only the
// policies its shard owns.
func TestLabelSelectorShards(t *testing.T) {
	ns := namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Log: logr.Discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	mgr, err := controller.New(controller.Config{RestConfig: cfg, Namespaces: []string{ns}, LabelSelector: "authgate.io/shard=a",
		Apply: srv.Apply, Log: logr.Discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &replica{srv: srv, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(r.shutdown)

	mine := open(ns, "mine", []string{"mine." + ns + ".example.com"}, "/")
	mine.Labels = map[string]string{"authgate.io/shard": "a"}
	theirs := open(ns, "theirs", []string{"theirs." + ns + ".example.com"}, "/")
	theirs.Labels = map[string]string{"authgate.io/shard": "b"}
	for _, ap := range []*v1alpha1.AuthPolicy{mine, theirs} {
		if err := k8s.Create(ctxFor(t), ap); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "own shard decided", func() error {
		if d := r.decide("mine."+ns+".example.com", "/"); !d.Allow {
			return fmt.Errorf("%s", d.Reason)
		}
		return nil
	})
	if d := r.decide("theirs."+ns+".example.com", "/"); d.Reason != decision.ReasonUnknownHost {
		t.Fatalf("another shard's policy decided: %s", d.Reason)
	}
}
