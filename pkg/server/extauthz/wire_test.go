package extauthz

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
)

// wire encodes an allow with Codec and decodes it as the proxy does.
func wire(t testing.TB, a *allowAnswer) (*authv3.CheckResponse, error) {
	t.Helper()
	bufs, err := Codec{}.Marshal(a)
	if err != nil {
		return nil, err
	}
	defer bufs.Free()
	var got authv3.CheckResponse
	if err := proto.Unmarshal(bufs.Materialize(), &got); err != nil {
		t.Fatalf("the proxy cannot read the answer: %v", err)
	}
	return &got, nil
}

func sameAnswer(t testing.TB, want, got *authv3.CheckResponse) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("the answer on the wire differs\nwant: %s\ngot:  %s", prototext.Format(want), prototext.Format(got))
	}
}

// answerOf is what Server.answer returns for an allow.
func answerOf(d *decision.Decision, m Metadata) *allowAnswer {
	s := &Server{Metadata: m}
	return &allowAnswer{d: d, meta: m, claims: s.claimsWire(d)}
}

func TestAllowWireMatchesResponse(t *testing.T) {
	long := strings.Repeat("v", 20000) // lengths of three varint bytes
	tests := map[string]struct {
		d    *decision.Decision
		meta Metadata
	}{
		"authgear preset":        {d: allowed(), meta: MetadataIdentity},
		"no metadata":            {d: allowed()},
		"every always-stripped":  {d: allowedStripped(), meta: MetadataIdentity},
		"claims in the metadata": {d: allowed(), meta: MetadataClaims},
		"claims that do not convert": {d: func() *decision.Decision {
			d := allowed()
			d.Identity = &authn.Identity{Subject: "bob", Claims: authn.ClaimsOf(map[string]any{"bad": make(chan int)})}
			return d
		}(), meta: MetadataClaims},
		"claims": {d: func() *decision.Decision {
			d := allowed()
			d.Identity = &authn.Identity{Subject: "carol", Claims: authn.ClaimsOf(map[string]any{
				"sub": "carol", "roles": []any{"a", "b"}, "n": 3.5, "ok": true, "nested": map[string]any{"x": nil},
			})}
			return d
		}(), meta: MetadataClaims},
		"no identity (anonymous allow)": {d: &decision.Decision{
			Allow: true, Status: 200, Reason: decision.ReasonAllowed, Policy: "shop/shop", Rule: "public",
			Set: []decision.Header{{Name: "X-Authgate", Key: "x-authgate", Value: "seen"}},
		}, meta: MetadataIdentity},
		"nothing to set or remove, empty strings": {d: &decision.Decision{
			Allow: true, Status: 200, Reason: decision.ReasonAllowed,
			Identity: &authn.Identity{},
		}, meta: MetadataIdentity},
		"dry run": {d: func() *decision.Decision {
			d := allowed()
			d.Reason, d.WouldReason = decision.ReasonDryRunDeny, decision.ReasonConditionFailed
			return d
		}(), meta: MetadataIdentity},
		"long values and unicode": {d: func() *decision.Decision {
			d := allowed()
			d.Set = append(d.Set, decision.Header{Name: "X-Long", Value: long}, decision.Header{Name: "X-Name", Value: "Zoë 🙂"})
			d.Identity = &authn.Identity{Subject: long}
			d.Rule = strings.Repeat("r", 200)
			return d
		}(), meta: MetadataIdentity},
		"key given": {d: func() *decision.Decision {
			d := allowed()
			d.Set = []decision.Header{{Name: "X-User", Key: "x-user", Value: "alice"}}
			return d
		}(), meta: MetadataIdentity},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := wire(t, answerOf(tc.d, tc.meta))
			if err != nil {
				t.Fatal(err)
			}
			sameAnswer(t, Response(tc.d, tc.meta), got)
		})
	}
}

// A string that is not UTF-8 cannot be sent in protobuf: the answer fails
// as proto.Marshal fails, and Envoy treats a failed Check as an error (it
// denies), as it did before authgate wrote allows itself.
func TestAllowWireInvalidUTF8FailsAsProto(t *testing.T) {
	for name, mutate := range map[string]func(*decision.Decision){
		"header value": func(d *decision.Decision) { d.Set[0].Value = "caf\xe9" },
		"subject":      func(d *decision.Decision) { d.Identity.Subject = "\xff" },
		"removal":      func(d *decision.Decision) { d.Remove = []string{"x-\xc3"} },
	} {
		t.Run(name, func(t *testing.T) {
			d := allowed()
			mutate(d)
			if _, err := wire(t, answerOf(d, MetadataIdentity)); err == nil {
				t.Fatal("an answer with invalid UTF-8 was written")
			}
			if _, err := proto.Marshal(Response(d, MetadataIdentity)); err == nil {
				t.Fatal("proto.Marshal wrote it: the test's premise is wrong")
			}
		})
	}
}

// Over a real gRPC server, the service answers allows through the codec and
// denials through the protobuf codec, and a client reads both as Response
// builds them.
func TestServiceDescOverGRPC(t *testing.T) {
	allow := allowed()
	deny := &decision.Decision{Status: 401, Reason: decision.ReasonInvalidToken,
		DenyHeaders: []decision.Header{{Name: "WWW-Authenticate", Value: `Bearer error="invalid_token"`}}}
	var next *decision.Decision
	srv := &Server{Metadata: MetadataIdentity}
	gs := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}), grpc.UnaryInterceptor(
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
			// Stand in for the engine: answer the decision under test.
			if next.Allow {
				return &allowAnswer{d: next, meta: MetadataIdentity}, nil
			}
			return Response(next, MetadataIdentity), nil
		}))
	gs.RegisterService(&ServiceDesc, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := authv3.NewAuthorizationClient(conn)
	for _, d := range []*decision.Decision{allow, deny} {
		next = d
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := client.Check(ctx, checkRequest("shop.example.com", "/", "GET", nil, nil))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		sameAnswer(t, Response(d, MetadataIdentity), got)
	}
}

// FuzzAllowWire checks the hand-written encoding against proto.Marshal's
// for any strings: the same message, or the same refusal.
func FuzzAllowWire(f *testing.F) {
	f.Add("shop/shop", "default", "alice", "X-User", "x-user", "alice", "x_user", true, uint8(1))
	f.Add("", "", "", "", "", "", "", false, uint8(0))
	f.Add("p", "r", "\xff", "X-A", "", "caf\xe9", "x-\xc3", true, uint8(2))
	f.Fuzz(func(t *testing.T, pol, rule, subject, name, key, value, remove string, identity bool, mode uint8) {
		meta := Metadata(mode % 3)
		d := &decision.Decision{
			Allow: true, Status: 200, Reason: decision.ReasonAllowed, Policy: pol, Rule: rule, Authenticator: "bearer",
			Set:    []decision.Header{{Name: name, Key: key, Value: value}, {Name: "X-Fixed", Key: "x-fixed", Value: value + subject}},
			Remove: []string{remove, remove + "-2"},
		}
		if identity {
			d.Identity = &authn.Identity{Subject: subject}
		}
		if identity && meta == MetadataClaims {
			d.Identity.Claims = authn.ClaimsOf(map[string]any{"sub": subject, "v": value})
		}
		got, err := wire(t, answerOf(d, meta))
		want := Response(d, meta)
		if _, werr := proto.Marshal(want); (werr == nil) != (err == nil) {
			t.Fatalf("codec error %v, proto.Marshal error %v", err, werr)
		}
		if err != nil {
			return
		}
		sameAnswer(t, want, got)
	})
}
