package extauthz

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/request"
)

func checkRequest(host, path, method string, headers map[string]string, ext map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: ext,
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "envoy-id", Method: method, Host: host, Path: path, Scheme: "https", Headers: headers,
		}},
	}}
}

func TestRequest(t *testing.T) {
	tests := map[string]struct {
		req       *authv3.CheckRequest
		wantHost  string
		wantPath  string
		wantQuery string
		wantID    string
		wantErr   bool
	}{
		"authority": {
			req:      checkRequest("Shop.Example.com:443", "/a?b=1", "GET", map[string]string{":authority": "shop.example.com"}, nil),
			wantHost: "shop.example.com", wantPath: "/a", wantQuery: "b=1", wantID: "envoy-id",
		},
		"context extension host wins": {
			req:      checkRequest("internal.svc", "/a", "GET", nil, map[string]string{"host": "shop.example.com"}),
			wantHost: "shop.example.com", wantPath: "/a", wantID: "envoy-id",
		},
		"host from pseudo-header when attribute is empty": {
			req:      checkRequest("", "", "GET", map[string]string{":authority": "a.com", ":path": "/p"}, nil),
			wantHost: "a.com", wantPath: "/p", wantID: "envoy-id",
		},
		"x-request-id preferred": {
			req:      checkRequest("a.com", "/", "GET", map[string]string{"x-request-id": "rid"}, nil),
			wantHost: "a.com", wantPath: "/", wantID: "rid",
		},
		"traversal resolved": {
			req:      checkRequest("a.com", "/public/%2e%2e/admin", "GET", nil, nil),
			wantHost: "a.com", wantPath: "/admin", wantID: "envoy-id",
		},
		"no host":       {req: checkRequest("", "/", "GET", nil, nil), wantErr: true},
		"bad path":      {req: checkRequest("a.com", "/a%2fb", "GET", nil, nil), wantErr: true},
		"no method":     {req: checkRequest("a.com", "/", "", nil, nil), wantErr: true},
		"empty request": {req: &authv3.CheckRequest{}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Request(tc.req)
			if r == nil {
				t.Fatal("Request must always return a request, for logs")
			}
			if tc.wantErr {
				if !errors.Is(err, request.ErrBadRequest) {
					t.Fatalf("want ErrBadRequest, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Host != tc.wantHost || r.Path != tc.wantPath || r.RawQuery != tc.wantQuery || r.RequestID != tc.wantID || r.Transport != Transport {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	allowed := &decision.Decision{
		Allow: true, Status: 200, Reason: decision.ReasonAllowed, Policy: "ns/p", Rule: "r", Authenticator: "a",
		Identity: &authn.Identity{Subject: "alice", Claims: authn.ClaimsOf(map[string]any{"sub": "alice", "n": 1.0, "bad": make(chan int)})},
		Set:      []decision.Header{{Name: "X-User-Id", Value: "alice"}},
		Remove:   []string{"x-tenant", "x_user_id"},
	}
	if m := Response(allowed, MetadataNone).GetDynamicMetadata(); m != nil {
		t.Fatalf("metadata without being asked: %v", m)
	}
	allow := Response(allowed, MetadataIdentity)
	if codes.Code(allow.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("status = %v", allow.GetStatus())
	}
	ok := allow.GetOkResponse()
	if len(ok.GetHeaders()) != 1 || ok.GetHeaders()[0].GetHeader().GetKey() != "x-user-id" ||
		ok.GetHeaders()[0].GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
		t.Fatalf("headers = %v", ok.GetHeaders())
	}
	if len(ok.GetHeadersToRemove()) != 2 {
		t.Fatalf("headers_to_remove = %v", ok.GetHeadersToRemove())
	}
	meta := allow.GetDynamicMetadata().GetFields()[MetadataNamespace].GetStructValue().GetFields()
	if meta["subject"].GetStringValue() != "alice" || meta["policy"].GetStringValue() != "ns/p" {
		t.Fatalf("metadata = %v", meta)
	}
	if _, ok := meta["claims"]; ok {
		t.Fatal("claims are in the metadata only with MetadataClaims")
	}

	// With MetadataClaims: claims that convert are there, once converted
	// per identity; claims that do not convert are left out, not
	// half-converted.
	good := &authn.Identity{Subject: "alice", Claims: authn.ClaimsOf(map[string]any{"sub": "alice", "roles": []any{"admin"}})}
	bad := &authn.Identity{Subject: "alice", Claims: authn.ClaimsOf(map[string]any{"sub": "alice", "bad": make(chan int)})}
	for _, tc := range []struct {
		id   *authn.Identity
		want bool
	}{{good, true}, {good, true}, {bad, false}} {
		cr := (&Server{Metadata: MetadataClaims}).response(&decision.Decision{Allow: true, Status: 200, Reason: decision.ReasonAllowed, Identity: tc.id})
		claims, ok := cr.GetDynamicMetadata().GetFields()[MetadataNamespace].GetStructValue().GetFields()["claims"]
		if ok != tc.want {
			t.Fatalf("claims present = %v, want %v", ok, tc.want)
		}
		if ok && claims.GetStructValue().GetFields()["roles"].GetListValue().GetValues()[0].GetStringValue() != "admin" {
			t.Fatalf("claims = %v", claims)
		}
	}

	for status, code := range map[int]codes.Code{401: codes.Unauthenticated, 403: codes.PermissionDenied, 400: codes.InvalidArgument, 503: codes.Unavailable} {
		deny := Response(&decision.Decision{Status: status, Reason: "x", DenyHeaders: []decision.Header{{Name: "WWW-Authenticate", Value: "Bearer"}}}, MetadataIdentity)
		if got := codes.Code(deny.GetStatus().GetCode()); got != code {
			t.Errorf("%d: code %v, want %v", status, got, code)
		}
		d := deny.GetDeniedResponse()
		if int(d.GetStatus().GetCode()) != status || d.GetBody() == "" {
			t.Errorf("%d: denied response %v", status, d)
		}
		var sawChallenge, sawNoStore bool
		for _, h := range d.GetHeaders() {
			sawChallenge = sawChallenge || h.GetHeader().GetKey() == "www-authenticate"
			sawNoStore = sawNoStore || (h.GetHeader().GetKey() == "cache-control" && h.GetHeader().GetValue() == "no-store")
		}
		if !sawChallenge || !sawNoStore {
			t.Errorf("%d: headers %v", status, d.GetHeaders())
		}
	}
}

func TestRecoverInterceptor(t *testing.T) {
	panics := 0
	ic := RecoverInterceptor(func(any) { panics++ })
	boom := func(context.Context, any) (any, error) { panic("boom") }

	resp, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: authv3.Authorization_Check_FullMethodName}, boom)
	if err != nil {
		t.Fatalf("Check must answer, not fail: %v", err)
	}
	cr := resp.(*authv3.CheckResponse)
	if codes.Code(cr.GetStatus().GetCode()) != codes.Unavailable || cr.GetDeniedResponse().GetStatus().GetCode() != 503 {
		t.Fatalf("response = %v", cr)
	}
	_, err = ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/other/Method"}, boom)
	if status.Code(err) != codes.Internal {
		t.Fatalf("err = %v", err)
	}
	if panics != 2 {
		t.Fatalf("panics counted = %d", panics)
	}
}

// FuzzRequest feeds hostile CheckRequest attributes: never a panic, and an
// accepted request is canonical.
func FuzzRequest(f *testing.F) {
	f.Add("a.com", "/x?y", "GET", "")
	f.Add("[::1]:9", "/%2e%2e/", "POST", "b.com")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, host, path, method, extHost string) {
		ext := map[string]string{}
		if extHost != "" {
			ext["host"] = extHost
		}
		r, err := Request(checkRequest(host, path, method, nil, ext))
		if err != nil {
			return
		}
		if r.Host == "" || r.Path == "" || r.Path[0] != '/' || r.Method == "" {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// TestParseMetadata: the modes read back from their names, in any case;
// an empty setting is none; anything else is an error.
func TestParseMetadata(t *testing.T) {
	for _, m := range []Metadata{MetadataNone, MetadataIdentity, MetadataClaims} {
		for _, s := range []string{m.String(), strings.ToUpper(m.String()), " " + m.String() + " "} {
			if got, err := ParseMetadata(s); err != nil || got != m {
				t.Errorf("ParseMetadata(%q) = %v, %v; want %v", s, got, err, m)
			}
		}
	}
	if got, err := ParseMetadata(""); err != nil || got != MetadataNone {
		t.Errorf("ParseMetadata(\"\") = %v, %v", got, err)
	}
	if _, err := ParseMetadata("subject"); err == nil {
		t.Error("ParseMetadata(subject): no error")
	}
}
