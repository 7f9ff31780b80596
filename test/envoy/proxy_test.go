package envoy

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// TestProxyAllowed covers OK responses end to end: what reaches the upstream
// and what the client gets back.
func TestProxyAllowed(t *testing.T) {
	tests := map[string]struct {
		cfg     Config
		resp    *authv3.CheckResponse
		req     func(t *testing.T) *http.Request
		wantUp  map[string][]string // upstream header -> values; nil slice means absent
		wantOut map[string][]string // downstream response header -> values
	}{
		"forwards method, raw path, query and host": {
			resp: okResponse(nil),
			req: func(t *testing.T) *http.Request {
				r := get(t, "/a%2Fb/c?x=1&y=%20", "X-Client", "1")
				r.Host = "app.example.com"
				return r
			},
			wantUp:  map[string][]string{"X-Client": {"1"}, "X-Forwarded-Proto": {"http"}},
			wantOut: map[string][]string{"X-Upstream": {"yes"}, "Server": {"envoy"}},
		},
		"an empty CheckResponse allows, as a missing status is code 0": {
			resp: &authv3.CheckResponse{},
			req:  func(t *testing.T) *http.Request { return get(t, "/") },
		},
		"each append_action applied to the upstream request": {
			resp: okResponse(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
				hvo("x-append", "authz", appendOrAdd),
				hvo("x-absent", "authz", addIfAbsent),
				hvo("x-overwrite", "authz", overwriteOrAdd),
				hvo("x-if-exists", "authz", overwriteIfExist),
				hvo("x-not-there", "authz", overwriteIfExist),
				hvoAppend("x-legacy-append", "authz", true, overwriteOrAdd),
			}}),
			req: func(t *testing.T) *http.Request {
				return get(t, "/",
					"X-Append", "client", "X-Absent", "client", "X-Overwrite", "client",
					"X-If-Exists", "client", "X-Legacy-Append", "client")
			},
			wantUp: map[string][]string{
				"X-Append":        {"client", "authz"},
				"X-Absent":        {"client"},
				"X-Overwrite":     {"authz"},
				"X-If-Exists":     {"authz"},
				"X-Not-There":     nil,
				"X-Legacy-Append": {"client,authz"},
			},
		},
		"legacy mode ignores append_action": {
			cfg: Config{LegacyHeaderMutations: true},
			resp: okResponse(&authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
				hvo("x-user", "alice", appendOrAdd),
				hvoAppend("x-absent", "authz", true, appendOrAdd),
			}}),
			req:    func(t *testing.T) *http.Request { return get(t, "/", "X-User", "mallory") },
			wantUp: map[string][]string{"X-User": {"alice"}, "X-Absent": nil},
		},
		"headers_to_remove removes, but never pseudo-headers or host": {
			resp: okResponse(&authv3.OkHttpResponse{
				HeadersToRemove: []string{"authorization", "x-api-key", ":path", ":authority", "host"},
			}),
			req: func(t *testing.T) *http.Request {
				r := get(t, "/kept?q=1", "Authorization", "Bearer secret", "X-Api-Key", "k", "X-Other", "1")
				r.Host = "app.example.com"
				return r
			},
			wantUp: map[string][]string{"Authorization": nil, "X-Api-Key": nil, "X-Other": {"1"}},
		},
		"response_headers_to_add reach the client": {
			resp: okResponse(&authv3.OkHttpResponse{ResponseHeadersToAdd: []*corev3.HeaderValueOption{
				hvo("set-cookie", "authz=1", appendOrAdd),
				hvo("x-upstream", "overridden", overwriteOrAdd),
			}}),
			req:     func(t *testing.T) *http.Request { return get(t, "/") },
			wantOut: map[string][]string{"Set-Cookie": {"up=1", "authz=1"}, "X-Upstream": {"overridden"}},
		},
		"hop-by-hop headers are not forwarded, cookie lines are": {
			resp: okResponse(nil),
			req: func(t *testing.T) *http.Request {
				return get(t, "/", "Keep-Alive", "timeout=5", "Proxy-Connection", "keep-alive",
					"Cookie", "a=1", "Cookie", "b=2")
			},
			wantUp: map[string][]string{"Keep-Alive": nil, "Proxy-Connection": nil, "Cookie": {"a=1", "b=2"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.cfg, answer(tc.resp))
			req := tc.req(t)
			got := h.do(t, req)

			if got.code != http.StatusOK || got.body != "from upstream" {
				t.Fatalf("got %d %q, want the upstream's 200", got.code, got.body)
			}
			ups := h.upstream.requests()
			if len(ups) != 1 {
				t.Fatalf("upstream saw %d requests, want 1", len(ups))
			}
			up := ups[0]
			if up.method != req.Method || up.uri != req.URL.RequestURI() {
				t.Errorf("upstream got %s %s, want %s %s", up.method, up.uri, req.Method, req.URL.RequestURI())
			}
			if req.Host != "" && up.host != req.Host {
				t.Errorf("upstream host = %q, want %q", up.host, req.Host)
			}
			if up.header.Get("X-Request-Id") == "" {
				t.Errorf("upstream got no x-request-id")
			}
			for k, want := range tc.wantUp {
				if vs := up.header.Values(k); !reflect.DeepEqual(vs, want) && !(len(vs) == 0 && len(want) == 0) {
					t.Errorf("upstream %s = %q, want %q", k, vs, want)
				}
			}
			for k, want := range tc.wantOut {
				if vs := got.header.Values(k); !reflect.DeepEqual(vs, want) {
					t.Errorf("response %s = %q, want %q", k, vs, want)
				}
			}
		})
	}
}

