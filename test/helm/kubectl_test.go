package helm

// kubectl and kubeconfigs for the test control plane.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// kubectl runs the kubectl built with the envtest assets as some user of
// the test API server.
type kubectl struct {
	bin, kubeconfig, cacheDir string
}

// newKubectl is kubectl as a cluster admin. It fails the test when the
// assets lack kubectl: a skip would hide that the test never ran.
func newKubectl(t *testing.T) *kubectl {
	t.Helper()
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubectl is missing from KUBEBUILDER_ASSETS (hack/setup-envtest.sh builds it): %v", err)
	}
	dir := t.TempDir()
	return &kubectl{bin: bin, kubeconfig: kubeconfigFor(t, envtest.User{Name: "helm-test", Groups: []string{"system:masters"}}), cacheDir: filepath.Join(dir, "cache")}
}

// kubeconfigFor writes a kubeconfig that authenticates as user (a client
// certificate) and returns its path.
func kubeconfigFor(t *testing.T, user envtest.User) string {
	t.Helper()
	u, err := env.AddUser(user, nil)
	if err != nil {
		t.Fatalf("failed to add user %s to the test API server: %v", user.Name, err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatalf("failed to build a kubeconfig for %s: %v", user.Name, err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// output runs kubectl with stdin (may be nil), bounded by commandTimeout,
// and returns its stdout; the error carries stderr and, through errors.As,
// the *exec.ExitError.
func (k *kubectl) output(stdin io.Reader, args ...string) (string, error) {
	out, _, err := k.outputs(stdin, args...)
	return out, err
}

// outputs is output that also returns stderr, where kubectl prints the API
// server's warnings.
func (k *kubectl) outputs(stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	// --cache-dir keeps the discovery cache out of $HOME.
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}, args...)...)
	cmd.Stdin = stdin
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("not done within %s: %w", commandTimeout, err)
		}
		return string(out), errBuf.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errBuf.String())
	}
	return string(out), errBuf.String(), nil
}

// run is output that fails the test on error.
func (k *kubectl) run(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, err := k.output(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply applies manifest with server-side apply, for real or (dryRun) as a
// server-side dry run, and returns kubectl's report and the API server's
// warnings.
func (k *kubectl) apply(t *testing.T, manifest string, dryRun bool) (report, warnings string) {
	t.Helper()
	args := []string{"apply", "--server-side", "--field-manager=helm-test", "-f", "-"}
	if dryRun {
		args = append(args, "--dry-run=server")
	}
	report, warnings, err := k.outputs(strings.NewReader(manifest), args...)
	if err != nil {
		t.Fatal(err)
	}
	return report, warnings
}

// ensureNamespaces creates the namespaces that do not exist yet. Each warns
// about workloads that break the "restricted" Pod Security Standard.
func (k *kubectl) ensureNamespaces(t *testing.T, names ...string) {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n"+
			"  labels:\n    pod-security.kubernetes.io/warn: restricted\n", n)
	}
	k.apply(t, b.String(), false)
}
