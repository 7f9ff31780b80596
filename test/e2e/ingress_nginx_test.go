package e2e

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // ingress-nginx names the sign-in location with SHA-1; reproduced, not used for security
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/resolver"
	"github.com/authgate/authgate/test/upstream"
)

// ingressRecipe is the Ingress users copy. The test renders the nginx
// configuration ingress-nginx generates for its annotations, so an
// annotation that goes missing or wrong fails here.
const ingressRecipe = "../../config/ingress-nginx/ingress.yaml"

// ingressHardening is the controller ConfigMap the recipe ships against
// Host confusion; its http-snippet and server-snippet go where
// ingress-nginx puts them (nginx.tmpl: the http block, and every server).
const ingressHardening = "../../config/ingress-nginx/controller-configmap.yaml"

// loadIngressHardening returns the ConfigMap's http-snippet and
// server-snippet.
func loadIngressHardening(t *testing.T) (httpSnippet, serverSnippet string) {
	t.Helper()
	data, err := os.ReadFile(ingressHardening)
	if err != nil {
		t.Fatalf("failed to read %s: %v", ingressHardening, err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatalf("%s: %v", ingressHardening, err)
	}
	httpSnippet, serverSnippet = cm.Data["http-snippet"], cm.Data["server-snippet"]
	if httpSnippet == "" || serverSnippet == "" || len(cm.Data) != 2 {
		t.Fatalf("%s: want exactly http-snippet and server-snippet", ingressHardening)
	}
	return httpSnippet, serverSnippet
}

// ingressAuth is what ingress-nginx reads from one Ingress's auth
// annotations (internal/ingress/annotations/authreq/main.go), for its one
// host and path.
type ingressAuth struct {
	Host, Path, PathType string
	URL                  *url.URL // auth-url
	ResponseHeaders      []string // auth-response-headers
	SigninURL            string   // auth-signin, with the redirect parameter appended
}

// loadIngressRecipe parses the shipped Ingresses.
func loadIngressRecipe(t *testing.T) map[string]ingressAuth {
	t.Helper()
	data, err := os.ReadFile(ingressRecipe)
	if err != nil {
		t.Fatalf("failed to read the ingress-nginx recipe: %v", err)
	}
	out := map[string]ingressAuth{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var ing networkingv1.Ingress
		if err := yaml.UnmarshalStrict([]byte(doc), &ing); err != nil {
			t.Fatalf("%s: %v", ingressRecipe, err)
		}
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].HTTP == nil || len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
			t.Fatalf("%s: Ingress %s: want one rule with one path", ingressRecipe, ing.Name)
		}
		rule := ing.Spec.Rules[0]
		p := rule.HTTP.Paths[0]
		a := ingressAuth{Host: rule.Host, Path: p.Path, PathType: string(*p.PathType)}
		const prefix = "nginx.ingress.kubernetes.io/"
		if a.URL, err = url.Parse(ing.Annotations[prefix+"auth-url"]); err != nil || a.URL.Host == "" {
			t.Fatalf("Ingress %s: auth-url %q: %v", ing.Name, ing.Annotations[prefix+"auth-url"], err)
		}
		// authreq/main.go: auth-response-headers split on ",", trimmed.
		for _, h := range strings.Split(ing.Annotations[prefix+"auth-response-headers"], ",") {
			if h = strings.TrimSpace(h); h != "" {
				a.ResponseHeaders = append(a.ResponseHeaders, h)
			}
		}
		if s := ing.Annotations[prefix+"auth-signin"]; s != "" {
			a.SigninURL = buildAuthSignURL(s, ing.Annotations[prefix+"auth-signin-redirect-param"])
		}
		out[a.Host] = a
	}
	return out
}

