package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/authgate/authgate/pkg/devissuer"
)

// e2eHost is the host the test policy claims. The binary watches only the
// test's namespace, so no other test's policy can claim it.
const e2eHost = "e2e.example.com"

// TestE2EKubernetesMode runs the authgate binary in Kubernetes mode against
// the test API server and drives it the way an operator does: kubectl apply,
// get and delete. Decisions are checked over both HTTP and gRPC, and the
// status the binary writes is checked as kubectl prints it.
func TestE2EKubernetesMode(t *testing.T) {
	kubectl := newKubectl(t)
	bin := buildAuthgate(t)
	ns := namespace(t)

	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	token, err := iss.Mint(devissuer.Token{Subject: "alice", Audience: []string{"e2e"}})
	if err != nil {
		t.Fatal(err)
	}

	httpAddr, grpcAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := startProcess(t, "authgate", bin, "serve",
		"--kubeconfig", kubectl.kubeconfig,
		"--watch-namespaces", ns, "--leader-election-namespace", ns,
		"--http-addr", httpAddr, "--grpc-addr", grpcAddr, "--metrics-addr", metricsAddr)
	waitUntil(t, p, "authgate /readyz", func() error {
		return statusOK(httpClient.Get("http://" + metricsAddr + "/readyz"))
	})

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := checker{httpAddr: httpAddr, grpc: authv3.NewAuthorizationClient(conn)}

	manifest := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(manifest, []byte(e2ePolicy(ns, iss.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl.run(t, "apply", "-f", manifest)

	waitUntil(t, p, "the applied policy to decide", func() error {
		return c.want("/private", token, http.StatusOK, codes.OK, "alice")
	})
	cases := map[string]struct {
		path, token string
		http        int
		grpc        codes.Code
		user        string
	}{
		"token":             {path: "/private", token: token, http: http.StatusOK, grpc: codes.OK, user: "alice"},
		"no token":          {path: "/private", http: http.StatusUnauthorized, grpc: codes.Unauthenticated},
		"public anonymous":  {path: "/public/x", http: http.StatusOK, grpc: codes.OK},
		"public with token": {path: "/public/x", token: token, http: http.StatusOK, grpc: codes.OK, user: "alice"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := c.want(tc.path, tc.token, tc.http, tc.grpc, tc.user); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Status is written by the binary (the elected leader); kubectl shows it
	// through the CRD's printer columns, by full name and by short name.
	for _, resource := range []string{"authpolicies", "ap"} {
		waitUntil(t, p, "kubectl get "+resource+" to show the policy Ready", func() error {
			out, err := kubectl.output("get", resource, "-n", ns)
			if err != nil {
				return err
			}
			row, err := tableRow(out, "e2e")
			if err != nil {
				return err
			}
			if !strings.Contains(row["HOSTS"], e2eHost) {
				return fmt.Errorf("HOSTS %q, want %s", row["HOSTS"], e2eHost)
			}
			if row["READY"] != "True" || row["REASON"] != "Accepted" {
				return fmt.Errorf("READY %q REASON %q, want True Accepted", row["READY"], row["REASON"])
			}
			return nil
		})
	}

	kubectl.run(t, "delete", "-f", manifest)
	waitUntil(t, p, "the deleted policy to stop deciding", func() error {
		return c.wantUnknownHost("/private", token)
	})
	if err := c.wantUnknownHost("/public/x", ""); err != nil {
		t.Fatal(err)
	}
}

// e2ePolicy is the AuthPolicy the test applies: anonymous below /public, a
// JWT from the test issuer everywhere else.
func e2ePolicy(ns, issuer string) string {
	return fmt.Sprintf(`apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: e2e
  namespace: %s
spec:
  hosts: [%q]
  authenticators:
  - name: dev
    jwt:
      issuer: %q
      audiences: ["e2e"]
  rules:
  - name: public
    match: {pathPrefix: /public}
    allowAnonymous: true
  - name: default
    match: {pathPrefix: /}
`, ns, e2eHost, issuer)
}

// kubectl runs the kubectl built with the envtest assets, as a cluster
// admin of the test API server.
type kubectl struct {
	bin, kubeconfig, cacheDir string
}

// newKubectl fails the test when the assets lack kubectl: a skip would hide
// that this test never ran.
func newKubectl(t *testing.T) *kubectl {
	t.Helper()
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubectl is missing from KUBEBUILDER_ASSETS (hack/setup-envtest.sh builds it): %v", err)
	}
	user, err := env.AddUser(envtest.User{Name: "authgate-e2e", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("failed to add a user to the test API server: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("failed to build a kubeconfig: %v", err)
	}
	dir := t.TempDir()
	k := &kubectl{bin: bin, kubeconfig: filepath.Join(dir, "kubeconfig"), cacheDir: filepath.Join(dir, "cache")}
	if err := os.WriteFile(k.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// output runs kubectl, bounded by waitTimeout, and returns its stdout; the
// error carries stderr.
func (k *kubectl) output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// --cache-dir keeps the discovery cache out of $HOME.
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (k *kubectl) run(t *testing.T, args ...string) {
	t.Helper()
	if _, err := k.output(args...); err != nil {
		t.Fatal(err)
	}
}

// tableRow finds the row named name in kubectl's table output and returns
// it keyed by column header. Cells must not contain spaces, which holds for
// the columns read here.
func tableRow(out, name string) (map[string]string, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	for _, line := range lines[1:] {
		cells := strings.Fields(line)
		if len(cells) == 0 || cells[0] != name {
			continue
		}
		if len(cells) != len(header) {
			return nil, fmt.Errorf("row %q does not fit header %q", line, lines[0])
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			row[h] = cells[i]
		}
		return row, nil
	}
	return nil, fmt.Errorf("no row %q in:\n%s", name, out)
}

// statusOK takes a Get's results and says whether the answer was 200.
func statusOK(res *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", res.Status)
	}
	return nil
}
