package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/api/v1alpha1"
)

// These tests check the generated CRD without an apiserver: its shape, that
// the apiserver would accept it (structural schema, CEL compiling within the
// cost limits), and that objects are validated as the apiserver's
// custom-resource strategy does (schema, list types, CEL rules).

const crdFile = "../../config/crd/bases/authgate.io_authpolicies.yaml"

func loadCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatalf("failed to read the CRD (run make manifests): %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatalf("failed to decode %s: %v", crdFile, err)
	}
	return &crd
}

func TestCRDFilesAreAllAuthPolicy(t *testing.T) {
	files, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{crdFile}; !slices.Equal(files, want) {
		t.Errorf("CRD files = %v, want %v", files, want)
	}
}

func TestCRDShape(t *testing.T) {
	crd := loadCRD(t)
	if crd.Name != "authpolicies.authgate.io" || crd.Spec.Group != v1alpha1.GroupVersion.Group {
		t.Errorf("name %q, group %q", crd.Name, crd.Spec.Group)
	}
	if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("scope = %s, want Namespaced", crd.Spec.Scope)
	}
	names := crd.Spec.Names
	if names.Kind != v1alpha1.Kind || names.Plural != "authpolicies" || !slices.Equal(names.ShortNames, []string{"ap"}) || !slices.Equal(names.Categories, []string{"authgate"}) {
		t.Errorf("names = %+v", names)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("%d versions, want 1", len(crd.Spec.Versions))
	}
	v := crd.Spec.Versions[0]
	if v.Name != v1alpha1.GroupVersion.Version || !v.Served || !v.Storage {
		t.Errorf("version %s served=%v storage=%v", v.Name, v.Served, v.Storage)
	}
	if v.Subresources == nil || v.Subresources.Status == nil {
		t.Error("no status subresource: the controller could overwrite spec")
	}

	// kubectl shows NAMESPACE (with -A) and NAME itself; these follow.
	type column struct {
		name, jsonPath string
		priority       int32
	}
	want := []column{
		{"Hosts", ".spec.hosts", 0},
		{"Ready", `.status.conditions[?(@.type=="Ready")].status`, 0},
		{"Reason", `.status.conditions[?(@.type=="Ready")].reason`, 0},
		{"Enforcement", ".spec.enforcement", 1},
		{"Age", ".metadata.creationTimestamp", 0},
	}
	var got []column
	for _, c := range v.AdditionalPrinterColumns {
		got = append(got, column{c.Name, c.JSONPath, c.Priority})
	}
	if !slices.Equal(got, want) {
		t.Errorf("printer columns:\n got %+v\nwant %+v", got, want)
	}

	status := v.Schema.OpenAPIV3Schema.Properties["status"].Properties["conditions"]
	if status.XListType == nil || *status.XListType != "map" || !slices.Equal(status.XListMapKeys, []string{"type"}) {
		t.Errorf("status.conditions is not a list map keyed by type")
	}
}

// TestCRDAcceptedByAPIServer runs the apiserver's own CRD validation: a
// structural schema, CEL rules that compile and whose estimated cost is
// within the per-rule and per-CRD limits.
func TestCRDAcceptedByAPIServer(t *testing.T) {
	internal := toInternal(t, loadCRD(t))
	// The apiserver records the storage version on create.
	internal.Status.StoredVersions = []string{v1alpha1.GroupVersion.Version}
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), internal); len(errs) > 0 {
		for _, err := range errs {
			t.Error(err)
		}
	}
}

func toInternal(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) *apiextensions.CustomResourceDefinition {
	t.Helper()
	var out apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, &out, nil); err != nil {
		t.Fatal(err)
	}
	return &out
}

// validator checks AuthPolicy objects the way the apiserver's custom
// resource strategy does on create.
type validator struct {
	structural *structuralschema.Structural
	schema     validation.SchemaValidator
	cel        *cel.Validator
}

func newValidator(t *testing.T) *validator {
	t.Helper()
	internal := toInternal(t, loadCRD(t))
	// Conversion to the internal version hoists a schema all versions
	// share to spec.validation.
	props := internal.Spec.Validation.OpenAPIV3Schema
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	sv, _, err := validation.NewSchemaValidator(props)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
}

// validate returns every error the apiserver would report when creating
// obj with strict field validation (kubectl's default): unknown fields,
// schema, list types, then CEL unless an earlier error blocks it.
func (v *validator) validate(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	for _, path := range pruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		errs = append(errs, field.NotSupported[string](field.NewPath(path), "unknown field", nil))
	}
	errs = append(errs, validation.ValidateCustomResource(nil, obj, v.schema)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			// The apiserver skips CEL on these; so do we.
			return errs
		}
	}
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func decode(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		t.Fatalf("failed to decode: %v", err)
	}
	return obj
}

func TestSamplesValidate(t *testing.T) {
	v := newValidator(t)
	files, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no samples found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range v.validate(decode(t, data)) {
				t.Error(err)
			}
		})
	}
}