// buildAuthSignURL is ingress-nginx's (internal/ingress/controller/template/
// template.go buildAuthSignURL): the original URL is appended as the
// redirect parameter (default "rd") unless the URL already has it.
func buildAuthSignURL(signin, param string) string {
	if param == "" {
		param = "rd"
	}
	u, _ := url.Parse(signin)
	q := u.Query()
	switch {
	case len(q) == 0:
		return fmt.Sprintf("%s?%s=$pass_access_scheme://$http_host$escaped_request_uri", signin, param)
	case q.Get(param) != "":
		return signin
	default:
		return fmt.Sprintf("%s&%s=$pass_access_scheme://$http_host$escaped_request_uri", signin, param)
	}
}

// AuthPath is template.go buildAuthLocation: "/_external-auth-" + the
// location path in unpadded URL-safe base64 + "-" + the path type.
func (a ingressAuth) AuthPath() string {
	enc := strings.ReplaceAll(base64.URLEncoding.EncodeToString([]byte(a.Path)), "=", "")
	return "/_external-auth-" + enc + "-" + a.PathType
}

// SigninLocation is template.go buildAuthSignURLLocation.
func (a ingressAuth) SigninLocation() string {
	h := sha1.New() //nolint:gosec // as ingress-nginx does
	h.Write([]byte(a.Path))
	h.Write([]byte(a.SigninURL))
	return "@" + hex.EncodeToString(h.Sum(nil))
}

// AuthResponseHeaders is template.go buildAuthResponseHeaders (the default,
// non-keepalive form): per header, an auth_request_set from
// $upstream_http_<lower-case, "-" as "_"> and a proxy_set_header, which
// replaces any copy the client sent and sends nothing when the value is
// empty.
func (a ingressAuth) AuthResponseHeaders() []string {
	var lines []string
	for i, h := range a.ResponseHeaders {
		v := strings.ReplaceAll(strings.ToLower(h), "-", "_")
		lines = append(lines,
			fmt.Sprintf("auth_request_set $authHeader%d $upstream_http_%s;", i, v),
			fmt.Sprintf("proxy_set_header '%s' $authHeader%d;", h, i))
	}
	return lines
}

// ingressServer reproduces, per Ingress, the server block ingress-nginx's
// rootfs/etc/nginx/template/nginx.tmpl generates for a location with
// auth-url (and auth-signin), keeping the directives that decide what
// authgate sees and what reaches the app, in the template's order. Left
// out: the Lua balancer (proxy_pass goes straight to the app), opentracing,
// mirror, modsecurity, CORS, rate limits, client certificates, and the auth
// cache (auth-cache-key is not set). One substitution: ingress-nginx builds
// $escaped_request_uri with set_escape_uri from OpenResty's set-misc
// module, which Debian's nginx lacks; here it is $request_uri unescaped,
// which only changes the redirect_uri text of a sign-in Location.
const ingressServer = `
server {
    listen {{.Listen}};
    server_name {{.A.Host}};
{{if .ServerSnippet}}
    # Custom code snippet configured in the configuration configmap
    {{.ServerSnippet}}
{{end}}
    location = {{.A.AuthPath}} {
        internal;

        proxy_pass_request_body     off;
        proxy_set_header            Content-Length          "";
        proxy_set_header            X-Forwarded-Proto       "";
        proxy_set_header            X-Request-ID            $req_id;

        proxy_set_header            Host                    {{.A.URL.Hostname}};
        proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
        proxy_set_header            X-Original-Method       $request_method;
        proxy_set_header            X-Sent-From             "nginx-ingress-controller";
        proxy_set_header            X-Real-IP               $remote_addr;
        proxy_set_header            X-Forwarded-For         $remote_addr;
        proxy_set_header            X-Auth-Request-Redirect $request_uri;

        proxy_buffering                         off;
        proxy_buffer_size                       4k;
        proxy_buffers                           4 4k;
        proxy_request_buffering                 on;
        proxy_http_version                      1.1;

        proxy_ssl_server_name       on;
        proxy_pass_request_headers  on;
        client_max_body_size        1m;

        set $target {{.AuthTarget}};
        proxy_pass $target;
    }
{{if .A.SigninURL}}
    location {{.A.SigninLocation}} {
        internal;

        add_header Set-Cookie $auth_cookie;

        return 302 {{.A.SigninURL}};
    }
{{end}}
    location {{.A.Path}} {
        set $pass_access_scheme  $scheme;
        set $pass_server_port    $server_port;
        set $best_http_host      $http_host;
        set $pass_port           $pass_server_port;

        # this location requires authentication
        auth_request        {{.A.AuthPath}};
        auth_request_set    $auth_cookie $upstream_http_set_cookie;
        add_header          Set-Cookie $auth_cookie;
{{- range .A.AuthResponseHeaders}}
        {{.}}
{{- end}}
{{if .A.SigninURL}}
        set $escaped_request_uri $request_uri;
        error_page 401 = {{.A.SigninLocation}};
{{end}}
        proxy_set_header Host                   $best_http_host;
        proxy_set_header                        Upgrade           $http_upgrade;
        proxy_set_header                        Connection        $connection_upgrade;
        proxy_set_header X-Request-ID           $req_id;
        proxy_set_header X-Real-IP              $remote_addr;
        proxy_set_header X-Forwarded-For        $remote_addr;
        proxy_set_header X-Forwarded-Host       $best_http_host;
        proxy_set_header X-Forwarded-Port       $pass_port;
        proxy_set_header X-Forwarded-Proto      $pass_access_scheme;
        proxy_set_header X-Scheme               $pass_access_scheme;
        proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
        proxy_set_header Proxy                  "";

        proxy_http_version 1.1;
        proxy_pass http://{{.App}};
    }
}
`

