package helm

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTemplateGolden renders each value set and compares it with
// testdata/golden/<set>.yaml; -update rewrites the goldens.
func TestTemplateGolden(t *testing.T) {
	needHelm(t)
	for name, args := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			got := render(t, args...)
			path := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./test/helm/ -update)", err)
			}
			if got != string(want) {
				t.Errorf("helm template with %s differs from %s (run go test ./test/helm/ -update and review the diff):\n%s",
					name, path, lineDiff(string(want), got))
			}
			// Every value set renders valid objects with a name.
			for _, o := range objects(t, got) {
				if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
					t.Errorf("rendered an object without apiVersion, kind or name: %v", o.Object)
				}
			}
		})
	}
}
