package helm

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestAuthgateRunsWithChartRBAC runs the authgate binary the way the chart's
// Deployment does (its args and POD_NAMESPACE; only the listen addresses
// moved to loopback) and as the chart's ServiceAccount, so that the API
// server grants it exactly the chart's RBAC. authgate must become ready
// (AuthPolicies and Secrets listed and watched), win the Lease and write an
// AuthPolicy's status: the chart's args parse and its RBAC suffices,
// cluster-wide and with watchNamespaces.
func TestAuthgateRunsWithChartRBAC(t *testing.T) {
	needCluster(t)
	k := newKubectl(t)
	bin := buildAuthgate(t)
	httpClient := &http.Client{Timeout: 2 * time.Second}

	cases := map[string]struct {
		args     []string
		policyNS string
	}{
		"cluster-wide": {policyNS: "run-cw-policies"},
		"namespaced": {
			args:     []string{"--set", "config.watchNamespaces={run-ns-policies}"},
			policyNS: "run-ns-policies",
		},
		// Tracing to a collector that is not there: the chart's tracing
		// flags parse, and authgate serves and writes status regardless.
		"tracing": {
			args:     []string{"--set", "tracing.otlpEndpoint=127.0.0.1:1", "--set", "tracing.insecure=true", "--set", "tracing.sampleRatio=0.5"},
			policyNS: "run-tracing-policies",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := "run-" + name
			// The label selector keeps each case's authgate to its own policy:
			// both may watch the same namespaces.
			shard := "authgate.io/test-shard=" + name
			objs := objects(t, renderIn(t, ns, append([]string{"--set", "config.labelSelector=" + shard}, tc.args...)...))
			var rest []*unstructured.Unstructured
			for _, o := range objs {
				if o.GetKind() != "CustomResourceDefinition" { // installed already
					rest = append(rest, o)
				}
			}
			k.ensureNamespaces(t, append(namespacesOf(objs), tc.policyNS)...)
			k.apply(t, toYAML(t, rest), false)

			d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", ""))
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			metricsAddr := freeAddr(t)
			args := make([]string, 0, len(c.Args)+1)
			for _, a := range c.Args {
				switch flag, _, _ := strings.Cut(a, "="); flag {
				case "--http-addr", "--grpc-addr":
					a = flag + "=" + freeAddr(t)
				case "--metrics-addr":
					a = flag + "=" + metricsAddr
				}
				args = append(args, a)
			}
			sa := envtest.User{
				Name:   fmt.Sprintf("system:serviceaccount:%s:%s", ns, pod.ServiceAccountName),
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns},
			}
			args = append(args, "--kubeconfig", kubeconfigFor(t, sa))
			p := startProcess(t, "authgate", []string{"POD_NAMESPACE=" + ns}, bin, args...)

			waitUntil(t, p, "authgate /readyz", func() error {
				res, err := httpClient.Get("http://" + metricsAddr + "/readyz")
				if err != nil {
					return err
				}
				defer res.Body.Close()
				if res.StatusCode != http.StatusOK {
					return fmt.Errorf("%s", res.Status)
				}
				return nil
			})

			policy := filepath.Join(t.TempDir(), "policy.yaml")
			label, value, _ := strings.Cut(shard, "=")
			if err := os.WriteFile(policy, []byte(fmt.Sprintf(runPolicy, tc.policyNS, label, value, name)), 0o600); err != nil {
				t.Fatal(err)
			}
			k.run(t, nil, "apply", "-f", policy)
			waitUntil(t, p, "authgate (the leader) to write the policy's status", func() error {
				got, err := k.output(nil, "get", "authpolicy", "run", "-n", tc.policyNS,
					"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
				if err != nil {
					return err
				}
				if got != "True" {
					return fmt.Errorf("Ready is %q", got)
				}
				return nil
			})
			if holder := k.run(t, nil, "get", "lease", "authgate-status-writer", "-n", ns, "-o", "jsonpath={.spec.holderIdentity}"); holder == "" {
				t.Error("the chart's Lease has no holder")
			}
			if out := p.Output(); strings.Contains(out, "forbidden") {
				t.Errorf("authgate was refused something with the chart's RBAC:\n%s", out)
			}
		})
	}
}

// runPolicy is the AuthPolicy each case serves: namespace, shard label and
// value, and a host unique to the case.
const runPolicy = `apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: run
  namespace: %s
  labels:
    %s: %s
spec:
  hosts: ["%s.run.example.com"]
  rules:
  - name: public
    match: {pathPrefix: /}
    allowAnonymous: true
`
