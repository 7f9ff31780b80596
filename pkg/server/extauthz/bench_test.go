package extauthz

import (
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/store"
)

// allowed is a typical allowed decision of the authgear preset: the
// identity headers to set, the rest of the policy's names to remove.
func allowed() *decision.Decision {
	return &decision.Decision{
		Allow: true, Status: 200, Reason: decision.ReasonAllowed,
		Policy: "shop/shop", Rule: "default", Authenticator: "bearer",
		Identity: &authn.Identity{Subject: "alice", ExpiresAt: time.Now().Add(time.Hour)},
		Set: []decision.Header{
			{Name: "X-Authgear-Session-Valid", Value: "true"},
			{Name: "X-Authgear-User-Id", Value: "alice"},
			{Name: "X-Authgear-User-Verified", Value: "true"},
			{Name: "X-Authgear-User-Roles", Value: "viewer,editor"},
			{Name: "X-User-Id", Value: "alice"},
		},
		Remove: []string{"x-auth-request-user", "x_auth_request_user", "x-authgear-session-amr", "x_authgear_session_amr",
			"x_authgear_session_valid", "x_authgear_user_id", "x_authgear_user_roles", "x_user_id"},
		MaxAge: time.Hour,
	}
}

// allowedStripped is allowed with the remove list of a policy that sets
// the well-known identity headers: every one of them in both spellings.
func allowedStripped() *decision.Decision {
	d := allowed()
	d.Remove = nil
	for _, h := range store.AlwaysStripped {
		l := strings.ToLower(h)
		d.Remove = append(d.Remove, l, strings.ReplaceAll(l, "-", "_"))
	}
	return d
}

// BenchmarkResponse is the cost of turning an allowed decision into the
// CheckResponse Envoy receives (before gRPC marshals it).
func BenchmarkResponse(b *testing.B) {
	d := allowed()
	b.ReportAllocs()
	for b.Loop() {
		if Response(d, MetadataIdentity).GetOkResponse() == nil {
			b.Fatal("not OK")
		}
	}
}

// BenchmarkResponseRoundTrip is what carrying an allow's answer costs on the
// wire: authgate marshals the CheckResponse, the proxy unmarshals it (here
// Go's protobuf, as the load tool's client does). The answer has the
// authgear preset's headers, a remove list of the size a policy with the
// well-known identity headers has, and the metadata; "empty" is the answer
// of the load tool's trivial server, and the parts show what each costs.
func BenchmarkResponseRoundTrip(b *testing.B) {
	d := allowedStripped()
	full := Response(d, MetadataIdentity)
	without := func(drop func(*authv3.CheckResponse)) *authv3.CheckResponse {
		r := Response(d, MetadataIdentity)
		drop(r)
		return r
	}
	for _, tc := range []struct {
		name string
		resp *authv3.CheckResponse
	}{
		{"authgate", full},
		{"without-metadata", without(func(r *authv3.CheckResponse) { r.DynamicMetadata = nil })},
		{"without-remove", without(func(r *authv3.CheckResponse) { r.GetOkResponse().HeadersToRemove = nil })},
		{"without-headers", without(func(r *authv3.CheckResponse) { r.GetOkResponse().Headers = nil })},
		{"empty", &authv3.CheckResponse{Status: &rpcstatus.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf, err := proto.Marshal(tc.resp)
				if err != nil {
					b.Fatal(err)
				}
				var out authv3.CheckResponse
				if err := proto.Unmarshal(buf, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllowWire is what authgate's side of an allow costs on the wire
// now: Codec writing the answer into a pooled buffer, with the remove list
// of the well-known identity headers, without and with the metadata.
func BenchmarkAllowWire(b *testing.B) {
	d := allowedStripped()
	for i := range d.Set {
		d.Set[i].Key = strings.ToLower(d.Set[i].Name) // as compiled policies have them
	}
	d.HeadersUTF8 = true // as the decision finds once per header list
	for _, m := range []struct {
		name string
		meta Metadata
	}{{"none", MetadataNone}, {"identity", MetadataIdentity}} {
		a := &allowAnswer{d: d, meta: m.meta}
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bufs, err := Codec{}.Marshal(a)
				if err != nil {
					b.Fatal(err)
				}
				bufs.Free()
			}
		})
	}
}
