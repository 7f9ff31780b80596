package recipes

import (
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The structs below mirror the documented Istio API, field for field, for
// the messages the recipe uses; strict decoding refuses anything else, so a
// misspelt or invented field fails here instead of being ignored by istiod.
//
// Source: istio/api mesh/v1alpha1/config.proto, MeshConfig.ExtensionProvider
// and its EnvoyExternalAuthorizationGrpcProvider (service = 1, port = 2,
// fail_open = 3, status_on_error = 4, timeout = 5,
// include_request_body_in_check = 6), rendered at
// https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/#MeshConfig-ExtensionProvider-EnvoyExternalAuthorizationGrpcProvider
// Protobuf JSON names are the lowerCamel forms.

type istioMeshConfig struct {
	ExtensionProviders []istioExtensionProvider `json:"extensionProviders"`
}

// istioExtensionProvider: name = 1 and the provider oneof; only the gRPC
// ext_authz member is declared, so another provider kind fails to decode.
type istioExtensionProvider struct {
	Name              string                 `json:"name"`
	EnvoyExtAuthzGrpc *istioExtAuthzGRPCSpec `json:"envoyExtAuthzGrpc"`
}

type istioExtAuthzGRPCSpec struct {
	// "REQUIRED. Specifies the service that implements the Envoy ext_authz
	// gRPC authorization service. The format is [<Namespace>/]<Hostname>."
	Service string `json:"service"`
	// "REQUIRED. Specifies the port of the service." uint32.
	Port uint32 `json:"port"`
	// google.protobuf.Duration (JSON: a decimal number of seconds with an
	// "s" suffix); "default timeout: 600s".
	Timeout *string `json:"timeout"`
	// bool; "Default is false ... rejected with 403".
	FailOpen *bool `json:"failOpen"`
	// string (not a number); "The default status is "403"".
	StatusOnError *string `json:"statusOnError"`
	// EnvoyExternalAuthorizationRequestBody.
	IncludeRequestBodyInCheck *struct {
		MaxRequestBytes     uint32 `json:"maxRequestBytes"`
		AllowPartialMessage bool   `json:"allowPartialMessage"`
		PackAsBytes         bool   `json:"packAsBytes"`
	} `json:"includeRequestBodyInCheck"`
}

// istioOperator is install.istio.io/v1alpha1 IstioOperator, with only
// spec.meshConfig declared (IstioOperatorSpec.meshConfig, "Config used by
// control plane components internally").
type istioOperator struct {
	typeMeta `json:",inline"`
	Spec     struct {
		MeshConfig istioMeshConfig `json:"meshConfig"`
	} `json:"spec"`
}

// istiodValues is the istiod Helm chart's values: meshConfig is a top-level
// value rendered into the mesh ConfigMap.
type istiodValues struct {
	MeshConfig istioMeshConfig `json:"meshConfig"`
}

// Source: istio/api security/v1beta1/authorization_policy.proto (served as
// security.istio.io/v1 too): AuthorizationPolicy selector = 1, rules = 2,
// action = 3 (ALLOW, DENY, AUDIT, CUSTOM), provider = 4 (oneof
// action_detail, "Must be used only with CUSTOM action"), targetRef = 5,
// targetRefs = 6; Rule from/to/when; Operation hosts, notHosts, ports,
// notPorts, methods, notMethods, paths, notPaths. Rendered at
// https://istio.io/latest/docs/reference/config/security/authorization-policy/
type istioAuthorizationPolicy struct {
	typeMeta `json:",inline"`
	Spec     struct {
		Selector *struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		TargetRef  *istioTargetRef  `json:"targetRef"`
		TargetRefs []istioTargetRef `json:"targetRefs"`
		Rules      []istioRule      `json:"rules"`
		Action     string           `json:"action"`
		Provider   *struct {
			Name string `json:"name"`
		} `json:"provider"`
	} `json:"spec"`
}

type istioTargetRef struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type istioRule struct {
	From []struct {
		Source map[string][]string `json:"source"`
	} `json:"from"`
	To []struct {
		Operation struct {
			Hosts      []string `json:"hosts"`
			NotHosts   []string `json:"notHosts"`
			Ports      []string `json:"ports"`
			NotPorts   []string `json:"notPorts"`
			Methods    []string `json:"methods"`
			NotMethods []string `json:"notMethods"`
			Paths      []string `json:"paths"`
			NotPaths   []string `json:"notPaths"`
		} `json:"operation"`
	} `json:"to"`
	When []struct {
		Key       string   `json:"key"`
		Values    []string `json:"values"`
		NotValues []string `json:"notValues"`
	} `json:"when"`
}

// protoDuration is the protobuf JSON form of google.protobuf.Duration.
var protoDuration = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)

