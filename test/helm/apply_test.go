package helm

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestServerSideDryRun sends every value set's rendered objects to the real
// API server as a server-side dry run: each is decoded, defaulted, validated
// (OpenAPI, CEL, admission) and checked for conflicts as if created, and
// nothing is stored. The ServiceMonitor's kind comes from the stand-in CRD in
// testdata/crds (see TestMain), so it is checked for its shape only.
func TestServerSideDryRun(t *testing.T) {
	needCluster(t)
	k := newKubectl(t)
	for name, args := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			ns := "dry-" + name
			objs := objects(t, renderIn(t, ns, args...))
			k.ensureNamespaces(t, namespacesOf(objs)...)
			out, warnings := k.apply(t, toYAML(t, objs), true)
			applied := strings.Count(out, "serverside-applied (server dry run)")
			if applied != len(objs) {
				t.Errorf("%d of %d objects applied in the dry run:\n%s", applied, len(objs), out)
			}
			// The namespace warns about pods that break the "restricted" Pod
			// Security Standard; the API server says so for a Deployment too.
			if warnings != "" {
				t.Errorf("the API server warned:\n%s", warnings)
			}
			// A dry run stores nothing.
			if got := k.run(t, nil, "get", "deployments,services,serviceaccounts", "-n", ns, "-o", "name"); got != "" {
				t.Errorf("the dry run created:\n%s", got)
			}
		})
	}
}

// TestApplyCRDAndRBAC applies the chart's CRD and RBAC for real and asks the
// API server's authorizer what authgate's ServiceAccount may do: everything
// it needs, nothing more, and with watchNamespaces only there.
func TestApplyCRDAndRBAC(t *testing.T) {
	needCluster(t)
	k := newKubectl(t)
	rbacKinds := []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

	type check struct {
		verb, resource, ns string // ns "" asks across all namespaces
		subresource        string
		allowed            bool
	}
	cases := map[string]struct {
		args   []string
		checks []check
	}{
		"cluster-wide": {
			checks: []check{
				{verb: "list", resource: "authpolicies.authgate.io", allowed: true},
				{verb: "watch", resource: "authpolicies.authgate.io", allowed: true},
				{verb: "update", resource: "authpolicies.authgate.io", subresource: "status", ns: "any", allowed: true},
				{verb: "watch", resource: "secrets", allowed: true},
				{verb: "create", resource: "events.events.k8s.io", ns: "any", allowed: true},
				{verb: "create", resource: "leases.coordination.k8s.io", ns: "rbac-cluster-wide", allowed: true},
				// Nothing else.
				{verb: "update", resource: "authpolicies.authgate.io", ns: "any"},
				{verb: "delete", resource: "authpolicies.authgate.io", ns: "any"},
				{verb: "create", resource: "secrets", ns: "any"},
				{verb: "list", resource: "pods"},
				{verb: "list", resource: "configmaps"},
			},
		},
		"namespaced": {
			args: []string{"--set", "config.watchNamespaces={rbac-shop,rbac-blog}"},
			checks: []check{
				{verb: "list", resource: "secrets", ns: "rbac-shop", allowed: true},
				{verb: "watch", resource: "authpolicies.authgate.io", ns: "rbac-blog", allowed: true},
				{verb: "patch", resource: "authpolicies.authgate.io", subresource: "status", ns: "rbac-blog", allowed: true},
				{verb: "create", resource: "events", ns: "rbac-shop", allowed: true},
				{verb: "update", resource: "leases.coordination.k8s.io", ns: "rbac-namespaced", allowed: true},
				{verb: "create", resource: "events", ns: "rbac-namespaced", allowed: true},
				// Not outside the watched namespaces.
				{verb: "list", resource: "secrets"},
				{verb: "list", resource: "secrets", ns: "rbac-other"},
				{verb: "list", resource: "authpolicies.authgate.io", ns: "rbac-other"},
				{verb: "create", resource: "leases.coordination.k8s.io", ns: "rbac-other"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := "rbac-" + name
			var objs []*unstructured.Unstructured
			for _, o := range objects(t, renderIn(t, ns, tc.args...)) {
				if slices.Contains(rbacKinds, o.GetKind()) {
					objs = append(objs, o)
				}
			}
			k.ensureNamespaces(t, append(namespacesOf(objs), "rbac-other")...)
			out, _ := k.apply(t, toYAML(t, objs), false)
			if n := strings.Count(out, "serverside-applied"); n != len(objs) {
				t.Fatalf("%d of %d objects applied:\n%s", n, len(objs), out)
			}

			k.run(t, nil, "wait", "--for=condition=Established", "--timeout=30s", "crd/authpolicies.authgate.io")
			if keep := k.run(t, nil, "get", "crd", "authpolicies.authgate.io", "-o", `jsonpath={.metadata.annotations.helm\.sh/resource-policy}`); keep != "keep" {
				t.Errorf("the applied CRD's helm.sh/resource-policy is %q, want keep", keep)
			}

			sa := "system:serviceaccount:" + ns + ":authgate"
			for _, c := range tc.checks {
				args := []string{"auth", "can-i", c.verb, c.resource, "--as", sa}
				if c.subresource != "" {
					args = append(args, "--subresource", c.subresource)
				}
				if c.ns == "" {
					args = append(args, "--all-namespaces")
				} else {
					args = append(args, "--namespace", c.ns)
				}
				out, err := k.output(nil, args...)
				var exit *exec.ExitError
				if err != nil && !errors.As(err, &exit) {
					t.Fatal(err)
				}
				if allowed := strings.TrimSpace(out) == "yes"; allowed != c.allowed {
					t.Errorf("can %s %s %s%s in %q: %s, want allowed=%v", sa, c.verb, c.resource, "/"+c.subresource, c.ns, strings.TrimSpace(out), c.allowed)
				}
			}
		})
	}
}

// namespacesOf lists the namespaces the objects go into.
func namespacesOf(objs []*unstructured.Unstructured) []string {
	var ns []string
	for _, o := range objs {
		if n := o.GetNamespace(); n != "" && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}
