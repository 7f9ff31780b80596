package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestEveryReasonIsDocumented: each decision.Reason constant has a row in
// docs/operations.md, which on-call engineers read to understand the
// reason label of authgate_decisions_total.
func TestEveryReasonIsDocumented(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../pkg/decision/decision.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || vs.Type == nil {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
			return true
		}
		for _, v := range vs.Values {
			if lit, ok := v.(*ast.BasicLit); ok {
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				reasons = append(reasons, s)
			}
		}
		return true
	})
	if len(reasons) < 10 {
		t.Fatalf("found %d Reason constants in pkg/decision: the parser is off", len(reasons))
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reasons {
		if !strings.Contains(string(doc), "| `"+r+"` |") {
			t.Errorf("docs/operations.md has no row for the reason %q", r)
		}
	}
}
