package recipes

import (
	"strconv"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3" // the router's typed_config
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/test/envoy"
)

const envoyRecipe = "config/envoy/envoy.yaml"

// Filter and extension names as Envoy registers them.
const (
	hcmName       = "envoy.filters.network.http_connection_manager"
	extAuthzName  = "envoy.filters.http.ext_authz"
	routerName    = "envoy.filters.http.router"
	httpProtoOpts = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// envoyRecipeSettings is what the test reads out of the shipped bootstrap.
type envoyRecipeSettings struct {
	extAuthz  *extauthzv3.ExtAuthz
	healthz   *extauthzv3.ExtAuthzPerRoute // the /healthz route's
	catchAll  *extauthzv3.ExtAuthzPerRoute // the "/" route's
	authgate  *clusterv3.Cluster
	protocols *upstreamhttpv3.HttpProtocolOptions // the authgate cluster's
}

// harnessConfig is the test/envoy harness configured as the recipe
// configures Envoy's ext_authz filter for the catch-all route.
func (s envoyRecipeSettings) harnessConfig(authzAddr, upstreamURL string) envoy.Config {
	return envoy.Config{
		AuthzAddr:         authzAddr,
		Upstream:          upstreamURL,
		Timeout:           s.extAuthz.GetGrpcService().GetTimeout().AsDuration(),
		StatusOnError:     int(s.extAuthz.GetStatusOnError().GetCode()),
		FailureModeAllow:  s.extAuthz.GetFailureModeAllow(),
		ContextExtensions: s.catchAll.GetCheckSettings().GetContextExtensions(),
	}
}

// loadEnvoyRecipe parses the shipped bootstrap with Envoy's own API types.
// protojson resolves every typed_config "@type" through the global registry,
// which knows the extension types because this file imports their packages:
// an unknown type, field or enum value fails here, as Envoy would refuse it.
// Then every message, the contents of each Any included, must pass the
// protoc-gen-validate rules Envoy enforces on load.
func loadEnvoyRecipe(t *testing.T) envoyRecipeSettings {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict(readShipped(t, envoyRecipe))
	if err != nil {
		t.Fatalf("%s is not YAML: %v", envoyRecipe, err)
	}
	var bs bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &bs); err != nil {
		t.Fatalf("%s is not a valid Envoy v3 bootstrap: %v", envoyRecipe, err)
	}
	validateTree(t, "bootstrap", bs.ProtoReflect())

	var s envoyRecipeSettings
	listeners := bs.GetStaticResources().GetListeners()
	if len(listeners) != 1 || len(listeners[0].GetFilterChains()) != 1 {
		t.Fatalf("want one listener with one filter chain, got %d listeners", len(listeners))
	}
	var hcm hcmv3.HttpConnectionManager
	found := false
	for _, f := range listeners[0].GetFilterChains()[0].GetFilters() {
		if f.GetName() == hcmName {
			unpack(t, f.GetTypedConfig(), &hcm)
			found = true
		}
	}
	if !found {
		t.Fatalf("no %s in the listener", hcmName)
	}

	// ext_authz must run, and run before the router: filters run in order
	// and the router, which forwards, must be last.
	filters := hcm.GetHttpFilters()
	if len(filters) < 2 || filters[len(filters)-1].GetName() != routerName {
		t.Fatalf("the router must be the last HTTP filter, got %v", filterNames(filters))
	}
	for i, f := range filters {
		if f.GetName() == extAuthzName {
			if f.GetDisabled() {
				t.Errorf("the ext_authz filter is disabled by default (http_filters[%d].disabled)", i)
			}
			s.extAuthz = &extauthzv3.ExtAuthz{}
			unpack(t, f.GetTypedConfig(), s.extAuthz)
		}
	}
	if s.extAuthz == nil {
		t.Fatalf("no %s filter, got %v", extAuthzName, filterNames(filters))
	}

	vhosts := hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhosts) != 1 {
		t.Fatalf("want one virtual host, got %d", len(vhosts))
	}
	for _, r := range vhosts[0].GetRoutes() {
		raw, ok := r.GetTypedPerFilterConfig()[extAuthzName]
		if !ok {
			t.Errorf("route %v has no ext_authz per-route settings", r.GetMatch())
			continue
		}
		per := &extauthzv3.ExtAuthzPerRoute{}
		unpack(t, raw, per)
		switch m := r.GetMatch(); {
		case m.GetPath() == "/healthz":
			s.healthz = per
		case m.GetPrefix() == "/":
			s.catchAll = per
		default:
			t.Errorf("unexpected route %v", m)
		}
	}
	if s.healthz == nil || s.catchAll == nil {
		t.Fatal("want an exact /healthz route and a catch-all / route")
	}

	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() == s.extAuthz.GetGrpcService().GetEnvoyGrpc().GetClusterName() {
			s.authgate = c
		}
	}
	if s.authgate == nil {
		t.Fatalf("the ext_authz filter names cluster %q, which is not defined",
			s.extAuthz.GetGrpcService().GetEnvoyGrpc().GetClusterName())
	}
	if raw, ok := s.authgate.GetTypedExtensionProtocolOptions()[httpProtoOpts]; ok {
		s.protocols = &upstreamhttpv3.HttpProtocolOptions{}
		unpack(t, raw, s.protocols)
	}
	return s
}

