package extauthz

import (
	"context"
	"fmt"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
)

// An allowed request's answer is most of what a cached allow costs over
// gRPC: building the CheckResponse, its metadata Struct and a
// HeaderValueOption per header, then marshalling them by reflection, takes
// several times longer than the decision. The server therefore writes an
// allow's protobuf encoding directly from the Decision, into one of gRPC's
// pooled buffers, when gRPC marshals the answer: the handler returns an
// allowAnswer, and Codec writes it. The bytes are those proto.Marshal would
// write for Response's message (TestAllowWireMatchesResponse and
// FuzzAllowWire compare them field by field); denials, rarer and with a
// body, go through the ordinary codec.

// ServiceDesc is envoy.service.auth.v3.Authorization served by a Server,
// with allows encoded by Codec. Register it with grpc.Server.RegisterService
// on a server created with the ForceServerCodecV2(Codec{}) option; the
// Server also implements authv3.AuthorizationServer, whose Check returns
// the message itself, for callers in process.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: "envoy.service.auth.v3.Authorization",
	HandlerType: (*authv3.AuthorizationServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "envoy/service/auth/v3/external_auth.proto",
}

// checkHandler reads a CheckRequest (the fields authgate uses, by Codec)
// and answers it with Server.answer, through the interceptors, as the
// generated handler does with Check.
func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(checkFields)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(*Server)
	if interceptor == nil {
		return s.answer(ctx, in), nil
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return s.answer(ctx, req.(*checkFields)), nil
	})
}

// answer is Check's answer for the wire: an allowAnswer for an allow, the
// CheckResponse otherwise.
func (s *Server) answer(ctx context.Context, f *checkFields) any {
	d := s.check(ctx, f)
	if d.Allow {
		return &allowAnswer{d: d, meta: s.Metadata, claims: s.claimsWire(d)}
	}
	return s.response(d)
}

// claimsWire is the encoding of the identity's claims as a
// google.protobuf.Value, when the server sends claims and they convert;
// computed once per cached identity.
func (s *Server) claimsWire(d *decision.Decision) []byte {
	if s.Metadata != MetadataClaims || d.Identity == nil {
		return nil
	}
	b, _ := d.Identity.Memo(claimsWireKey{}, func(*authn.Identity) any {
		v := identityClaims(d)
		if v == nil {
			return []byte(nil)
		}
		b, err := proto.Marshal(v)
		if err != nil {
			return []byte(nil)
		}
		return b
	}).([]byte)
	return b
}

// claimsWireKey memoises an identity's claims, encoded.
type claimsWireKey struct{}

// allowAnswer is an allow on its way to the wire.
type allowAnswer struct {
	d      *decision.Decision
	meta   Metadata
	claims []byte // the claims, encoded as a google.protobuf.Value, or nil
}

// Codec is gRPC's protobuf codec, except that it writes an allowAnswer
// itself and reads a CheckRequest's fields that authgate uses (checkFields)
// without decoding the rest.
type Codec struct{}

var protoCodec = encoding.GetCodecV2(grpcproto.Name)

// Name is the protobuf codec's name: the bytes on the wire are protobuf.
func (Codec) Name() string { return grpcproto.Name }

// Marshal writes v's protobuf encoding.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	a, ok := v.(*allowAnswer)
	if !ok {
		return protoCodec.Marshal(v)
	}
	if !a.validUTF8() {
		// protobuf strings are UTF-8, and proto.Marshal refuses to write
		// one that is not (a header value from a resolver may carry other
		// bytes): keep its refusal, which Envoy treats as an error, so
		// fails closed.
		return protoCodec.Marshal(Response(a.d, a.meta))
	}
	size := a.size()
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	*buf = a.append((*buf)[:0])
	if len(*buf) != size {
		pool.Put(buf)
		return nil, fmt.Errorf("extauthz: allow encoded in %d bytes, sized %d", len(*buf), size)
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal reads a protobuf message, or the fields of a CheckRequest.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*checkFields)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	// Every string is copied out of buf, which goes back to the pool.
	if err := f.unmarshal(buf.ReadOnlyData()); err != nil {
		// As the protobuf codec fails: gRPC answers Internal, which Envoy
		// treats as an error (deny unless failure_mode_allow).
		return fmt.Errorf("failed to unmarshal, message is envoy.service.auth.v3.CheckRequest: %w", err)
	}
	return nil
}

