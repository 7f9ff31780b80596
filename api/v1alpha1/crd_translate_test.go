package v1alpha1_test

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/api/v1alpha1"
	"github.com/authgate/authgate/pkg/translate"
)

// admissionStricter lists the inputs translate accepts that the apiserver
// rejects on purpose, and why. Anything else translate accepts must also be
// admitted: a policy that loads in standalone mode must apply to a cluster.
var admissionStricter = map[string]string{
	"hosts.in.yaml": "translate normalises upper-case hosts and a trailing dot; the CRD asks for the normal form",
}

// TestCRDAdmitsWhatTranslateAccepts runs every translate input and sample
// through both. The CRD's checks are a subset of translate's: it may let
// through what translate rejects (logged, to show what admission catches),
// never the reverse.
func TestCRDAdmitsWhatTranslateAccepts(t *testing.T) {
	v := newValidator(t)
	ins, err := filepath.Glob("../../pkg/translate/testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	samples, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 || len(samples) == 0 {
		t.Fatalf("found %d translate inputs and %d samples; the globs are wrong", len(ins), len(samples))
	}
	secrets := func(_, _, _ string) ([]byte, bool) { return []byte("secret"), true }
	for _, f := range append(ins, samples...) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ap v1alpha1.AuthPolicy
			if err := yaml.UnmarshalStrict(data, &ap); err != nil {
				t.Fatalf("failed to decode: %v", err)
			}
			_, translateErr := translate.AuthPolicy(&ap, secrets)
			admitErr := v.validate(decode(t, data)).ToAggregate()
			switch {
			case translateErr == nil && admitErr != nil && admissionStricter[name] == "":
				t.Errorf("translate accepts, the apiserver would reject: %v", admitErr)
			case translateErr == nil && admitErr == nil && admissionStricter[name] != "":
				t.Errorf("listed in admissionStricter but admitted: remove it")
			case translateErr != nil && admitErr != nil:
				t.Logf("caught at admission: %v", admitErr)
			case translateErr != nil:
				t.Logf("caught by translate only: %v", translateErr)
			}
		})
	}
}
