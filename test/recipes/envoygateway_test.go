package recipes

import (
	"slices"
	"strings"
	"testing"
)

const envoyGatewayRecipe = "config/envoy-gateway/security-policy.yaml"

// The structs below mirror the documented Envoy Gateway and Gateway API
// fields the recipe uses; strict decoding refuses anything else.
//
// Source: envoyproxy/gateway api/v1alpha1/securitypolicy_types.go
// (SecurityPolicySpec.targetRefs, .extAuth) and ext_auth_types.go:
// ExtAuth{grpc, http, headersToExtAuth, bodyToExtAuth, timeout, failOpen,
// recomputeRoute}, GRPCExtAuthService{BackendCluster inline: backendRef
// (deprecated), backendRefs, backendSettings}; rendered at
// https://gateway.envoyproxy.io/docs/api/extension_types/#extauth and shown
// with grpc.backendRefs in https://gateway.envoyproxy.io/docs/tasks/security/ext-auth/
type egSecurityPolicy struct {
	typeMeta `json:",inline"`
	Spec     struct {
		TargetRefs []struct {
			Group       string `json:"group"`
			Kind        string `json:"kind"`
			Name        string `json:"name"`
			SectionName string `json:"sectionName"`
		} `json:"targetRefs"`
		ExtAuth *struct {
			GRPC *struct {
				BackendRefs     []egBackendRef `json:"backendRefs"`
				BackendSettings map[string]any `json:"backendSettings"`
			} `json:"grpc"`
			HTTP             map[string]any `json:"http"`
			HeadersToExtAuth []string       `json:"headersToExtAuth"`
			BodyToExtAuth    map[string]any `json:"bodyToExtAuth"`
			Timeout          *string        `json:"timeout"`
			FailOpen         *bool          `json:"failOpen"`
			RecomputeRoute   *bool          `json:"recomputeRoute"`
		} `json:"extAuth"`
	} `json:"spec"`
}

// egBackendRef is a BackendRef: Gateway API's BackendObjectReference.
type egBackendRef struct {
	Group     *string `json:"group"`
	Kind      *string `json:"kind"`
	Name      string  `json:"name"`
	Namespace string  `json:"namespace"`
	Port      *int32  `json:"port"`
}