// ingressHTTP is the http-level part of nginx.tmpl the servers rely on, and
// the catch-all server ingress-nginx answers unknown hosts with (its default
// backend's 404).
const ingressHTTP = `
# nginx.tmpl: "Reverse proxies can detect if a client provides a
# X-Request-ID header, and pass it on to the backend server."
map $http_x_request_id $req_id {
    default   $http_x_request_id;
    ""        $request_id;
}
map $http_upgrade $connection_upgrade {
    default          upgrade;
    ''               '';
}
# The controller's default, enable-underscores-in-headers: false.
underscores_in_headers off;
{{if .HTTPSnippet}}
# Custom code snippet configured in the configuration configmap
{{.HTTPSnippet}}
{{end}}
server {
    listen {{.Listen}} default_server;
    return 404;
}
`

// ingressPolicies are the policies behind the two Ingresses: shop (tokens,
// as in the nginx tests) and www (Authgear sessions, with spec.signIn, which
// over this contract must still come back as 401 for ingress-nginx to turn
// into its own sign-in redirect); and a permissive public.example.com that
// no Ingress serves. %[1]s is the issuer URL, %[2]s its JWKS URI, %[3]s the
// resolver URL.
const ingressPolicies = policyYAML + `---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: www, namespace: web}
spec:
  hosts: ["www.example.com"]
  authenticators:
  - name: web
    session:
      cookies: [session]
      resolver: {url: %[3]s, contract: authgear, timeout: 2s}
      cacheTTL: 0s
      negativeCacheTTL: 0s
  rules:
  - name: all
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-Gateway: {value: authgate}
  signIn:
    url: "https://authgate-redirected.invalid/login?redirect_uri={url}"
---
apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: public, namespace: public}
spec:
  hosts: ["public.example.com"]
  authenticators:
  - name: bearer
    jwt: {issuer: %[1]s, jwksURI: %[2]s, audiences: ["public"]}
  rules:
  - name: all
    match: {pathPrefix: /}
    allowAnonymous: true
`

