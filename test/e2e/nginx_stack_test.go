package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/upstream"
)

// testHost is the host the test policy claims, as in config/samples/shop.yaml.
const testHost = "shop.example.com"

// sampleConf is the nginx sample users copy. The tests run this file, not a
// copy of it, so it cannot drift from what is tested.
const sampleConf = "../../config/samples/nginx/authgate.conf"

// policyYAML is config/samples/shop.yaml with the development issuer in place
// of auth.example.com, and the rules these tests exercise. %[1]s is the
// issuer URL, %[2]s its JWKS URI.
const policyYAML = `apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: shop
  namespace: shop
spec:
  hosts: ["shop.example.com", "*.shop.example.com"]
  authenticators:
  - name: bearer
    jwt:
      issuer: %[1]s
      jwksURI: %[2]s
      audiences: ["shop"]
      algorithms: [RS256, ES256, EdDSA]
      clockSkew: 30s
      from:
      - header: {name: Authorization, prefix: "Bearer "}
      - cookie: {name: access_token}
  rules:
  - name: public
    match: {pathPrefix: /public, methods: [GET, HEAD]}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    authenticators: [bearer]
    require:
    - {claim: "https://authgear.com/claims/user/roles", contains: admin}
  - name: default
    match: {pathPrefix: /}
  response:
    preset: authgear
    headers:
      X-User-Id: {claim: sub}
      X-Tenant: {claim: tenant}
      X-Gateway: {value: authgate}
  enforcement: Enforce
`

// nginxConf is the main configuration around the sample: the sample goes in
// its http {} block, and every file nginx would otherwise write under /var or
// /run goes into the test's directory, so the test neither needs nor touches
// a system nginx. %[1]s is that directory.
const nginxConf = `# Written by test/e2e around config/samples/nginx/authgate.conf.
pid "%[1]s/nginx.pid";
lock_file "%[1]s/nginx.lock";
error_log stderr info;

events {
    worker_connections 64;
}

http {
    access_log "%[1]s/access.log";
    client_body_temp_path "%[1]s/client_body";
    proxy_temp_path "%[1]s/proxy";
    fastcgi_temp_path "%[1]s/fastcgi";
    uwsgi_temp_path "%[1]s/uwsgi";
    scgi_temp_path "%[1]s/scgi";

    include "%[1]s/authgate.conf";
}
`

// stack is the echo upstream behind nginx, which asks a real authgate that
// trusts a development issuer.
type stack struct {
	iss      *devissuer.Issuer
	up       *upstream.Server
	authgate *process
	nginx    *process
	addr     string // nginx's host:port
	client   *http.Client
}

// stackConfig says what a stack runs where tests differ.
type stackConfig struct {
	// policy is the policy file authgate loads, used as written; "" is
	// policyYAML for the stack's development issuer.
	policy string
}

// startStack starts everything; the test's cleanup stops it all.
func startStack(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	nginxBin := nginxBinary(t)
	authgateBin := authgateBinary(t)

	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatalf("failed to start the development issuer: %v", err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	up := upstream.New()
	t.Cleanup(up.Close)

	s := &stack{iss: iss, up: up}
	policy := cfg.policy
	if policy == "" {
		policy = fmt.Sprintf(policyYAML, iss.URL, iss.JWKSURI())
	}
	authgateAddr := s.startAuthgate(t, authgateBin, policy)
	s.startNginx(t, nginxBin, authgateAddr, up.Listener.Addr().String())
	s.client = &http.Client{
		Timeout: 5 * time.Second,
		// A Transport of its own: no proxy from the environment, no
		// redirects followed, the raw answer as nginx sent it.
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// nginxBinary finds an nginx with the auth_request module. Without one the
// test skips on a developer machine but fails in CI (CI set to anything),
// where a skip would leave the nginx sample silently untested.
func nginxBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		// Debian's location, not on every user's PATH.
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			path, err = "/usr/sbin/nginx", nil
		}
	}
	var missing string
	if err != nil {
		missing = "nginx not found on PATH or at /usr/sbin/nginx"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		out, verr := exec.CommandContext(ctx, path, "-V").CombinedOutput()
		switch {
		case verr != nil:
			missing = fmt.Sprintf("%s -V failed: %v", path, verr)
		case !bytes.Contains(out, []byte("http_auth_request_module")):
			missing = path + " lacks http_auth_request_module"
		}
	}
	if missing == "" {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI is set: run hack/setup-nginx.sh (make setup-test) to install nginx-light", missing)
	}
	t.Skipf("%s: skipping the nginx end-to-end tests (hack/setup-nginx.sh installs it)", missing)
	return ""
}