// validateTree runs ValidateAll on m and on the contents of every
// google.protobuf.Any below it. The generated validators recurse into
// embedded messages themselves but check an Any only by its type URL, so
// each Any's contents are unpacked (resolving the type as Envoy would) and
// validated as a tree of their own.
func validateTree(t *testing.T, path string, m protoreflect.Message) {
	t.Helper()
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%s fails Envoy's validation: %v", path, err)
		}
	}
	forEachAny(t, path, m, func(path string, a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("%s: cannot resolve %s (is its package imported?): %v", path, a.GetTypeUrl(), err)
		}
		validateTree(t, path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", inner.ProtoReflect())
	})
}

// forEachAny calls f for every Any below m, not looking inside the Anys.
func forEachAny(t *testing.T, path string, m protoreflect.Message, f func(string, *anypb.Any)) {
	t.Helper()
	if a, ok := m.Interface().(*anypb.Any); ok {
		f(path, a)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				forEachAny(t, name+"["+strconv.Itoa(i)+"]", v.List().Get(i).Message(), f)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				forEachAny(t, name+"["+k.String()+"]", mv.Message(), f)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			forEachAny(t, name, v.Message(), f)
		}
		return true
	})
}

func unpack(t *testing.T, a *anypb.Any, into proto.Message) {
	t.Helper()
	if err := a.UnmarshalTo(into); err != nil {
		t.Fatalf("typed_config %s is not a %s: %v", a.GetTypeUrl(), into.ProtoReflect().Descriptor().FullName(), err)
	}
}

func filterNames(fs []*hcmv3.HttpFilter) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.GetName())
	}
	return out
}

// TestEnvoyRecipeConfig checks the settings that make the recipe safe, as
// Envoy reads them.
func TestEnvoyRecipeConfig(t *testing.T) {
	s := loadEnvoyRecipe(t)
	ext := s.extAuthz

	if ext.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("transport_api_version = %v, want V3 (authgate serves envoy.service.auth.v3 only)", ext.GetTransportApiVersion())
	}
	if ext.GetGrpcService().GetEnvoyGrpc() == nil {
		t.Error("ext_authz must use grpc_service.envoy_grpc (authgate's gRPC API), not http_service")
	}
	if ext.GetFailureModeAllow() {
		t.Error("failure_mode_allow is true: with authgate down every request would pass unchecked")
	}
	if got := ext.GetStatusOnError().GetCode(); got != typev3.StatusCode_ServiceUnavailable {
		t.Errorf("status_on_error = %v, want ServiceUnavailable (503, not Envoy's default 403)", got)
	}
	if d := ext.GetGrpcService().GetTimeout().AsDuration(); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("grpc_service.timeout = %s, want 2s..10s: above authgate's 2s resolver timeout, below a client's patience", d)
	}
	if ext.GetWithRequestBody() != nil {
		t.Error("with_request_body is set: authgate decides on headers, buffering bodies only costs memory")
	}

	if !s.healthz.GetDisabled() {
		t.Error("the /healthz route must disable ext_authz (ExtAuthzPerRoute.disabled)")
	}
	if s.catchAll.GetDisabled() {
		t.Error("the catch-all route disables ext_authz: nothing would be checked")
	}
	if got := s.catchAll.GetCheckSettings().GetContextExtensions()["host"]; got != "shop.example.com" {
		t.Errorf("the catch-all route's context_extensions host = %q, want shop.example.com", got)
	}

	// The authgate cluster: the chart's Service DNS name and gRPC port, over
	// HTTP/2 (gRPC needs it; HTTP/1.1 would fail every check).
	eps := s.authgate.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		t.Fatalf("the authgate cluster must have exactly one endpoint")
	}
	sa := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != chartDNS || sa.GetPortValue() != chartGRPCPort {
		t.Errorf("the authgate cluster points at %s:%d, want the chart's %s:%d", sa.GetAddress(), sa.GetPortValue(), chartDNS, chartGRPCPort)
	}
	if s.authgate.GetType() != clusterv3.Cluster_STRICT_DNS {
		t.Errorf("the authgate cluster's type is %v, want STRICT_DNS (a DNS name, several pods)", s.authgate.GetType())
	}
	if s.protocols.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Error("the authgate cluster must speak HTTP/2 (typed_extension_protocol_options " + httpProtoOpts + " explicit_http_config.http2_protocol_options)")
	}
}