// startIngressStack starts nginx configured as ingress-nginx would be for
// the recipe, in front of the echo app, asking a real authgate; hardened
// adds the recipe's controller ConfigMap snippets.
func startIngressStack(t *testing.T, hardened bool) *stack {
	t.Helper()
	recipe := loadIngressRecipe(t)
	var httpSnippet, serverSnippet string
	if hardened {
		httpSnippet, serverSnippet = loadIngressHardening(t)
	}
	nginxBin := nginxBinary(t)
	authgateBin := authgateBinary(t)

	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatalf("failed to start the development issuer: %v", err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	rv := resolver.NewAuthgear(resolver.AuthgearConfig{})
	t.Cleanup(rv.Close)
	rv.AddSession(aliceCookie, resolver.Session{
		UserID: "alice", Verified: true, CanReauthenticate: true,
		Roles: []string{"staff", "billing"}, AMR: []string{"pwd", "otp"},
		AuthenticatedAt: time.Unix(1700000000, 0),
	})
	rv.AddSession(revokedCookie, resolver.Session{UserID: "alice"})
	rv.Revoke(revokedCookie)

	up := upstream.New()
	t.Cleanup(up.Close)
	s := &stack{iss: iss, up: up}
	authgateAddr := s.startAuthgate(t, authgateBin, fmt.Sprintf(ingressPolicies, iss.URL, iss.JWKSURI(), rv.ResolveURL()))

	s.addr = freeAddr(t)
	var conf bytes.Buffer
	httpT := template.Must(template.New("http").Parse(ingressHTTP))
	if err := httpT.Execute(&conf, map[string]string{"Listen": s.addr, "HTTPSnippet": httpSnippet}); err != nil {
		t.Fatal(err)
	}
	serverT := template.Must(template.New("server").Parse(ingressServer))
	for _, host := range []string{"shop.example.com", "www.example.com"} {
		a, ok := recipe[host]
		if !ok {
			t.Fatalf("%s: no Ingress for %s", ingressRecipe, host)
		}
		// The chart's Service name stands for authgate's loopback address;
		// the path, /auth, is the recipe's.
		target := *a.URL
		target.Host = authgateAddr
		if err := serverT.Execute(&conf, map[string]any{
			"Listen": s.addr, "A": a, "AuthTarget": target.String(), "App": s.up.Listener.Addr().String(),
			"ServerSnippet": serverSnippet,
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.startNginxConf(t, nginxBin, conf.String())
	return s
}

// startNginxConf runs nginx on conf (the contents of its http {} block),
// as startNginx runs the sample.
func (s *stack) startNginxConf(t *testing.T, bin, conf string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"authgate.conf": conf,
		"nginx.conf":    fmt.Sprintf(nginxConf, dir),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("failed to write %s: %v", name, err)
		}
	}
	s.nginx = startProcess(t, "nginx", bin,
		"-e", "stderr", "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"),
		"-g", "daemon off; master_process off;")
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("nginx configuration:\n%s\nnginx access log:\n%s", conf, log)
		}
	})
	waitUntil(t, s.nginx, "nginx to listen on "+s.addr, func() error {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	s.client = &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(s.client.CloseIdleConnections)
}

func TestIngressNginxRecipe(t *testing.T) {
	s := startIngressStack(t, true)

	alice := s.mint(t, devissuer.Token{Subject: "alice"})
	admin := s.mint(t, devissuer.Token{Subject: "root", Claims: map[string]any{rolesClaim: []string{"admin"}}})
	full := s.mint(t, devissuer.Token{Subject: "carol", Claims: map[string]any{
		"tenant":                         "acme",
		"amr":                            []string{"pwd", "otp"},
		"auth_time":                      1700000000,
		userClaim + "roles":              []string{"staff", "billing"},
		userClaim + "is_anonymous":       false,
		userClaim + "is_verified":        true,
		userClaim + "can_reauthenticate": true,
	}})
	asAlice := map[string]string{
		"X-User-Id": "alice", "X-Authgear-User-Id": "alice",
		"X-Authgear-Session-Valid": "true", "X-Gateway": "authgate",
	}
	// Where ingress-nginx sends a request without a valid session: the
	// recipe's auth-signin with redirect_uri appended.
	const wwwSignin = "https://auth.example.com/login?redirect_uri=http://www.example.com"

	tests := map[string]struct {
		host      string // default shop.example.com
		target    string
		header    []string
		status    int
		challenge string
		location  string            // the Location the client must get, as a prefix; "" none
		upstream  map[string]string // identity headers the app must see; nil: not reached
	}{
		"token: valid token reaches the app": {
			target: "/orders?page=2", header: []string{"Authorization", "Bearer " + alice},
			status: http.StatusOK, upstream: asAlice,
		},
		"token: every identity header reaches the app": {
			target: "/", header: []string{"Authorization", "Bearer " + full},
			status: http.StatusOK, upstream: map[string]string{
				"X-User-Id": "carol", "X-Tenant": "acme", "X-Gateway": "authgate",
				"X-Authgear-Session-Valid": "true", "X-Authgear-User-Id": "carol",
				"X-Authgear-User-Anonymous": "false", "X-Authgear-User-Verified": "true",
				"X-Authgear-User-Can-Reauthenticate": "true", "X-Authgear-User-Roles": "staff,billing",
				"X-Authgear-Session-Amr": "pwd otp", "X-Authgear-Session-Authenticated-At": "1700000000",
			},
		},
		"token: forged identity headers are replaced": {
			target: "/", header: append([]string{"Authorization", "Bearer " + alice}, forged...),
			status: http.StatusOK, upstream: asAlice,
		},
		"token: forged identity headers on a public page are removed": {
			target: "/public/page", header: forged,
			status: http.StatusOK, upstream: map[string]string{"X-Gateway": "authgate"},
		},
		"token: no token is 401 with the challenge": {
			target: "/orders", status: http.StatusUnauthorized, challenge: challenge,
		},
		"token: browser without a token still gets the 401 (no auth-signin)": {
			target: "/orders", header: []string{"Accept", browserAccept},
			status: http.StatusUnauthorized, challenge: challenge,
		},
		"token: non-admin on /admin is 403": {
			target: "/admin/users", header: []string{"Authorization", "Bearer " + alice},
			status: http.StatusForbidden,
		},
		"token: admin on /admin": {
			target: "/admin/users", header: []string{"Authorization", "Bearer " + admin},
			status: http.StatusOK, upstream: map[string]string{
				"X-User-Id": "root", "X-Authgear-User-Id": "root", "X-Authgear-Session-Valid": "true",
				"X-Gateway": "authgate", "X-Authgear-User-Roles": "admin",
			},
		},
		"token: client-sent X-Original-URL is replaced": {
			target: "/admin", header: []string{"X-Original-URL", "http://shop.example.com/public", "X-Original-Method", "GET"},
			status: http.StatusUnauthorized, challenge: challenge,
		},
		"token: dot segments into /admin": {
			target: "/public/%2e%2e/admin", status: http.StatusUnauthorized, challenge: challenge,
		},
		"cookie: valid session reaches the app": {
			host: "www.example.com", target: "/account", header: cookie(aliceCookie),
			status: http.StatusOK, upstream: aliceHeaders,
		},
		"cookie: forged identity headers are replaced": {
			host: "www.example.com", target: "/account", header: append(cookie(aliceCookie), sessionForged...),
			status: http.StatusOK, upstream: aliceHeaders,
		},
		"cookie: no session is sent to sign in": {
			host: "www.example.com", target: "/account", header: []string{"Accept", browserAccept},
			status: http.StatusFound, location: wwwSignin + "/account",
		},
		"cookie: revoked session is sent to sign in": {
			host: "www.example.com", target: "/account", header: cookie(revokedCookie),
			status: http.StatusFound, location: wwwSignin + "/account",
		},
		// ingress-nginx redirects every 401 there, API calls included; the
		// recipe keeps auth-signin off the token API for that reason.
		"cookie: API call without a session is redirected too": {
			host: "www.example.com", target: "/api/me", header: []string{"Accept", "application/json"},
			status: http.StatusFound, location: wwwSignin + "/api/me",
		},
		"host no Ingress serves": {
			host: "public.example.com", target: "/", status: http.StatusNotFound,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s.up.Reset()
			host := tc.host
			if host == "" {
				host = testHost
			}
			resp := s.do(t, http.MethodGet, tc.target, append([]string{"Host", host}, tc.header...)...)
			if resp.status != tc.status {
				t.Errorf("status = %d, want %d", resp.status, tc.status)
			}
			if got := strings.Join(resp.header.Values("WWW-Authenticate"), " | "); tc.location == "" && got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			loc := resp.header.Get("Location")
			if (tc.location == "" && loc != "") || !strings.HasPrefix(loc, tc.location) {
				t.Errorf("Location = %q, want %q", loc, tc.location)
			}
			if strings.Contains(loc, "authgate-redirected.invalid") {
				t.Errorf("authgate redirected over the auth_request contract: %q", loc)
			}
			checkIngressUpstream(t, s, host, tc.upstream)
		})
	}
}