// startAuthgate runs `authgate serve` on policy and waits until it has
// loaded it. It returns the HTTP auth endpoint's address.
func (s *stack) startAuthgate(t *testing.T, bin, policy string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(policy), 0o600); err != nil {
		t.Fatalf("failed to write the test policy: %v", err)
	}
	httpAddr, grpcAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	s.authgate = startProcess(t, "authgate", bin, "serve",
		"--policies", dir,
		"--http-addr", httpAddr, "--grpc-addr", grpcAddr, "--metrics-addr", metricsAddr,
		// Decisions log at V(1): they explain a failure in the report.
		"--log-level", "debug")
	readyz := "http://" + metricsAddr + "/readyz"
	waitUntil(t, s.authgate, "authgate /readyz", func() error { return getOK(readyz) })
	return httpAddr
}

// startNginx runs nginx in the foreground, as one process (no master, no
// workers: nothing changes user, so it works as root and as anyone else), on
// the sample with its three addresses rewritten.
func (s *stack) startNginx(t *testing.T, bin, authgateAddr, appAddr string) {
	t.Helper()
	sample, err := os.ReadFile(sampleConf)
	if err != nil {
		t.Fatalf("failed to read the nginx sample: %v", err)
	}
	s.addr = freeAddr(t)
	conf, err := rewriteSample(string(sample), authgateAddr, appAddr, s.addr)
	if err != nil {
		t.Fatalf("%s: %v", sampleConf, err)
	}
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
	// -e: the error log before the configuration is read, which would
	// otherwise be the compiled-in /var/log/nginx/error.log on some builds.
	s.nginx = startProcess(t, "nginx", bin,
		"-e", "stderr", "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"),
		"-g", "daemon off; master_process off;")
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			t.Logf("nginx access log:\n%s", log)
		}
	})
	waitUntil(t, s.nginx, "nginx to listen on "+s.addr, func() error {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// rewriteSample points the sample's addresses at this test's servers.
// Each must occur exactly once, so a reworded sample fails here instead of
// quietly testing something else.
func rewriteSample(sample, authgateAddr, appAddr, listenAddr string) (string, error) {
	subs := []struct{ old, new string }{
		{"server 127.0.0.1:8080;", "server " + authgateAddr + ";"},
		{"server 127.0.0.1:3000;", "server " + appAddr + ";"},
		{"listen 8000;", "listen " + listenAddr + ";"},
		{"listen 8000 default_server;", "listen " + listenAddr + " default_server;"},
	}
	for _, sub := range subs {
		if n := strings.Count(sample, sub.old); n != 1 {
			return "", fmt.Errorf("found %q %d times, want once", sub.old, n)
		}
		sample = strings.Replace(sample, sub.old, sub.new, 1)
	}
	return sample, nil
}

// getOK is one bounded readiness probe.
func getOK(u string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// mint signs a token for the test policy's audience.
func (s *stack) mint(t *testing.T, tok devissuer.Token) string {
	t.Helper()
	if tok.Audience == nil {
		tok.Audience = []string{"shop"}
	}
	raw, err := s.iss.Mint(tok)
	if err != nil {
		t.Fatalf("failed to mint a token: %v", err)
	}
	return raw
}

// response is what the client got from nginx.
type response struct {
	status int
	header http.Header
}

// do sends method and the raw request target (sent exactly as written, dot
// segments and escapes included) to nginx with Host: testHost, unless the
// header pairs name another. Header names keep their case on the wire.
func (s *stack) do(t *testing.T, method, target string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	// Opaque is written to the request line verbatim: Go does not resolve
	// "/public/../admin" or re-encode "%2e".
	req.URL = &url.URL{Scheme: "http", Host: s.addr, Opaque: target}
	req.Host = testHost
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header[header[i]] = append(req.Header[header[i]], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s through nginx: %v", method, target, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("failed to read the answer to %s %s: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header}
}