// TestProxyRejected covers every path that ends in a local reply: the
// upstream must never be called.
func TestProxyRejected(t *testing.T) {
	unreachable := func(t *testing.T) string {
		// A port that was just free: connecting to it is refused.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	slow := func(ctx context.Context, _ *authv3.CheckRequest) (*authv3.CheckResponse, error) {
		select {
		case <-ctx.Done():
			// Never allow here: grpc-timeout is rounded on the wire, so this
			// side's deadline can fire just before the proxy's.
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return okResponse(nil), nil
		}
	}

	tests := map[string]struct {
		cfg        Config
		authzAddr  func(t *testing.T) string
		check      checkFunc
		wantCode   int
		wantBody   string
		wantHeader map[string][]string
	}{
		"denied with status, headers and body": {
			check: answer(deniedResponse(codes.PermissionDenied, &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
				Headers: []*corev3.HeaderValueOption{
					hvo("www-authenticate", `Bearer realm="app"`, overwriteOrAdd),
					hvo("content-type", "application/json", overwriteOrAdd),
					hvo("set-cookie", "a=1", appendOrAdd),
					hvo("set-cookie", "b=2", appendOrAdd),
				},
				Body: `{"error":"unauthenticated"}`,
			})),
			wantCode: http.StatusUnauthorized,
			wantBody: `{"error":"unauthenticated"}`,
			wantHeader: map[string][]string{
				"Www-Authenticate": {`Bearer realm="app"`},
				"Content-Type":     {"application/json"},
				"Set-Cookie":       {"a=1", "b=2"},
				"Server":           {"envoy"},
			},
		},
		"denied body without content-type is text/plain": {
			check:      answer(deniedResponse(codes.PermissionDenied, &authv3.DeniedHttpResponse{Body: "no"})),
			wantCode:   http.StatusForbidden,
			wantBody:   "no",
			wantHeader: map[string][]string{"Content-Type": {"text/plain"}},
		},
		"denied without status is 403": {
			check:    answer(deniedResponse(codes.Unauthenticated, &authv3.DeniedHttpResponse{})),
			wantCode: http.StatusForbidden,
		},
		"denied without denied_response is 403 with empty body": {
			check:      answer(deniedResponse(codes.PermissionDenied, nil)),
			wantCode:   http.StatusForbidden,
			wantHeader: map[string][]string{"Content-Type": nil},
		},
		"any non-OK CheckResponse status denies, even UNAVAILABLE": {
			cfg:      Config{FailureModeAllow: true},
			check:    answer(deniedResponse(codes.Unavailable, nil)),
			wantCode: http.StatusForbidden,
		},
		"gRPC error uses default status_on_error": {
			check: func(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
				return nil, grpcstatus.Error(codes.Internal, "boom")
			},
			wantCode: http.StatusForbidden,
		},
		"gRPC error uses configured status_on_error": {
			cfg: Config{StatusOnError: http.StatusServiceUnavailable},
			check: func(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
				return nil, grpcstatus.Error(codes.Unavailable, "down")
			},
			wantCode: http.StatusServiceUnavailable,
		},
		"unreachable authz server uses status_on_error": {
			cfg:       Config{StatusOnError: http.StatusServiceUnavailable},
			authzAddr: unreachable,
			wantCode:  http.StatusServiceUnavailable,
		},
		"authz slower than Timeout uses status_on_error": {
			cfg:      Config{Timeout: 50 * time.Millisecond, StatusOnError: http.StatusGatewayTimeout},
			check:    slow,
			wantCode: http.StatusGatewayTimeout,
		},
		"error_response without status uses status_on_error": {
			cfg: Config{StatusOnError: http.StatusServiceUnavailable},
			check: answer(&authv3.CheckResponse{
				Status:       &rpcstatus.Status{Code: int32(codes.Internal)},
				HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{Body: "try later"}},
			}),
			wantCode: http.StatusServiceUnavailable,
			wantBody: "try later",
		},
		"error_response status wins over status_on_error": {
			check: answer(&authv3.CheckResponse{
				Status: &rpcstatus.Status{Code: int32(codes.Internal)},
				HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{
					Status:  &typev3.HttpStatus{Code: typev3.StatusCode_BadGateway},
					Headers: []*corev3.HeaderValueOption{hvo("retry-after", "1", overwriteOrAdd)},
				}},
			}),
			wantCode:   http.StatusBadGateway,
			wantHeader: map[string][]string{"Retry-After": {"1"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			if tc.authzAddr != nil {
				cfg.AuthzAddr = tc.authzAddr(t)
			}
			h := newHarness(t, cfg, tc.check)

			start := time.Now()
			got := h.do(t, get(t, "/private", "Authorization", "Bearer x"))
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("took %v; the Check timeout did not bound the request", elapsed)
			}
			if got.code != tc.wantCode || got.body != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", got.code, got.body, tc.wantCode, tc.wantBody)
			}
			for k, want := range tc.wantHeader {
				if vs := got.header.Values(k); !reflect.DeepEqual(vs, want) && !(len(vs) == 0 && len(want) == 0) {
					t.Errorf("response %s = %q, want %q", k, vs, want)
				}
			}
			if n := len(h.upstream.requests()); n != 0 {
				t.Errorf("upstream called %d times, want 0", n)
			}
			if h.proxy.LastCheck() == nil {
				t.Errorf("LastCheck is nil; the Check was not recorded")
			}
		})
	}
}

