package helm

import (
	"path/filepath"
	"strings"
	"testing"
)

// valueSets are the value files under testdata/values, by name; "default"
// (no file) comes first.
func valueSets(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "values", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("want at least 3 value sets in testdata/values, found %d", len(files))
	}
	sets := map[string][]string{"default": nil}
	for _, f := range files {
		sets[strings.TrimSuffix(filepath.Base(f), ".yaml")] = []string{"-f", f}
	}
	return sets
}

func TestLint(t *testing.T) {
	needHelm(t)
	cases := map[string][]string{"default, not strict": nil}
	for name, args := range valueSets(t) {
		cases[name+", strict"] = append([]string{"--strict"}, args...)
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := helm("", nil, append([]string{"lint", chartDir}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint did not report success:\n%s", out)
			}
			// Lint's INFO about a missing icon is the only finding allowed.
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "[") && !strings.Contains(line, "icon is recommended") {
					t.Errorf("helm lint finding: %s", line)
				}
			}
		})
	}
}
