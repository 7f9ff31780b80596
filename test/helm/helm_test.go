package helm

// Running helm and reading what it renders.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// commandTimeout bounds every helm and kubectl run.
const commandTimeout = 2 * time.Minute

// release and namespace are what the goldens are rendered as: the names of
// `helm install authgate charts/authgate -n authgate`.
const (
	release   = "authgate"
	namespace = "authgate"
)

// helm runs helm with args, bounded by commandTimeout, with its state in
// helmHome and, when kubeconfig is set, against that cluster. The error
// carries stderr.
func helm(kubeconfig string, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if kubeconfig == "" {
		// A file that does not exist: template and lint must not need a cluster.
		kubeconfig = filepath.Join(helmHome, "no-cluster")
	}
	cmd := exec.CommandContext(ctx, helmBin, args...)
	cmd.Env = []string{
		"HOME=" + helmHome,
		"HELM_CACHE_HOME=" + filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME=" + filepath.Join(helmHome, "data"),
		"KUBECONFIG=" + kubeconfig,
	}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("not done within %s: %w", commandTimeout, err)
		}
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render runs helm template for the goldens' release and namespace with
// extra arguments (-f, --set), and fails the test on error.
func render(t *testing.T, args ...string) string {
	t.Helper()
	return renderIn(t, namespace, args...)
}

// renderIn renders the chart as release "authgate" in namespace ns.
func renderIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := helm("", nil, append([]string{"template", release, chartDir, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects splits rendered YAML into objects, leaving out empty documents.
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("rendered YAML does not parse: %v", err)
		}
		if len(o) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: o})
	}
}

// find returns the one object of kind (and name, unless empty), failing the
// test when there is not exactly one.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, rendered %d", kind, name, len(found))
	}
	return found[0]
}

// kinds counts the rendered objects by kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		n[o.GetKind()]++
	}
	return n
}

// toYAML joins objects into one multi-document manifest.
func toYAML(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		data, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		// JSON is YAML; one document per object.
		b.WriteString("---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	return b.String()
}