func TestIstioRecipe(t *testing.T) {
	var op istioOperator
	strict(t, "config/istio/istio-operator.yaml", readShipped(t, "config/istio/istio-operator.yaml"), &op)
	if op.APIVersion != "install.istio.io/v1alpha1" || op.Kind != "IstioOperator" {
		t.Errorf("istio-operator.yaml is %s %s, want install.istio.io/v1alpha1 IstioOperator", op.APIVersion, op.Kind)
	}
	var values istiodValues
	strict(t, "config/istio/istiod-values.yaml", readShipped(t, "config/istio/istiod-values.yaml"), &values)
	if !reflect.DeepEqual(op.Spec.MeshConfig, values.MeshConfig) {
		t.Errorf("istio-operator.yaml and istiod-values.yaml declare different providers:\n%+v\n%+v", op.Spec.MeshConfig, values.MeshConfig)
	}

	providers := op.Spec.MeshConfig.ExtensionProviders
	if len(providers) != 1 || providers[0].EnvoyExtAuthzGrpc == nil {
		t.Fatalf("want exactly one extension provider, of kind envoyExtAuthzGrpc, got %+v", providers)
	}
	p := providers[0]
	g := p.EnvoyExtAuthzGrpc
	if g.Service != chartDNS {
		t.Errorf("service = %q, want the chart's %q", g.Service, chartDNS)
	}
	if g.Port != chartGRPCPort {
		t.Errorf("port = %d, want the chart's gRPC port %d", g.Port, chartGRPCPort)
	}
	if g.FailOpen == nil || *g.FailOpen {
		t.Error("failOpen must be set to false: with it true, authgate down lets every request through")
	}
	if g.StatusOnError == nil {
		t.Error("statusOnError is unset: Istio would answer 403 when authgate is down")
	} else if code, err := strconv.Atoi(*g.StatusOnError); err != nil || code != 503 {
		t.Errorf("statusOnError = %q, want \"503\"", *g.StatusOnError)
	}
	if g.Timeout == nil || !protoDuration.MatchString(*g.Timeout) {
		t.Errorf("timeout = %v, want a protobuf JSON duration such as \"3s\" (Istio's default is 600s)", g.Timeout)
	} else if d, _ := time.ParseDuration(*g.Timeout); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("timeout = %s, want 2s..10s", d)
	}
	if g.IncludeRequestBodyInCheck != nil {
		t.Error("includeRequestBodyInCheck is set: authgate decides on headers only")
	}

	var ap istioAuthorizationPolicy
	strict(t, "config/istio/authorization-policy.yaml", readShipped(t, "config/istio/authorization-policy.yaml"), &ap)
	if ap.APIVersion != "security.istio.io/v1" || ap.Kind != "AuthorizationPolicy" {
		t.Errorf("authorization-policy.yaml is %s %s, want security.istio.io/v1 AuthorizationPolicy", ap.APIVersion, ap.Kind)
	}
	if ap.Spec.Action != "CUSTOM" {
		t.Errorf("action = %q, want CUSTOM", ap.Spec.Action)
	}
	if ap.Spec.Provider == nil || ap.Spec.Provider.Name != p.Name {
		t.Errorf("provider = %+v, want name %q (the mesh config's extension provider)", ap.Spec.Provider, p.Name)
	}
	targets := 0
	if ap.Spec.Selector != nil {
		targets++
	}
	if ap.Spec.TargetRef != nil || len(ap.Spec.TargetRefs) > 0 {
		targets++
	}
	if targets != 1 {
		t.Errorf("set exactly one of selector and targetRef(s) (\"At most one of the selector and targetRef can be set\"); without either the policy applies to every workload of its namespace")
	}
	// A CUSTOM policy sends only the requests its rules match: no rules, no
	// checks at all; a narrowed rule leaves the rest unchecked. The recipe
	// promises every request, so one empty ("always matched") rule.
	if len(ap.Spec.Rules) != 1 || !reflect.DeepEqual(ap.Spec.Rules[0], istioRule{}) {
		t.Errorf("rules = %+v, want exactly one empty rule, which matches every request", ap.Spec.Rules)
	}
}
