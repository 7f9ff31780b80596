package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/controller"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/devissuer"
)

// checkOutput is the part of `authgate check --output json` the test reads.
type checkOutput struct {
	Allow           bool              `json:"allow"`
	Status          int               `json:"status"`
	Reason          string            `json:"reason"`
	Policy          string            `json:"policy"`
	Rule            string            `json:"rule"`
	Subject         string            `json:"subject"`
	ResponseHeaders map[string]string `json:"responseHeaders"`
	Problems        []struct {
		Policy, Reason string
	} `json:"policyProblems"`
}

// TestCheckKubeconfig runs the built `authgate check --kubeconfig` against
// the test API server: it must see the cluster's AuthPolicies (namespace and
// label selector as serve applies them), resolve the Secrets they reference
// as the controller does, and say which policies are not in force.
func TestCheckKubeconfig(t *testing.T) {
	bin := buildAuthgate(t)
	kc := newKubectl(t).kubeconfig
	ns, other := namespace(t), namespace(t)
	ctx := context.Background()

	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	token, err := iss.Mint(devissuer.Token{Subject: "alice", Audience: []string{"check"}})
	if err != nil {
		t.Fatal(err)
	}

	jwtPolicy := &v1alpha1.AuthPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app", Labels: map[string]string{"shard": "a"}},
		Spec: v1alpha1.AuthPolicySpec{
			Hosts:          []string{"app.check.example.com"},
			Authenticators: []v1alpha1.Authenticator{{Name: "dev", JWT: &v1alpha1.JWTAuthenticator{Issuer: iss.URL, Audiences: []string{"check"}}}},
			Rules:          []v1alpha1.Rule{{Name: "default", Match: v1alpha1.Match{PathPrefix: "/"}}},
		},
	}
	// introspection authenticators read their client secret from a Secret:
	// one present, one missing.
	intro := func(name, host, secret string) *v1alpha1.AuthPolicy {
		return &v1alpha1.AuthPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"shard": "a"}},
			Spec: v1alpha1.AuthPolicySpec{
				Hosts: []string{host},
				Authenticators: []v1alpha1.Authenticator{{Name: "opaque", Introspection: &v1alpha1.IntrospectionAuthenticator{
					URL: "http://127.0.0.1:1/introspect", ClientID: "authgate",
					ClientSecretRef: &v1alpha1.SecretKeyRef{Name: secret, Key: "secret"},
				}}},
				Rules: []v1alpha1.Rule{{Name: "default", Match: v1alpha1.Match{PathPrefix: "/"}}},
			},
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "introspection"}, StringData: map[string]string{"secret": "s3cr3t-value"}}
	otherShard := open(ns, "other-shard", []string{"shard-b.check.example.com"}, "/")
	otherShard.Labels = map[string]string{"shard": "b"}
	elsewhere := open(other, "elsewhere", []string{"elsewhere.check.example.com"}, "/")
	for _, obj := range []client.Object{secret, jwtPolicy, intro("with-secret", "intro.check.example.com", "introspection"),
		intro("missing-secret", "missing.check.example.com", "absent"), otherShard, elsewhere} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatalf("create %s: %v", obj.GetName(), err)
		}
	}

	tests := map[string]struct {
		args       []string
		wantCode   int
		want       checkOutput
		wantHeader string // X-Authgate-Reason on the denial
		problem    string // a policy reported as not in force, "ns-relative name=Reason"
	}{
		"valid token in all namespaces": {
			args:     []string{"--url", "https://app.check.example.com/x", "-H", "Authorization: Bearer " + token},
			wantCode: 0, want: checkOutput{Allow: true, Status: 200, Reason: "allowed", Policy: ns + "/app", Rule: "default", Subject: "alice"},
		},
		"no token, reason code in the response": {
			args:     []string{"--namespace", ns, "--url", "https://app.check.example.com/x"},
			wantCode: 1, want: checkOutput{Status: 401, Reason: "no_credential", Policy: ns + "/app", Rule: "default"},
			wantHeader: "no_credential",
		},
		"secret read from the policy's namespace": {
			args:     []string{"--namespace", ns, "--url", "https://intro.check.example.com/"},
			wantCode: 1, want: checkOutput{Status: 401, Reason: "no_credential", Policy: ns + "/with-secret", Rule: "default"},
			wantHeader: "no_credential", problem: "missing-secret=" + controller.ReasonRefNotFound,
		},
		"missing secret keeps the policy out": {
			args:     []string{"--namespace", ns, "--url", "https://missing.check.example.com/"},
			wantCode: 1, want: checkOutput{Status: 403, Reason: "unknown_host"},
			wantHeader: "unknown_host", problem: "missing-secret=" + controller.ReasonRefNotFound,
		},
		"label selector matches": {
			args:     []string{"--label-selector", "shard=b", "--url", "https://shard-b.check.example.com/"},
			wantCode: 0, want: checkOutput{Allow: true, Status: 200, Reason: "anonymous", Policy: ns + "/other-shard", Rule: "r0"},
		},
		"label selector leaves the policy out": {
			args:     []string{"--label-selector", "shard=a", "--url", "https://shard-b.check.example.com/"},
			wantCode: 1, want: checkOutput{Status: 403, Reason: "unknown_host"}, wantHeader: "unknown_host",
		},
		"namespace leaves the policy out": {
			args:     []string{"--namespace", ns, "--url", "https://elsewhere.check.example.com/"},
			wantCode: 1, want: checkOutput{Status: 403, Reason: "unknown_host"}, wantHeader: "unknown_host",
		},
		"other namespace": {
			args:     []string{"--namespace", other, "--url", "https://elsewhere.check.example.com/"},
			wantCode: 0, want: checkOutput{Allow: true, Status: 200, Reason: "anonymous", Policy: other + "/elsewhere", Rule: "r0"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			runCtx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			args := append([]string{"check", "--kubeconfig", kc, "--output", "json"}, tc.args...)
			cmd := exec.CommandContext(runCtx, bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("authgate check: %v\n%s", err, stderr.String())
			}
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			var got checkOutput
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			if got.Allow != tc.want.Allow || got.Status != tc.want.Status || got.Reason != tc.want.Reason ||
				got.Policy != tc.want.Policy || got.Rule != tc.want.Rule || got.Subject != tc.want.Subject {
				t.Errorf("decision %+v, want %+v", got, tc.want)
			}
			if h := got.ResponseHeaders[decision.ReasonHeader]; h != tc.wantHeader {
				t.Errorf("%s = %q, want %q", decision.ReasonHeader, h, tc.wantHeader)
			}
			if tc.problem != "" {
				name, reason, _ := strings.Cut(tc.problem, "=")
				found := false
				for _, p := range got.Problems {
					found = found || (p.Policy == ns+"/"+name && p.Reason == reason)
				}
				if !found {
					t.Errorf("problems %+v, want %s/%s %s", got.Problems, ns, name, reason)
				}
			}
			if strings.Contains(stdout.String(), "s3cr3t-value") || strings.Contains(stdout.String(), token) {
				t.Errorf("the output carries a secret or the token:\n%s", stdout.String())
			}
		})
	}
}