// TestProxyFailureModeAllow covers failure_mode_allow: a failed call lets the
// request through unmodified.
func TestProxyFailureModeAllow(t *testing.T) {
	failing := func(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return nil, grpcstatus.Error(codes.Unavailable, "down")
	}
	errorResponse := answer(&authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.Internal)},
		HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: &authv3.DeniedHttpResponse{}},
	})
	tests := map[string]struct {
		cfg        Config
		check      checkFunc
		wantMarker []string
	}{
		"gRPC error forwards": {
			cfg:   Config{FailureModeAllow: true},
			check: failing,
		},
		"gRPC error forwards with marker header": {
			cfg:        Config{FailureModeAllow: true, FailureModeAllowHeaderAdd: true},
			check:      failing,
			wantMarker: []string{"true"},
		},
		"error_response forwards": {
			cfg:        Config{FailureModeAllow: true, FailureModeAllowHeaderAdd: true},
			check:      errorResponse,
			wantMarker: []string{"true"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.cfg, tc.check)
			got := h.do(t, get(t, "/p?q=1", "Authorization", "Bearer x"))
			if got.code != http.StatusOK {
				t.Fatalf("got %d %q, want the upstream's 200", got.code, got.body)
			}
			ups := h.upstream.requests()
			if len(ups) != 1 {
				t.Fatalf("upstream saw %d requests, want 1", len(ups))
			}
			if ups[0].uri != "/p?q=1" || ups[0].header.Get("Authorization") != "Bearer x" {
				t.Errorf("upstream got %s with authorization %q", ups[0].uri, ups[0].header.Get("Authorization"))
			}
			if vs := ups[0].header.Values(FailureModeAllowedHeader); !reflect.DeepEqual(vs, tc.wantMarker) {
				t.Errorf("%s = %q, want %q", FailureModeAllowedHeader, vs, tc.wantMarker)
			}
		})
	}
}

