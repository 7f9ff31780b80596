// Package docs checks that the documentation stays true to the code: every
// AuthPolicy shown in README.md and docs/*.md loads.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/source"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

func TestPoliciesInDocsLoad(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	secrets := func(_, _, _ string) ([]byte, bool) { return []byte("secret"), true }
	found := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
			if !strings.Contains(m[1], "kind: AuthPolicy") {
				continue
			}
			found++
			if _, err := source.ParseFile(filepath.Base(f), []byte(m[1]), secrets); err != nil {
				t.Errorf("%s, YAML block %d does not load: %v", f, i+1, err)
			}
		}
	}
	if found == 0 {
		t.Fatal("no AuthPolicy found in the docs: the pattern is stale")
	}
}
