package translate_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/translate"
)

// update rewrites the golden *.out.yaml files from the current code
// (make golden). Review the diff before committing it.
var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current translation")

// wantPrefix marks a line in an .in.yaml that names an error the input must
// produce. The golden file pins the whole output; these lines pin intent, so
// that `-update` cannot silently bless a regression (a valid input turning
// invalid, or an invalid one losing the error it exists to show).
const wantPrefix = "# want: "

type goldenCase struct {
	in, out string
}

// goldenCases pairs every testdata/*.in.yaml with its .out.yaml, and every
// sample policy in config/samples with testdata/samples/<name>.out.yaml, so
// the shipped samples are goldens without a copy that could drift.
func goldenCases(t *testing.T) map[string]goldenCase {
	t.Helper()
	cases := map[string]goldenCase{}
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		cases[name] = goldenCase{in: in, out: filepath.Join("testdata", name+".out.yaml")}
	}
	samples, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range samples {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		cases["samples/"+name] = goldenCase{in: in, out: filepath.Join("testdata", "samples", name+".out.yaml")}
	}
	if len(ins) == 0 || len(samples) == 0 {
		t.Fatalf("found %d testdata inputs and %d samples; the globs are wrong", len(ins), len(samples))
	}
	return cases
}

func TestAuthPolicyGolden(t *testing.T) {
	cases := goldenCases(t)
	// An .out.yaml whose input was renamed or deleted would sit in testdata
	// looking like coverage; make verify would never notice it.
	outs := map[string]bool{}
	for _, tc := range cases {
		outs[tc.out] = true
	}
	for _, pattern := range []string{"*.out.yaml", filepath.Join("samples", "*.out.yaml")} {
		files, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !outs[f] {
				t.Errorf("%s has no input; delete it", f)
			}
		}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var ap v1alpha1.AuthPolicy
			// Strict, as the folder source decodes: a typo in a test input
			// must fail here, not quietly test something else.
			if err := yaml.UnmarshalStrict(raw, &ap); err != nil {
				t.Fatalf("decoding %s: %v", tc.in, err)
			}
			p, terr := translate.AuthPolicy(&ap, testSecrets)
			got := render(t, p, terr)

			checkWants(t, wants(raw), p, terr)

			if *update {
				if err := os.MkdirAll(filepath.Dir(tc.out), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(tc.out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(tc.out)
			if err != nil {
				t.Fatalf("%v (run `make golden` to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation (run `make golden` and review the diff)\n--- got\n%s--- want\n%s", tc.out, got, want)
			}
		})
	}
}

// render is the golden form: the policy as YAML, or the field errors one per
// line, in the order translate reports them.
func render(t *testing.T, p *policy.Policy, err error) []byte {
	t.Helper()
	if err != nil {
		if p != nil {
			t.Errorf("got a policy and an error; want one or the other")
		}
		var fes policy.FieldErrors
		if !errors.As(err, &fes) {
			t.Fatalf("error is %T, want policy.FieldErrors: %v", err, err)
		}
		var b bytes.Buffer
		for _, fe := range fes {
			b.WriteString(fe.Error())
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	out, merr := yaml.Marshal(p)
	if merr != nil {
		t.Fatal(merr)
	}
	return out
}

func wants(raw []byte) []string {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(raw))
	for s.Scan() {
		if w, ok := strings.CutPrefix(s.Text(), wantPrefix); ok {
			out = append(out, w)
		}
	}
	return out
}

func checkWants(t *testing.T, want []string, p *policy.Policy, err error) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("input has no %q lines, so it must translate; got %v", wantPrefix, err)
		}
		// A translated policy must pass its own validation: the store
		// relies on it and never re-checks.
		if verr := p.Validate(); verr != nil {
			t.Fatalf("translated policy does not validate: %v", verr)
		}
		return
	}
	if err == nil {
		t.Fatalf("translation succeeded; want errors %q", want)
	}
	var got []string
	var fes policy.FieldErrors
	if errors.As(err, &fes) {
		for _, fe := range fes {
			got = append(got, fe.Error())
		}
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing error %q\ngot:\n  %s", w, strings.Join(got, "\n  "))
		}
	}
}

// TestAuthPolicyPure checks what the package comment promises: the same input
// gives the same output, and the input is not modified.
func TestAuthPolicyPure(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ap v1alpha1.AuthPolicy
	if err := yaml.UnmarshalStrict(raw, &ap); err != nil {
		t.Fatal(err)
	}
	// A second decode is the deep copy: the API has no generated DeepCopy.
	var before v1alpha1.AuthPolicy
	if err := yaml.UnmarshalStrict(raw, &before); err != nil {
		t.Fatal(err)
	}
	p1, err := translate.AuthPolicy(&ap, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := translate.AuthPolicy(&ap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p1, p2) {
		t.Errorf("two translations of one input differ:\n%+v\n%+v", p1, p2)
	}
	if !reflect.DeepEqual(ap, before) {
		t.Errorf("translation modified its input")
	}
}

// testSecrets holds the Secrets the test inputs and samples reference.
func testSecrets(_, name, key string) ([]byte, bool) {
	if name == "web-introspection" && key == "clientSecret" {
		return []byte("s3cret\n"), true
	}
	return nil, false
}
