package helm

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// documentedValue is a key of values.yaml with a "# --" comment.
type documentedValue struct {
	path   string // dotted: config.leaderElection.enabled
	inline string // the value on the key's line ("" for a block)
}

var (
	valuesKey = regexp.MustCompile(`^(\s*)([A-Za-z][A-Za-z0-9]*):(.*)$`)
	// docsRow is a row of docs/helm.md's values table.
	docsRow = regexp.MustCompile("^\\| `([A-Za-z][A-Za-z0-9.]*)` \\|")
)

// documentedValues reads values.yaml line by line (comments are lost to a
// YAML parser): the keys a "# --" comment documents, and the leaf keys that
// neither they nor an ancestor document.
func documentedValues(t *testing.T) (docs []documentedValue, undocumented []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		indent     int
		name       string
		documented bool
	}
	var stack []key
	doc := false
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "# --"):
			doc = true
			continue
		case strings.HasPrefix(trimmed, "#"):
			continue
		case trimmed == "":
			doc = false
			continue
		}
		m := valuesKey.FindStringSubmatch(line)
		if m == nil { // a list item of a block value
			doc = false
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		inherited := false
		names := make([]string, 0, len(stack)+1)
		for _, k := range stack {
			names = append(names, k.name)
			inherited = inherited || k.documented
		}
		names = append(names, m[2])
		stack = append(stack, key{indent: indent, name: m[2], documented: doc})
		path := strings.Join(names, ".")
		inline := strings.TrimSpace(m[3])
		switch {
		case doc:
			docs = append(docs, documentedValue{path: path, inline: inline})
		case inline != "" && !inherited:
			undocumented = append(undocumented, path)
		}
		doc = false
	}
	return docs, undocumented
}

// TestValuesDocumented: every value in values.yaml has a "# --" comment
// (its own or its block's), and docs/helm.md's table has a row for each,
// with the same default, and no row for a key that does not exist.
func TestValuesDocumented(t *testing.T) {
	docs, undocumented := documentedValues(t)
	for _, p := range undocumented {
		t.Errorf("values.yaml: %s has no \"# --\" comment", p)
	}
	if len(docs) < 30 {
		t.Fatalf("found %d documented values: the parser is off", len(docs))
	}
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "helm.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(md), "\n") {
		if m := docsRow.FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	known := map[string]bool{}
	for _, d := range docs {
		known[d.path] = true
		row, ok := rows[d.path]
		if !ok {
			t.Errorf("docs/helm.md: no row for %s", d.path)
			continue
		}
		if d.inline != "" && !strings.Contains(row, "`"+d.inline+"`") {
			t.Errorf("docs/helm.md: the row for %s does not give its default `%s`:\n%s", d.path, d.inline, row)
		}
	}
	for p := range rows {
		if !known[p] {
			t.Errorf("docs/helm.md: a row for %s, which values.yaml does not have", p)
		}
	}
}
