package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelmInstall runs the documented life cycle against the test API
// server: adopt a CRD applied earlier with kubectl, helm install (the
// command README gives), helm upgrade, and helm uninstall, which must leave
// the CRD and the AuthPolicies in place. The API server runs no
// controllers, so no pod ever starts: this is about the objects.
func TestHelmInstall(t *testing.T) {
	needCluster(t)
	k := newKubectl(t)
	kc := k.kubeconfig
	const crd = "crd/authpolicies.authgate.io"

	// The CRD exists already (envtest installed it, as `kubectl apply -f
	// config/crd/bases` would): docs/helm.md says how to hand it to the release.
	k.run(t, nil, "label", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite")
	k.run(t, nil, "annotate", crd, "meta.helm.sh/release-name="+release, "meta.helm.sh/release-namespace="+namespace, "--overwrite")

	out, err := helm(kc, nil, "install", release, chartDir, "--namespace", namespace, "--create-namespace")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = helm(kc, nil, "uninstall", release, "--namespace", namespace) })
	// NOTES.txt: how to wire each proxy, with the Service's DNS name.
	for _, want := range []string{
		"STATUS: deployed",
		"address authgate.authgate.svc.cluster.local, port 9001",
		`nginx.ingress.kubernetes.io/auth-url: "http://authgate.authgate.svc.cluster.local:8080/auth"`,
		`address: "http://authgate.authgate.svc.cluster.local:8080/auth"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("helm install output lacks %q:\n%s", want, out)
		}
	}
	if got := k.run(t, nil, "get", "deployment", "authgate", "-n", namespace, "-o", "jsonpath={.spec.replicas}"); got != "2" {
		t.Errorf("replicas %q after install, want 2", got)
	}

	// A policy, to outlive the release.
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(keptPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	k.ensureNamespaces(t, "kept")
	k.run(t, nil, "apply", "-f", policy)

	if _, err := helm(kc, nil, "upgrade", release, chartDir, "--namespace", namespace, "--reuse-values",
		"--set", "replicaCount=3", "--set", "podDisruptionBudget.enabled=true"); err != nil {
		t.Fatal(err)
	}
	if got := k.run(t, nil, "get", "deployment", "authgate", "-n", namespace, "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas %q after upgrade, want 3", got)
	}
	k.run(t, nil, "get", "poddisruptionbudget", "authgate", "-n", namespace)

	out, err = helm(kc, nil, "uninstall", release, "--namespace", namespace)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "authpolicies.authgate.io") || !strings.Contains(out, "kept due to the resource policy") {
		t.Errorf("helm uninstall does not report the kept CRD:\n%s", out)
	}
	if got := k.run(t, nil, "get", "deployments,services,serviceaccounts,roles", "-n", namespace, "-o", "name"); got != "" {
		t.Errorf("left after uninstall:\n%s", got)
	}
	k.run(t, nil, "get", crd)
	k.run(t, nil, "get", "authpolicy", "kept", "-n", "kept")

	// The kept CRD still carries the release's ownership marks: installing
	// the same release again adopts it without help.
	if _, err := helm(kc, nil, "install", release, chartDir, "--namespace", namespace); err != nil {
		t.Fatalf("re-install over the kept CRD: %v", err)
	}
	// Turning the CRD off on upgrade leaves it in place too.
	if _, err := helm(kc, nil, "upgrade", release, chartDir, "--namespace", namespace, "--reuse-values", "--set", "crds.enabled=false"); err != nil {
		t.Fatal(err)
	}
	k.run(t, nil, "get", crd)
	k.run(t, nil, "get", "authpolicy", "kept", "-n", "kept")
	if _, err := helm(kc, nil, "uninstall", release, "--namespace", namespace); err != nil {
		t.Fatal(err)
	}
}

// keptPolicy is a valid AuthPolicy that must survive helm uninstall.
const keptPolicy = `apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: kept
  namespace: kept
spec:
  hosts: ["kept.example.com"]
  rules:
  - name: public
    match: {pathPrefix: /}
    allowAnonymous: true
`
