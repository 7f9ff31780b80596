// Package extauthz is the Envoy ext_authz v3 gRPC adapter: it turns a
// CheckRequest into a canonical request, asks the decision engine, and turns
// the Decision into a CheckResponse. It holds no policy logic of its own.
package extauthz

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"go.opentelemetry.io/otel/trace"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/request"
)

// Transport is the transport label of this adapter.
const Transport = "grpc"

// MetadataNamespace is the key of authgate's entry in the dynamic metadata
// Envoy emits under envoy.filters.http.ext_authz.
const MetadataNamespace = "authgate"

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	Engine *decision.Engine
	// Tracer, when set, records a span per Check that continues the checked
	// request's traceparent. Nil turns tracing off at the cost of one
	// comparison.
	Tracer trace.Tracer
	// Metadata is what allowed answers carry in Envoy's dynamic metadata.
	Metadata Metadata
}

// Metadata says what an allowed answer carries in Envoy's dynamic metadata
// (under envoy.filters.http.ext_authz, key "authgate"), for the filters
// after ext_authz (RBAC, Lua) and access logs.
//
// The default is none. Identity headers are the contract with the
// application; metadata is only worth its cost when an Envoy filter reads
// it: a google.protobuf.Struct of five strings costs more to encode and to
// decode than the headers, on every request (docs/performance.md), and the
// subject and claims are personal data that access logs would record.
type Metadata int

// The metadata modes.
const (
	// MetadataNone sends no dynamic metadata.
	MetadataNone Metadata = iota
	// MetadataIdentity sends policy, rule, reason, authenticator and
	// subject.
	MetadataIdentity
	// MetadataClaims also sends the credential's claims.
	MetadataClaims
)

// String is the mode's name, as ParseMetadata reads it.
func (m Metadata) String() string {
	switch m {
	case MetadataIdentity:
		return "identity"
	case MetadataClaims:
		return "claims"
	}
	return "none"
}

// ParseMetadata reads a Metadata mode: none, identity or claims.
func ParseMetadata(s string) (Metadata, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return MetadataNone, nil
	case "identity":
		return MetadataIdentity, nil
	case "claims":
		return MetadataClaims, nil
	}
	return MetadataNone, fmt.Errorf("%q is not none, identity or claims", s)
}

// Check answers one CheckRequest. It always returns a CheckResponse (never a
// gRPC error), so Envoy applies authgate's status rather than its own
// status_on_error.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	f := fieldsOf(req)
	return s.response(s.check(ctx, &f)), nil
}

// check decides, inside a span when tracing.
func (s *Server) check(ctx context.Context, f *checkFields) *decision.Decision {
	if s.Tracer != nil {
		return s.decideTraced(ctx, f)
	}
	_, d := s.decide(ctx, f)
	return d
}

// response is Response with the server's settings.
func (s *Server) response(d *decision.Decision) *authv3.CheckResponse {
	return Response(d, s.Metadata)
}

// decide returns the canonical request (for logs and spans, also when it
// could not be read) and the decision.
func (s *Server) decide(ctx context.Context, f *checkFields) (*request.Request, *decision.Decision) {
	r, err := f.request()
	if err != nil {
		d := s.Engine.BadRequest(err.Error())
		s.Engine.Record(r, d, 0)
		return r, d
	}
	return r, s.Engine.Check(ctx, r)
}

// Request builds the canonical request from a CheckRequest. The host is the
// route's context_extensions["host"] when set (so one authgate can serve
// routes whose :authority differs from the policy host), else :authority.
// On error the returned request still carries what was readable, for logs.
func Request(req *authv3.CheckRequest) (*request.Request, error) {
	f := fieldsOf(req)
	return f.request()
}

// checkFields are the fields of a CheckRequest that authgate reads: from a
// CheckRequest (fieldsOf), or straight from its encoding (unmarshal, on the
// gRPC server).
type checkFields struct {
	// attributes.request.http
	method, id, scheme, host, path string
	headers                        map[string]string
	// attributes.context_extensions["host"]
	routeHost string
}

func fieldsOf(req *authv3.CheckRequest) checkFields {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	return checkFields{
		method: h.GetMethod(), id: h.GetId(), scheme: h.GetScheme(), host: h.GetHost(), path: h.GetPath(),
		headers:   h.GetHeaders(),
		routeHost: attrs.GetContextExtensions()["host"],
	}
}