// Gateway API v1 HTTPRoute, only the fields the recipe uses
// (gateway.networking.k8s.io/v1, sigs.k8s.io/gateway-api apis/v1).
type gwHTTPRoute struct {
	typeMeta `json:",inline"`
	Spec     struct {
		ParentRefs []struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"parentRefs"`
		Hostnames []string `json:"hostnames"`
		Rules     []struct {
			Matches []struct {
				Path struct {
					Type  string `json:"type"`
					Value string `json:"value"`
				} `json:"path"`
			} `json:"matches"`
			BackendRefs []egBackendRef `json:"backendRefs"`
		} `json:"rules"`
	} `json:"spec"`
}

// Gateway API v1beta1 ReferenceGrant.
type gwReferenceGrant struct {
	typeMeta `json:",inline"`
	Spec     struct {
		From []gwGrantFrom `json:"from"`
		To   []gwGrantTo   `json:"to"`
	} `json:"spec"`
}

type gwGrantFrom struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
}

type gwGrantTo struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

func TestEnvoyGatewayRecipe(t *testing.T) {
	objs := objects(t, envoyGatewayRecipe)
	if len(objs["SecurityPolicy"]) != 1 || len(objs["HTTPRoute"]) != 1 || len(objs["ReferenceGrant"]) != 1 || len(objs) != 3 {
		t.Fatalf("want one HTTPRoute, one SecurityPolicy and one ReferenceGrant, got %d kinds", len(objs))
	}
	var sp egSecurityPolicy
	strict(t, "the SecurityPolicy", objs["SecurityPolicy"][0], &sp)
	var route gwHTTPRoute
	strict(t, "the HTTPRoute", objs["HTTPRoute"][0], &route)
	var grant gwReferenceGrant
	strict(t, "the ReferenceGrant", objs["ReferenceGrant"][0], &grant)

	if sp.APIVersion != "gateway.envoyproxy.io/v1alpha1" {
		t.Errorf("SecurityPolicy apiVersion = %q, want gateway.envoyproxy.io/v1alpha1", sp.APIVersion)
	}
	if route.APIVersion != "gateway.networking.k8s.io/v1" {
		t.Errorf("HTTPRoute apiVersion = %q, want gateway.networking.k8s.io/v1", route.APIVersion)
	}
	if grant.APIVersion != "gateway.networking.k8s.io/v1beta1" {
		t.Errorf("ReferenceGrant apiVersion = %q, want gateway.networking.k8s.io/v1beta1", grant.APIVersion)
	}

	// The policy targets the route, which lives in its namespace (a
	// targetRef has no namespace: it is always the policy's own).
	if len(sp.Spec.TargetRefs) != 1 {
		t.Fatalf("want one targetRef, got %+v", sp.Spec.TargetRefs)
	}
	tr := sp.Spec.TargetRefs[0]
	if tr.Group != "gateway.networking.k8s.io" || tr.Kind != "HTTPRoute" || tr.Name != route.Metadata.Name {
		t.Errorf("targetRef = %+v, want gateway.networking.k8s.io HTTPRoute %q", tr, route.Metadata.Name)
	}
	if sp.Metadata.Namespace != route.Metadata.Namespace {
		t.Errorf("the SecurityPolicy is in %q and the HTTPRoute in %q: a targetRef only reaches its own namespace", sp.Metadata.Namespace, route.Metadata.Namespace)
	}

	ea := sp.Spec.ExtAuth
	if ea == nil || ea.GRPC == nil || ea.HTTP != nil {
		t.Fatal("extAuth must use grpc (authgate's ext_authz gRPC API) and not http")
	}
	if ea.FailOpen == nil || *ea.FailOpen {
		t.Error("extAuth.failOpen must be set to false")
	}
	if ea.BodyToExtAuth != nil {
		t.Error("bodyToExtAuth is set: authgate decides on headers only")
	}
	// Over gRPC every header reaches authgate unless headersToExtAuth
	// narrows it; if it is ever set, it must keep the credentials.
	if ea.HeadersToExtAuth != nil {
		for _, h := range []string{"authorization", "cookie"} {
			if !slices.ContainsFunc(ea.HeadersToExtAuth, func(s string) bool { return strings.EqualFold(s, h) }) {
				t.Errorf("headersToExtAuth lacks %s: authgate would never see the credential", h)
			}
		}
	}
	if len(ea.GRPC.BackendRefs) != 1 {
		t.Fatalf("want one grpc backendRef, got %+v", ea.GRPC.BackendRefs)
	}
	br := ea.GRPC.BackendRefs[0]
	if (br.Group != nil && *br.Group != "") || (br.Kind != nil && *br.Kind != "Service") {
		t.Errorf("backendRef must be a core Service, got group %v kind %v", br.Group, br.Kind)
	}
	if br.Name != chartService || br.Namespace != chartNamespace || br.Port == nil || *br.Port != chartGRPCPort {
		t.Errorf("backendRef = %s/%s:%v, want the chart's %s/%s:%d", br.Namespace, br.Name, br.Port, chartNamespace, chartService, chartGRPCPort)
	}

	// Gateway API: a reference into another namespace needs a ReferenceGrant
	// there, from this kind in the referring namespace, to the Service.
	if grant.Metadata.Namespace != chartNamespace {
		t.Errorf("the ReferenceGrant is in %q, want authgate's namespace %q", grant.Metadata.Namespace, chartNamespace)
	}
	okFrom := slices.ContainsFunc(grant.Spec.From, func(f gwGrantFrom) bool {
		return f.Group == "gateway.envoyproxy.io" && f.Kind == "SecurityPolicy" && f.Namespace == sp.Metadata.Namespace
	})
	if !okFrom {
		t.Errorf("the ReferenceGrant does not admit SecurityPolicies from %q: %+v", sp.Metadata.Namespace, grant.Spec.From)
	}
	okTo := slices.ContainsFunc(grant.Spec.To, func(to gwGrantTo) bool {
		return to.Group == "" && to.Kind == "Service" && (to.Name == "" || to.Name == chartService)
	})
	if !okTo {
		t.Errorf("the ReferenceGrant does not grant the Service %q: %+v", chartService, grant.Spec.To)
	}
}
