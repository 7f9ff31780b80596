// Package v1alpha1 holds the AuthPolicy API: the YAML users write, read from a
// folder in standalone mode and served as a custom resource in Kubernetes.
//
// +groupName=authgate.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of AuthPolicy.
var GroupVersion = schema.GroupVersion{Group: "authgate.io", Version: "v1alpha1"}

// Kind is the kind of an AuthPolicy document.
const Kind = "AuthPolicy"