// request is Request of the fields.
func (f *checkFields) request() (*request.Request, error) {
	r := &request.Request{
		Transport: Transport,
		Method:    strings.ToUpper(f.method),
		Headers:   f.headers,
		RequestID: f.id,
		Scheme:    f.scheme,
		// Envoy sends a denied response's status and headers to the client
		// as they are, so a sign-in redirect reaches the browser.
		RedirectOK: true,
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	if id := r.Headers["x-request-id"]; id != "" {
		r.RequestID = id
	}
	host := f.routeHost
	if host == "" {
		host = f.host
	}
	if host == "" {
		host = r.Headers[":authority"]
	}
	var err error
	if r.Host, err = request.CanonicalHost(host); err != nil {
		return r, fmt.Errorf("host: %w", err)
	}
	target := f.path
	if target == "" {
		target = r.Headers[":path"]
	}
	if err = r.SetTarget(target); err != nil {
		return r, fmt.Errorf("path: %w", err)
	}
	if r.Method == "" {
		return r, fmt.Errorf("%w: no method", request.ErrBadRequest)
	}
	return r, nil
}

// Response maps a Decision to a CheckResponse: OK with headers to set
// (overwriting client copies) and to remove on allow, and the metadata m
// asks for; a denied response with authgate's status, headers and body
// otherwise.
func Response(d *decision.Decision, m Metadata) *authv3.CheckResponse {
	if d.Allow {
		ok := &authv3.OkHttpResponse{
			Headers:         headerOptions(d.Set),
			HeadersToRemove: d.Remove,
		}
		r := &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}
		if m != MetadataNone {
			r.DynamicMetadata = metadata(d, m == MetadataClaims)
		}
		return r
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(grpcCode(d.Status)), Message: string(d.Reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)},
			Headers: headerOptions(append(d.DenyHeaders, decision.Header{Name: "Cache-Control", Value: "no-store"})),
			Body:    d.Body(),
		}},
	}
}

func grpcCode(status int) codes.Code {
	switch status {
	case http.StatusUnauthorized, http.StatusFound:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// headerOptions builds the options in three allocations, whatever their
// number, instead of two per header: this runs on every allowed request.
func headerOptions(hs []decision.Header) []*corev3.HeaderValueOption {
	opts := make([]corev3.HeaderValueOption, len(hs))
	vals := make([]corev3.HeaderValue, len(hs))
	out := make([]*corev3.HeaderValueOption, len(hs))
	for i, h := range hs {
		vals[i].Key, vals[i].Value = headerKey(h), h.Value
		opts[i].Header = &vals[i]
		// Overwrite, so a client's copy of an identity header is replaced,
		// never joined with authgate's value.
		opts[i].AppendAction = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		out[i] = &opts[i]
	}
	return out
}

// headerKey is the header's name as HTTP/2 spells it: lower case.
func headerKey(h decision.Header) string {
	if h.Key != "" {
		return h.Key
	}
	return strings.ToLower(h.Name)
}

// stringValues holds metadata's string values, allocated together.
type stringValues struct {
	strs [len(metaFields{}.fields)]structpb.Value_StringValue
	vals [len(metaFields{}.fields)]structpb.Value
}

// metaFields are the metadata's string fields, in a value so that reading
// them allocates nothing: Response builds them into a Struct, the codec
// writes them (allowAnswer).
type metaFields struct {
	fields [5]struct{ name, value string }
	n      int
}

func (m *metaFields) add(name, value string) {
	m.fields[m.n].name, m.fields[m.n].value = name, value
	m.n++
}

// metaFieldsOf is what the metadata says of a decision: always its policy,
// rule and reason; with an identity, the authenticator and the subject.
func metaFieldsOf(d *decision.Decision) metaFields {
	var m metaFields
	m.add("policy", d.Policy)
	m.add("rule", d.Rule)
	m.add("reason", string(d.Reason))
	if d.Identity != nil {
		m.add("authenticator", d.Authenticator)
		m.add("subject", d.Identity.Subject)
	}
	return m
}

// claimsField is the metadata's key for the claims.
const claimsField = "claims"

// identityClaims is the identity's claims as a protobuf value, converted
// once per cached identity, or nil: without an identity, or when the claims
// do not convert (not JSON types), which leaves them out rather than
// failing the allow. The value is shared: marshalling only reads it.
func identityClaims(d *decision.Decision) *structpb.Value {
	if d.Identity == nil {
		return nil
	}
	v, _ := d.Identity.Memo(claimsKey{}, claimsValue).(*structpb.Value)
	return v
}

// claimsKey memoises an identity's claims as a protobuf value.
type claimsKey struct{}

// metadata is the identity as dynamic metadata, for Envoy filters after
// ext_authz (RBAC, Lua, access logs).
func metadata(d *decision.Decision, withClaims bool) *structpb.Struct {
	// The string values share one allocation.
	box := new(stringValues)
	meta := metaFieldsOf(d)
	fields := make(map[string]*structpb.Value, meta.n+1)
	for i, f := range meta.fields[:meta.n] {
		box.strs[i].StringValue = f.value
		box.vals[i].Kind = &box.strs[i]
		fields[f.name] = &box.vals[i]
	}
	if withClaims {
		if claims := identityClaims(d); claims != nil {
			fields[claimsField] = claims
		}
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		MetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: fields}),
	}}
}

func claimsValue(id *authn.Identity) any {
	claims, err := structpb.NewStruct(id.Claims.Map())
	if err != nil {
		return (*structpb.Value)(nil)
	}
	return structpb.NewStructValue(claims)
}

// RecoverInterceptor turns a panic in any handler into an answer: a 503
// deny for Check (so Envoy never sees an error it might fail open on), an
// Internal error for other methods. onPanic counts it.
func RecoverInterceptor(onPanic func(any)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				onPanic(p)
				if info.FullMethod == authv3.Authorization_Check_FullMethodName {
					resp, err = Response(decision.Internal("panic in gRPC handler"), MetadataNone), nil
					return
				}
				resp, err = nil, grpcstatus.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}