// TestIngressNginxHostConfusion is why the recipe ships
// controller-configmap.yaml. ingress-nginx sets X-Original-URL from the Host
// header ($http_host) while nginx routes an absolute-form request line on
// its own host, so the two can name different hosts: without the snippets a
// request for shop.example.com's /admin, sent with the Host header of a
// public site authgate also knows, is decided by that site's policy and
// reaches shop's app anonymously. With them it is refused.
func TestIngressNginxHostConfusion(t *testing.T) {
	const target = "http://shop.example.com/admin/users"
	tests := map[string]struct {
		hardened bool
		host     string
		status   int
		reached  bool
	}{
		"without the snippets: decided as the Host header's site": {
			hardened: false, host: "public.example.com", status: http.StatusOK, reached: true,
		},
		"with the snippets: refused": {
			hardened: true, host: "public.example.com", status: http.StatusMisdirectedRequest,
		},
		"with the snippets: matching host still decided normally": {
			hardened: true, host: "shop.example.com", status: http.StatusUnauthorized,
		},
		"with the snippets: a port and another case in Host are fine": {
			hardened: true, host: "SHOP.Example.com:80", status: http.StatusUnauthorized,
		},
	}
	stacks := map[bool]*stack{false: startIngressStack(t, false), true: startIngressStack(t, true)}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := stacks[tc.hardened]
			s.up.Reset()
			resp := s.do(t, http.MethodGet, target, "Host", tc.host)
			if resp.status != tc.status {
				t.Errorf("status = %d, want %d", resp.status, tc.status)
			}
			if n := len(s.up.Requests()); (n == 1) != tc.reached || n > 1 {
				t.Errorf("the app was reached %d times, want reached=%v", n, tc.reached)
			}
		})
	}
}

