package extauthz

import (
	"maps"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// envoyRequest is a CheckRequest as Envoy fills it: peers, the request's
// attributes and headers, route extensions.
func envoyRequest() *authv3.CheckRequest {
	addr := func(ip string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: addr("10.0.0.7", 51234), Principal: "spiffe://cluster.local/ns/a/sa/b"},
		Destination: &authv3.AttributeContext_Peer{Address: addr("10.0.0.9", 8080)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1234", Method: "GET", Path: "/api/cart?x=1", Host: "shop.example.com", Scheme: "https",
			Protocol: "HTTP/2", Size: 0,
			Headers: map[string]string{
				":authority": "shop.example.com", ":method": "GET", ":path": "/api/cart?x=1", ":scheme": "https",
				"authorization": "Bearer abc.def.ghi", "user-agent": "Mozilla/5.0", "x-request-id": "r-1",
				"x-odd-header": "Zoë 🙂", "accept": "",
			},
		}},
		ContextExtensions: map[string]string{"host": "route.example.com", "other": "x"},
		MetadataContext:   &corev3.Metadata{},
	}}
}

func readFields(t testing.TB, b []byte) (checkFields, error) {
	t.Helper()
	var f checkFields
	err := f.unmarshal(b)
	return f, err
}

// sameFields compares what authgate reads, a nil map being an empty one.
func sameFields(t testing.TB, want, got checkFields) {
	t.Helper()
	type scalars struct{ method, id, scheme, host, path, routeHost string }
	ws := scalars{want.method, want.id, want.scheme, want.host, want.path, want.routeHost}
	gs := scalars{got.method, got.id, got.scheme, got.host, got.path, got.routeHost}
	if ws != gs || !maps.Equal(want.headers, got.headers) {
		t.Fatalf("fields differ\nwant %+v %q\ngot  %+v %q", ws, want.headers, gs, got.headers)
	}
}

func TestCheckFieldsMatchesProto(t *testing.T) {
	tests := map[string]*authv3.CheckRequest{
		"as Envoy sends it": envoyRequest(),
		"empty":             {},
		"no http":           {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}},
		"no headers, no extensions": func() *authv3.CheckRequest {
			r := envoyRequest()
			r.Attributes.ContextExtensions = nil
			r.Attributes.Request.Http.Headers = nil
			return r
		}(),
		"long values": func() *authv3.CheckRequest {
			r := envoyRequest()
			r.Attributes.Request.Http.Headers["cookie"] = strings.Repeat("c", 70000)
			r.Attributes.Request.Http.Path = "/" + strings.Repeat("p", 300)
			return r
		}(),
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readFields(t, b)
			if err != nil {
				t.Fatal(err)
			}
			sameFields(t, fieldsOf(req), got)
		})
	}
}

// Two encodings one after the other are one message, merged: the later
// scalar wins, maps add up, as proto.Unmarshal reads them.
func TestCheckFieldsMerge(t *testing.T) {
	first := envoyRequest()
	second := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Headers: map[string]string{"authorization": "Bearer other", "x-new": "1"},
		}},
		ContextExtensions: map[string]string{"host": "second.example.com"},
	}}
	a, _ := proto.Marshal(first)
	b, _ := proto.Marshal(second)
	both := append(append([]byte(nil), a...), b...)
	var want authv3.CheckRequest
	if err := proto.Unmarshal(both, &want); err != nil {
		t.Fatal(err)
	}
	got, err := readFields(t, both)
	if err != nil {
		t.Fatal(err)
	}
	sameFields(t, fieldsOf(&want), got)
	if got.method != "POST" || got.headers["authorization"] != "Bearer other" || got.headers["user-agent"] != "Mozilla/5.0" || got.routeHost != "second.example.com" {
		t.Fatalf("not merged: %+v", got)
	}
}

// Strings authgate reads must be UTF-8, as proto.Unmarshal requires: a
// request with another byte is refused (Envoy then denies), never decided.
func TestCheckFieldsRefuses(t *testing.T) {
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	msg := func(num protowire.Number, parts ...[]byte) []byte {
		var body []byte
		for _, p := range parts {
			body = append(body, p...)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), body)
	}
	check := func(httpParts ...[]byte) []byte {
		return msg(fCheckAttributes, msg(fAttrsRequest, msg(fRequestHTTP, httpParts...)))
	}
	header := func(k, v string) []byte { return msg(fHTTPHeaders, str(fEntryKey, k), str(fEntryValue, v)) }
	tests := map[string][]byte{
		"header value":      check(header("authorization", "Bearer \xff")),
		"header name":       check(header("x-\xc3", "v")),
		"method":            check(str(fHTTPMethod, "G\xe9T")),
		"path":              check(str(fHTTPPath, "/\xff")),
		"route host":        msg(fCheckAttributes, msg(fAttrsExtensions, str(fEntryKey, "host"), str(fEntryValue, "\xff.example.com"))),
		"truncated":         check(header("authorization", "Bearer x"))[:10],
		"length past end":   {0x0a, 0x7f, 0x00},
		"bad tag":           {0x00},
		"truncated varint":  {0x08, 0xff},
		"group never ended": {0x0b},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := readFields(t, b); err == nil {
				t.Fatal("read")
			}
			if err := proto.Unmarshal(b, new(authv3.CheckRequest)); err == nil {
				t.Fatal("proto.Unmarshal reads it: the case is wrong")
			}
		})
	}
}

// FuzzCheckFields: whatever proto.Unmarshal reads as a CheckRequest, the
// server's reader reads too, with the same fields; and it never panics.
func FuzzCheckFields(f *testing.F) {
	for _, r := range []*authv3.CheckRequest{envoyRequest(), {}} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x02, 0x22, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readFields(t, b)
		var want authv3.CheckRequest
		if proto.Unmarshal(b, &want) != nil {
			return // refused by proto: the reader may refuse or skip what it does not read
		}
		if err != nil {
			t.Fatalf("proto.Unmarshal reads it, the reader does not: %v", err)
		}
		sameFields(t, fieldsOf(&want), got)
	})
}