// Field numbers, read from the message descriptors so that they cannot
// disagree with the generated code.
var (
	fResponseStatus   = fieldNumber(&authv3.CheckResponse{}, "status")
	fResponseOK       = fieldNumber(&authv3.CheckResponse{}, "ok_response")
	fResponseMetadata = fieldNumber(&authv3.CheckResponse{}, "dynamic_metadata")
	fOKHeaders        = fieldNumber(&authv3.OkHttpResponse{}, "headers")
	fOKRemove         = fieldNumber(&authv3.OkHttpResponse{}, "headers_to_remove")
	fOptionHeader     = fieldNumber(&corev3.HeaderValueOption{}, "header")
	fOptionAction     = fieldNumber(&corev3.HeaderValueOption{}, "append_action")
	fHeaderKey        = fieldNumber(&corev3.HeaderValue{}, "key")
	fHeaderValue      = fieldNumber(&corev3.HeaderValue{}, "value")
	fStructFields     = fieldNumber(&structpb.Struct{}, "fields")
	fValueString      = fieldNumber(&structpb.Value{}, "string_value")
	fValueStruct      = fieldNumber(&structpb.Value{}, "struct_value")
	// A map entry is a message of key = 1, value = 2 (protobuf's map
	// encoding).
	fEntryKey, fEntryValue protowire.Number = 1, 2

	overwrite = uint64(corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	f := m.ProtoReflect().Descriptor().Fields().ByName(name)
	if f == nil {
		panic(fmt.Sprintf("extauthz: %T has no field %s", m, name))
	}
	return f.Number()
}

// The answer is, as Response builds it:
//
//	CheckResponse{
//	  status: {code: 0}  (present, empty)
//	  ok_response: {headers: [{header: {key, value}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}...],
//	                headers_to_remove: [...]}
//	  dynamic_metadata: {fields: {"authgate": {struct_value: {fields: {"policy": .., ...}}}}}
//	                    (unless the Metadata mode is none)
//	}
//
// Sizes are computed bottom-up first, since each message is preceded by its
// length.

func (a *allowAnswer) size() int {
	n := msgSize(fResponseStatus, 0) + msgSize(fResponseOK, a.okSize())
	if a.meta != MetadataNone {
		meta := metaFieldsOf(a.d)
		n += msgSize(fResponseMetadata, metadataSize(a.innerSize(&meta)))
	}
	return n
}

func (a *allowAnswer) append(b []byte) []byte {
	b = appendMsgHeader(b, fResponseStatus, 0)
	b = appendMsgHeader(b, fResponseOK, a.okSize())
	for _, h := range a.d.Set {
		key := headerKey(h)
		b = appendMsgHeader(b, fOKHeaders, optionSize(key, h.Value))
		b = appendMsgHeader(b, fOptionHeader, headerValueSize(key, h.Value))
		b = appendString(b, fHeaderKey, key)
		b = appendString(b, fHeaderValue, h.Value)
		b = protowire.AppendTag(b, fOptionAction, protowire.VarintType)
		b = protowire.AppendVarint(b, overwrite)
	}
	for _, name := range a.d.Remove {
		b = appendString(b, fOKRemove, name)
	}
	if a.meta == MetadataNone {
		return b
	}
	meta := metaFieldsOf(a.d)
	inner := a.innerSize(&meta)
	b = appendMsgHeader(b, fResponseMetadata, metadataSize(inner))
	b = appendMsgHeader(b, fStructFields, entrySize(MetadataNamespace, msgSize(fValueStruct, inner)))
	b = appendString(b, fEntryKey, MetadataNamespace)
	b = appendMsgHeader(b, fEntryValue, msgSize(fValueStruct, inner))
	b = appendMsgHeader(b, fValueStruct, inner)
	for _, f := range meta.fields[:meta.n] {
		b = appendMsgHeader(b, fStructFields, stringEntrySize(f.name, f.value))
		b = appendString(b, fEntryKey, f.name)
		b = appendMsgHeader(b, fEntryValue, stringSize(fValueString, f.value))
		b = appendString(b, fValueString, f.value)
	}
	if a.claims != nil {
		b = appendMsgHeader(b, fStructFields, entrySize(claimsField, len(a.claims)))
		b = appendString(b, fEntryKey, claimsField)
		b = appendMsgHeader(b, fEntryValue, len(a.claims))
		b = append(b, a.claims...)
	}
	return b
}

// validUTF8 reports whether every string of the answer is UTF-8. The
// header lists are checked once when the decision built them
// (HeadersUTF8); a Decision made otherwise is checked here.
func (a *allowAnswer) validUTF8() bool {
	if !a.d.HeadersUTF8 && !headersUTF8(a.d) {
		return false
	}
	if a.meta == MetadataNone {
		return true
	}
	meta := metaFieldsOf(a.d)
	for _, f := range meta.fields[:meta.n] {
		if !utf8.ValidString(f.value) {
			return false
		}
	}
	return true
}

func headersUTF8(d *decision.Decision) bool {
	for _, h := range d.Set {
		if !utf8.ValidString(h.Name) || !utf8.ValidString(h.Key) || !utf8.ValidString(h.Value) {
			return false
		}
	}
	for _, name := range d.Remove {
		if !utf8.ValidString(name) {
			return false
		}
	}
	return true
}

func (a *allowAnswer) okSize() int {
	n := 0
	for _, h := range a.d.Set {
		n += msgSize(fOKHeaders, optionSize(headerKey(h), h.Value))
	}
	for _, name := range a.d.Remove {
		n += stringSize(fOKRemove, name)
	}
	return n
}

// metadataSize is the size of the dynamic metadata whose "authgate" Struct
// has inner bytes.
func metadataSize(inner int) int {
	return msgSize(fStructFields, entrySize(MetadataNamespace, msgSize(fValueStruct, inner)))
}

// innerSize is the size of the Struct under "authgate".
func (a *allowAnswer) innerSize(meta *metaFields) int {
	n := 0
	for _, f := range meta.fields[:meta.n] {
		n += msgSize(fStructFields, stringEntrySize(f.name, f.value))
	}
	if a.claims != nil {
		n += msgSize(fStructFields, entrySize(claimsField, len(a.claims)))
	}
	return n
}

func optionSize(key, value string) int {
	return msgSize(fOptionHeader, headerValueSize(key, value)) +
		protowire.SizeTag(fOptionAction) + protowire.SizeVarint(overwrite)
}

func headerValueSize(key, value string) int {
	return stringSize(fHeaderKey, key) + stringSize(fHeaderValue, value)
}

// stringEntrySize is the size of a map entry whose value is a string Value.
func stringEntrySize(name, value string) int {
	return entrySize(name, stringSize(fValueString, value))
}

// entrySize is the size of a map entry with a value message of n bytes.
// The key is always written (as proto.Marshal does), the value too.
func entrySize(key string, n int) int {
	return stringSize(fEntryKey, key) + msgSize(fEntryValue, n)
}

// stringSize is the size of a string field. Every string written here is
// written even when empty: the Value's oneof and map keys must be present,
// and header keys and removals are never empty.
func stringSize(num protowire.Number, s string) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func msgSize(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendMsgHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
