// Package v1alpha1 holds the AuthPolicy API: the YAML users write, read from a
// folder in standalone mode and served as a custom resource in Kubernetes.
//
// The kubebuilder markers here are the admission-time subset of the checks:
// what the apiserver can reject cheaply (shapes, enums, lengths, exactly-one
// fields, name references). pkg/translate and policy.Validate remain the
// authoritative semantic checks and run in both modes.
//
// +kubebuilder:object:generate=true
// +groupName=authgate.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of AuthPolicy.
var GroupVersion = schema.GroupVersion{Group: "authgate.io", Version: "v1alpha1"}

// Kind is the kind of an AuthPolicy document.
const Kind = "AuthPolicy"

var (
	// SchemeBuilder adds the types of this group version to a scheme. It
	// is apimachinery's, not controller-runtime's (deprecated there), so
	// importing the API pulls in nothing but apimachinery.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &AuthPolicy{}, &AuthPolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
