package envoy

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBuildCheckRequestHeaders(t *testing.T) {
	tests := map[string]struct {
		method string
		target string
		header [][2]string // added in order, so repeats are kept
		want   map[string]string
	}{
		"names lower-cased and pseudo-headers present": {
			method: http.MethodGet,
			target: "/a/b?x=1&y=2",
			header: [][2]string{{"X-Custom", "v"}, {"Accept", "*/*"}},
			want: map[string]string{
				":authority": "app.example.com", ":path": "/a/b?x=1&y=2", ":method": "GET", ":scheme": "http",
				"x-custom": "v", "accept": "*/*",
			},
		},
		"repeated header joined with comma": {
			method: http.MethodPost,
			target: "/",
			header: [][2]string{{"X-Multi", "a"}, {"X-Multi", "b"}, {"X-Multi", "c"}},
			want: map[string]string{
				":authority": "app.example.com", ":path": "/", ":method": "POST", ":scheme": "http",
				"x-multi": "a,b,c",
			},
		},
		"cookie lines joined with comma as for HTTP/1": {
			method: http.MethodGet,
			target: "/",
			header: [][2]string{{"Cookie", "a=1"}, {"Cookie", "b=2"}},
			want: map[string]string{
				":authority": "app.example.com", ":path": "/", ":method": "GET", ":scheme": "http",
				"cookie": "a=1,b=2",
			},
		},
		"raw path and query kept byte for byte": {
			method: http.MethodGet,
			target: "/p%2Fq/%7Euser?z=%20&z=2",
			want: map[string]string{
				":authority": "app.example.com", ":path": "/p%2Fq/%7Euser?z=%20&z=2", ":method": "GET", ":scheme": "http",
			},
		},
		"hop-by-hop and client partial-body headers left out": {
			method: http.MethodGet,
			target: "/",
			header: [][2]string{
				{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"Proxy-Connection", "keep-alive"},
				{"Upgrade", "h2c"}, {"X-Envoy-Internal", "true"}, {"X-Envoy-Auth-Partial-Body", "true"}, {"X-Kept", "1"},
			},
			want: map[string]string{
				":authority": "app.example.com", ":path": "/", ":method": "GET", ":scheme": "http",
				"x-kept": "1",
			},
		},
		"upgrade request keeps connection and upgrade": {
			method: http.MethodGet,
			target: "/ws",
			header: [][2]string{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
			want: map[string]string{
				":authority": "app.example.com", ":path": "/ws", ":method": "GET", ":scheme": "http",
				"connection": "Upgrade", "upgrade": "websocket",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Host = "app.example.com"
			for _, kv := range tc.header {
				r.Header.Add(kv[0], kv[1])
			}
			got := BuildCheckRequest(r, nil).GetAttributes().GetRequest().GetHttp()
			if !maps.Equal(got.GetHeaders(), tc.want) {
				t.Errorf("headers:\n got %v\nwant %v", got.GetHeaders(), tc.want)
			}
			if got.GetPath() != tc.want[":path"] || got.GetMethod() != tc.method || got.GetHost() != "app.example.com" {
				t.Errorf("path/method/host = %q %q %q", got.GetPath(), got.GetMethod(), got.GetHost())
			}
		})
	}
}

func TestBuildCheckRequestAttributes(t *testing.T) {
	before := time.Now().Add(-time.Second)
	r := httptest.NewRequest(http.MethodGet, "/x?q=1", nil)
	r.Host = "app.example.com:8080"
	r.RemoteAddr = "192.0.2.7:4321"
	r.Header.Set("X-Envoy-Downstream-Service-Cluster", "frontend")
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10000}
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
	ext := map[string]string{"host": "policy.example.com"}

	req := BuildCheckRequest(r, ext)
	ext["host"] = "mutated" // the request must hold a copy
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()

	if _, err := strconv.ParseUint(h.GetId(), 10, 64); err != nil {
		t.Errorf("id %q is not a stream id: %v", h.GetId(), err)
	}
	if h.GetScheme() != "http" || h.GetProtocol() != "HTTP/1.1" || h.GetHost() != "app.example.com:8080" {
		t.Errorf("scheme/protocol/host = %q %q %q", h.GetScheme(), h.GetProtocol(), h.GetHost())
	}
	if h.GetBody() != "" || h.GetRawBody() != nil {
		t.Errorf("body sent without with_request_body")
	}
	if src := attrs.GetSource().GetAddress().GetSocketAddress(); src.GetAddress() != "192.0.2.7" || src.GetPortValue() != 4321 {
		t.Errorf("source = %v", src)
	}
	if attrs.GetSource().GetService() != "frontend" {
		t.Errorf("source.service = %q", attrs.GetSource().GetService())
	}
	if dst := attrs.GetDestination().GetAddress().GetSocketAddress(); dst.GetAddress() != "127.0.0.1" || dst.GetPortValue() != 10000 {
		t.Errorf("destination = %v", dst)
	}
	if got := attrs.GetContextExtensions(); !maps.Equal(got, map[string]string{"host": "policy.example.com"}) {
		t.Errorf("context_extensions = %v", got)
	}
	if ts := attrs.GetRequest().GetTime().AsTime(); ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("request.time = %v", ts)
	}
}

func TestPrepareDownstream(t *testing.T) {
	tests := map[string]struct {
		header [][2]string
		check  func(t *testing.T, h http.Header)
	}{
		"generates x-request-id and x-forwarded-proto": {
			check: func(t *testing.T, h http.Header) {
				id := h.Get("X-Request-Id")
				if len(id) != 36 || strings.Count(id, "-") != 4 || id[14] != '4' {
					t.Errorf("x-request-id %q is not a v4 UUID", id)
				}
				if h.Get("X-Forwarded-Proto") != "http" {
					t.Errorf("x-forwarded-proto = %q", h.Get("X-Forwarded-Proto"))
				}
			},
		},
		"keeps client x-request-id and x-forwarded-proto": {
			header: [][2]string{{"X-Request-Id", "abc"}, {"X-Forwarded-Proto", "https"}},
			check: func(t *testing.T, h http.Header) {
				if h.Get("X-Request-Id") != "abc" || h.Get("X-Forwarded-Proto") != "https" {
					t.Errorf("got %v", h)
				}
			},
		},
		"joins repeated inline headers, keeps other repeats": {
			header: [][2]string{{"User-Agent", "a"}, {"User-Agent", "b"}, {"Cookie", "c=1"}, {"Cookie", "d=2"}},
			check: func(t *testing.T, h http.Header) {
				if got := h.Values("User-Agent"); len(got) != 1 || got[0] != "a,b" {
					t.Errorf("user-agent = %q", got)
				}
				if got := h.Values("Cookie"); len(got) != 2 {
					t.Errorf("cookie = %q, want two entries", got)
				}
			},
		},
		"drops hop-by-hop headers": {
			header: [][2]string{{"Connection", "close"}, {"Keep-Alive", "1"}, {"Proxy-Connection", "x"}, {"X-Envoy-Internal", "true"}},
			check: func(t *testing.T, h http.Header) {
				for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "X-Envoy-Internal"} {
					if _, ok := h[k]; ok {
						t.Errorf("%s kept", k)
					}
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, kv := range tc.header {
				r.Header.Add(kv[0], kv[1])
			}
			orig := r.Header.Clone()
			tc.check(t, prepareDownstream(r))
			if !maps.EqualFunc(orig, r.Header, func(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }) {
				t.Errorf("prepareDownstream modified r.Header")
			}
		})
	}
}
