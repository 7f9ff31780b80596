// Package helm tests the Helm chart in charts/authgate: helm lint, golden
// renders of interesting value sets, the values schema, and the rendered
// objects against a real kube-apiserver and etcd (controller-runtime's
// envtest): a server-side dry run of everything, a real apply of the CRD and
// RBAC, a real helm install, upgrade and uninstall, and the authgate binary
// running with exactly the permissions the chart grants.
//
// helm is built from the Go module proxy by `bash hack/tools.sh helm`
// (`make test` does it); the envtest binaries by hack/setup-envtest.sh.
// Without them the tests skip locally and fail when CI is set.
package helm

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// chartDir is the chart under test, relative to this package.
var chartDir = filepath.Join("..", "..", "charts", "authgate")

var (
	// helmBin is the helm binary; helmErr says why there is none.
	helmBin string
	helmErr error
	// helmHome isolates helm's cache, config and data from the user's.
	helmHome string
	// env is the test control plane; nil when KUBEBUILDER_ASSETS is unset.
	env *envtest.Environment
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	helmBin, helmErr = findHelm()
	var err error
	if helmHome, err = os.MkdirTemp("", "authgate-helm-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(helmHome)

	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		env = &envtest.Environment{
			// The ServiceMonitor CRD in testdata/crds is a schema-less
			// stand-in, so that the chart's ServiceMonitor can be dry-run.
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join("testdata", "crds")},
			ErrorIfCRDPathMissing: true,
		}
		if _, err := env.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "failed to start envtest:", err)
			return 1
		}
		defer func() {
			if err := env.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "failed to stop envtest:", err)
			}
		}()
	}
	return m.Run()
}

// findHelm finds helm in $HELM, else where hack/tools.sh puts it.
func findHelm() (string, error) {
	path := os.Getenv("HELM")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no $HELM and no home directory: %w", err)
		}
		path = filepath.Join(home, ".cache", "authgate", "bin", "helm")
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("helm not found (%w): run `bash hack/tools.sh helm` or set $HELM", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("helm at %s is not an executable file: run `bash hack/tools.sh helm`", path)
	}
	return path, nil
}

// needHelm stops the test without helm: a failure in CI, where a skip would
// hide that the chart was never tested; a skip elsewhere.
func needHelm(t *testing.T) {
	t.Helper()
	if helmErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(helmErr)
	}
	t.Skip(helmErr)
}

// needCluster stops the test without the envtest control plane, like needHelm.
func needCluster(t *testing.T) {
	t.Helper()
	needHelm(t)
	if env != nil {
		return
	}
	const why = "KUBEBUILDER_ASSETS is not set: run the tests with `make test` (hack/setup-envtest.sh builds the assets)"
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