// TestProxyCheckRequest checks the CheckRequest an end-to-end request
// produces, as the authz server received it.
func TestProxyCheckRequest(t *testing.T) {
	received := make(chan *authv3.CheckRequest, 1)
	h := newHarness(t, Config{ContextExtensions: map[string]string{"host": "policy.example.com"}},
		func(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
			received <- req
			return okResponse(nil), nil
		})
	req, err := http.NewRequest(http.MethodPost, "http://placeholder/api/items?page=2&sort=a%20b", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.example.com"
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	req.Header.Add("Cookie", "a=1")
	req.Header.Add("Cookie", "b=2")
	req.Header.Set("Keep-Alive", "timeout=5")
	if got := h.do(t, req); got.code != http.StatusOK {
		t.Fatalf("got %d %q", got.code, got.body)
	}

	var sent *authv3.CheckRequest
	select {
	case sent = <-received:
	case <-time.After(time.Second):
		t.Fatal("authz server never called")
	}
	attrs := sent.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	hdr := hr.GetHeaders()
	wantHeaders := map[string]string{
		":authority": "app.example.com", ":path": "/api/items?page=2&sort=a%20b", ":method": "POST",
		":scheme": "http", "x-multi": "1,2", "cookie": "a=1,b=2", "x-forwarded-proto": "http",
		"content-length": "7",
	}
	for k, want := range wantHeaders {
		if hdr[k] != want {
			t.Errorf("headers[%q] = %q, want %q", k, hdr[k], want)
		}
	}
	for _, k := range []string{"keep-alive", "host"} {
		if _, ok := hdr[k]; ok {
			t.Errorf("headers has %q", k)
		}
	}
	for k := range hdr {
		if k != strings.ToLower(k) {
			t.Errorf("header name %q not lower-case", k)
		}
	}
	if hdr["x-request-id"] == "" {
		t.Errorf("no x-request-id in the CheckRequest")
	}
	if hr.GetPath() != "/api/items?page=2&sort=a%20b" || hr.GetHost() != "app.example.com" || hr.GetProtocol() != "HTTP/1.1" {
		t.Errorf("path/host/protocol = %q %q %q", hr.GetPath(), hr.GetHost(), hr.GetProtocol())
	}
	if hr.GetBody() != "" {
		t.Errorf("body %q sent without with_request_body", hr.GetBody())
	}
	if src := attrs.GetSource().GetAddress().GetSocketAddress(); src.GetAddress() != "127.0.0.1" || src.GetPortValue() == 0 {
		t.Errorf("source = %v", src)
	}
	if dst := attrs.GetDestination().GetAddress().GetSocketAddress(); dst.GetAddress() != "127.0.0.1" || !strings.HasSuffix(h.url, ":"+strconv.FormatUint(uint64(dst.GetPortValue()), 10)) {
		t.Errorf("destination = %v, proxy at %s", dst, h.url)
	}
	if attrs.GetContextExtensions()["host"] != "policy.example.com" {
		t.Errorf("context_extensions = %v", attrs.GetContextExtensions())
	}
	if last := h.proxy.LastCheck(); last.GetAttributes().GetRequest().GetHttp().GetId() != hr.GetId() {
		t.Errorf("LastCheck is not the request the server received")
	}
	if up := h.upstream.requests(); len(up) != 1 || up[0].body != "payload" {
		t.Errorf("upstream body = %v", up)
	}
}

func TestNewDefaults(t *testing.T) {
	p, err := New(Config{AuthzAddr: "127.0.0.1:1", Upstream: "http://127.0.0.1:2"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer p.Close()
	if p.cfg.Timeout != 200*time.Millisecond || p.cfg.StatusOnError != http.StatusForbidden || p.cfg.FailureModeAllow {
		t.Errorf("defaults = timeout %v, status_on_error %d, failure_mode_allow %v", p.cfg.Timeout, p.cfg.StatusOnError, p.cfg.FailureModeAllow)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := map[string]Config{
		"no authz address":  {Upstream: "http://127.0.0.1:1"},
		"upstream not URL":  {AuthzAddr: "127.0.0.1:1", Upstream: "::"},
		"upstream has path": {AuthzAddr: "127.0.0.1:1", Upstream: "http://127.0.0.1:1/app"},
		"upstream relative": {AuthzAddr: "127.0.0.1:1", Upstream: "/app"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if p, err := New(cfg); err == nil {
				_ = p.Close()
				t.Errorf("New(%+v) succeeded", cfg)
			}
		})
	}
}