// checkIngressUpstream is checkUpstream for any host: nothing reached the
// app when want is nil, else one request for host carrying exactly the
// identity headers in want, no header with "_" and no forged value.
func checkIngressUpstream(t *testing.T, s *stack, host string, want map[string]string) {
	t.Helper()
	reqs := s.up.Requests()
	if want == nil {
		if len(reqs) != 0 {
			t.Errorf("the app was reached %d times, want never", len(reqs))
		}
		return
	}
	if len(reqs) != 1 {
		t.Fatalf("the app was reached %d times, want once", len(reqs))
	}
	got := reqs[0]
	if got.Host != host {
		t.Errorf("the app saw Host %q, want %q", got.Host, host)
	}
	for _, name := range identityHeaders {
		values := got.Header.Values(name)
		w, ok := want[name]
		switch {
		case !ok:
			if len(values) != 0 {
				t.Errorf("the app saw %s: %q, want none", name, values)
			}
		case !slices.Equal(values, []string{w}):
			t.Errorf("the app saw %s: %q, want [%q]", name, values, w)
		}
	}
	for name, values := range got.Header {
		if strings.Contains(name, "_") {
			t.Errorf("the app saw header %s: %q, want no header with an underscore", name, values)
		}
		for _, v := range values {
			if strings.Contains(v, "mallory") || strings.Contains(v, "evil") {
				t.Errorf("the app saw a forged value in %s: %q", name, v)
			}
		}
	}
}
