package authrequest

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/request"
)

func TestOriginal(t *testing.T) {
	h := &Handler{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	tests := map[string]struct {
		method     string
		target     string
		host       string
		remote     string
		header     map[string]string
		wantHost   string
		wantMethod string
		wantPath   string
		wantQuery  string
		wantEnvoy  bool
		wantErr    bool
	}{
		"ingress-nginx": {
			target: "/auth", host: "authgate.svc", header: map[string]string{"X-Original-URL": "https://Shop.Example.com:443/api/x?a=1", "X-Original-Method": "POST"},
			wantHost: "shop.example.com", wantMethod: "POST", wantPath: "/api/x", wantQuery: "a=1",
		},
		"original URL wins over forwarded headers": {
			target: "/auth", remote: "10.1.2.3:1", header: map[string]string{"X-Original-URL": "https://a.com/x", "X-Original-Method": "GET", "X-Forwarded-Host": "b.com"},
			wantHost: "a.com", wantMethod: "GET", wantPath: "/x",
		},
		"original URL dot segments": {
			target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com/public/%2e%2e/admin", "X-Original-Method": "GET"},
			wantHost: "a.com", wantMethod: "GET", wantPath: "/admin",
		},
		"original URL fragment refused": {
			target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com/public#/../admin", "X-Original-Method": "GET"}, wantErr: true,
		},
		"hash in the host cannot hide the path": {
			target: "/auth", header: map[string]string{"X-Original-URL": "http://shop.example.com#/admin/users", "X-Original-Method": "GET"}, wantErr: true,
		},
		"question mark in the host cannot hide the path": {
			target: "/auth", header: map[string]string{"X-Original-URL": "http://shop.example.com?/admin/users", "X-Original-Method": "GET"}, wantErr: true,
		},
		"encoded slash with a character Go re-escapes": {
			target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com/admin%2F..%2Fpublic%2Fx|", "X-Original-Method": "GET"}, wantErr: true,
		},
		"envoy encoded slash with a character Go re-escapes": {
			target: "/envoy/admin%2F..%2Fpublic%2Fx%7C", host: "a.com", wantErr: true,
		},
		"trusted forwarded headers win over a client's X-Original-URL": {
			target: "/auth", remote: "10.0.0.5:1",
			header:   map[string]string{"X-Original-URL": "https://shop.example.com/public/x", "X-Original-Method": "GET", "X-Forwarded-Host": "shop.example.com", "X-Forwarded-Uri": "/admin/users", "X-Forwarded-Method": "GET"},
			wantHost: "shop.example.com", wantMethod: "GET", wantPath: "/admin/users",
		},
		"forwarded host without uri is not enough": {
			target: "/auth", remote: "10.0.0.5:1",
			header:   map[string]string{"X-Original-URL": "https://a.com/x", "X-Original-Method": "GET", "X-Forwarded-Host": "b.com"},
			wantHost: "a.com", wantMethod: "GET", wantPath: "/x",
		},
		"original URL without path": {
			target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com", "X-Original-Method": "GET"},
			wantHost: "a.com", wantMethod: "GET", wantPath: "/",
		},
		"original URL relative":   {target: "/auth", header: map[string]string{"X-Original-URL": "/admin", "X-Original-Method": "GET"}, wantErr: true},
		"original URL no method":  {target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com/"}, wantErr: true},
		"original URL bad method": {target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com/", "X-Original-Method": "G ET"}, wantErr: true},
		"original URL userinfo":   {target: "/auth", header: map[string]string{"X-Original-URL": "https://u:p@a.com/", "X-Original-Method": "GET"}, wantErr: true},
		"original URL ftp":        {target: "/auth", header: map[string]string{"X-Original-URL": "ftp://a.com/", "X-Original-Method": "GET"}, wantErr: true},
		"original URL encoded slash": {
			target: "/auth", header: map[string]string{"X-Original-URL": "https://a.com/public%2F..%2Fadmin", "X-Original-Method": "GET"}, wantErr: true,
		},
		"traefik from a trusted proxy": {
			target: "/auth", remote: "10.9.9.9:5555",
			header:   map[string]string{"X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/admin?x=1", "X-Forwarded-Method": "DELETE", "X-Forwarded-Proto": "https"},
			wantHost: "app.example.com", wantMethod: "DELETE", wantPath: "/admin", wantQuery: "x=1",
		},
		"traefik trusted over IPv6": {
			target: "/auth", remote: "[::1]:5555", header: map[string]string{"X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/"},
			wantHost: "app.example.com", wantMethod: "GET", wantPath: "/",
		},
		"forwarded headers from an untrusted peer are ignored": {
			target: "/auth/real/path", host: "own.example.com", remote: "192.0.2.1:5555",
			header:   map[string]string{"X-Forwarded-Host": "spoofed.example.com", "X-Forwarded-Uri": "/public"},
			wantHost: "own.example.com", wantMethod: "GET", wantPath: "/real/path",
		},
		"auth prefix with own host": {
			target: "/auth/api/x?q=1", host: "shop.example.com", wantHost: "shop.example.com", wantMethod: "GET", wantPath: "/api/x", wantQuery: "q=1",
		},
		"envoy prefix": {
			method: "PUT", target: "/envoy/api/x?q=1", host: "shop.example.com:8443", wantHost: "shop.example.com", wantMethod: "PUT", wantPath: "/api/x", wantQuery: "q=1", wantEnvoy: true,
		},
		"envoy prefix root": {
			target: "/envoy", host: "shop.example.com", wantHost: "shop.example.com", wantMethod: "GET", wantPath: "/", wantEnvoy: true,
		},
		"envoy prefix traversal": {
			target: "/envoy/public/%2e%2e/admin", host: "shop.example.com", wantHost: "shop.example.com", wantMethod: "GET", wantPath: "/admin", wantEnvoy: true,
		},
		"not an endpoint":         {target: "/authx", host: "a.com", wantErr: true},
		"another path":            {target: "/metrics", host: "a.com", wantErr: true},
		"envoyx is not the envoy": {target: "/envoyx/a", host: "a.com", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			host := tc.host
			if host == "" {
				host = "authgate.svc"
			}
			hr := httptest.NewRequest(method, "http://"+host+tc.target, nil)
			if tc.remote != "" {
				hr.RemoteAddr = tc.remote
			}
			for k, v := range tc.header {
				hr.Header.Set(k, v)
			}
			r := new(request.Request)
			envoy, err := h.original(hr, r)
			if tc.wantErr {
				if !errors.Is(err, request.ErrBadRequest) {
					t.Fatalf("want ErrBadRequest, got %v (%+v)", err, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Host != tc.wantHost || r.Method != tc.wantMethod || r.Path != tc.wantPath || r.RawQuery != tc.wantQuery || envoy != tc.wantEnvoy {
				t.Fatalf("got host=%q method=%q path=%q query=%q envoy=%v", r.Host, r.Method, r.Path, r.RawQuery, envoy)
			}
			if r.Transport != Transport {
				t.Fatalf("transport = %q", r.Transport)
			}
		})
	}
}

// TestHeaderInjectionInOriginalURL: url.Parse refuses control characters, so
// a CR/LF smuggled into X-Original-URL can never become part of a path.
func TestHeaderInjectionInOriginalURL(t *testing.T) {
	h := &Handler{}
	hr := httptest.NewRequest("GET", "http://authgate/auth", nil)
	hr.Header["X-Original-Url"] = []string{"https://a.com/x\r\nX-User-Id: admin"}
	hr.Header.Set("X-Original-Method", "GET")
	if _, err := h.original(hr, new(request.Request)); !errors.Is(err, request.ErrBadRequest) {
		t.Fatalf("want ErrBadRequest, got %v", err)
	}
}

// FuzzOriginal feeds hostile X-Original-URL and X-Forwarded-* values to the
// parser: it must never panic, and whatever it accepts must be canonical.
func FuzzOriginal(f *testing.F) {
	for _, s := range []string{"https://a.com/x?y", "/rel", "https://a.com/%2e%2e/x", "http://[::1]:80/a", "https://a.com/a%2Fb", "https://a.com\r\n/x", "https://a.com/../../", "https://A.COM./p#f"} {
		f.Add(s, "GET", "b.com", "/u")
	}
	h := &Handler{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	f.Fuzz(func(t *testing.T, origURL, method, fwdHost, fwdURI string) {
		hr := httptest.NewRequest("GET", "http://authgate/auth", nil)
		hr.Header["X-Original-Url"] = []string{origURL}
		hr.Header["X-Original-Method"] = []string{method}
		hr.Header["X-Forwarded-Host"] = []string{fwdHost}
		hr.Header["X-Forwarded-Uri"] = []string{fwdURI}
		r := new(request.Request)
		_, err := h.original(hr, r)
		if err != nil {
			return
		}
		if r.Host == "" || r.Host != strings.ToLower(r.Host) || !strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "/../") || r.Method == "" {
			t.Fatalf("accepted a non-canonical request: %+v", r)
		}
		if strings.ContainsAny(r.Path+r.Host, "\r\n") {
			t.Fatalf("control characters accepted: %+v", r)
		}
	})
}
