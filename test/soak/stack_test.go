package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/resolver"
	"github.com/authgate/authgate/test/testproc"
)

// Hosts and paths of the test policy.
const (
	shopHost    = "shop.example.com"
	unknownHost = "elsewhere.example.com"
	apiPath     = "/api/cart"
	publicPath  = "/public/logo.svg"
)

// policyYAML protects shop.example.com with a bearer token from the test
// issuer or a session cookie resolved by the Authgear double. The session
// answers are not cached, so every cookie request reaches the resolver and
// an injected resolver outage has an exact, checkable effect.
const policyYAML = `apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata: {name: shop, namespace: shop}
spec:
  hosts: [shop.example.com]
  authenticators:
  - name: bearer
    jwt: {issuer: "{{ISSUER}}", audiences: [shop]}
  - name: web
    session:
      cookies: [session]
      resolver: {url: "{{RESOLVER}}", timeout: "{{TIMEOUT}}"}
      cacheTTL: 0s
      negativeCacheTTL: 0s
  rules:
  - name: public
    match: {pathPrefix: /public}
    allowAnonymous: true
  - name: default
    match: {pathPrefix: /}
  response:
    headers:
      X-User-Id: {claim: sub}
`

// waitTimeout bounds every wait on the child process and what it serves.
const waitTimeout = 30 * time.Second

// stack is the built authgate serving the test policy, with its issuer and
// session resolver running in the test process.
type stack struct {
	iss      *devissuer.Issuer
	resolver *resolver.Authgear
	proc     *testproc.Process
	pid      int

	grpcAddr, httpAddr, opsAddr string
}

// stackConfig is what a test varies about the stack.
type stackConfig struct {
	// resolverTimeout is the session authenticator's timeout.
	resolverTimeout time.Duration
	// shutdownGrace is passed as --shutdown-grace.
	shutdownGrace time.Duration
}

// startStack builds cmd/authgate, starts it on loopback ports with the test
// policy, and waits until it is ready.
func startStack(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	bin, err := testproc.BuildAuthgate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := devissuer.New(devissuer.Config{Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	ag := resolver.NewAuthgear(resolver.AuthgearConfig{})
	t.Cleanup(ag.Close)

	dir := t.TempDir()
	yaml := strings.NewReplacer("{{ISSUER}}", iss.URL, "{{RESOLVER}}", ag.ResolveURL(),
		"{{TIMEOUT}}", cfg.resolverTimeout.String()).Replace(policyYAML)
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &stack{iss: iss, resolver: ag,
		grpcAddr: testproc.FreeAddr(t), httpAddr: testproc.FreeAddr(t), opsAddr: testproc.FreeAddr(t)}
	s.proc = testproc.Start(t, waitTimeout, "authgate", nil, bin, "serve", "--policies", dir,
		"--grpc-addr", s.grpcAddr, "--http-addr", s.httpAddr, "--metrics-addr", s.opsAddr,
		"--log-level", "error", "--shutdown-grace", cfg.shutdownGrace.String())
	s.pid = s.proc.Pid()
	testproc.WaitUntil(t, s.proc, "authgate ready", func() error {
		if code, err := s.readyz(); err != nil || code != http.StatusOK {
			return fmt.Errorf("readyz %d: %w", code, err)
		}
		return nil
	})
	return s
}

// opsClient talks to the ops port; it keeps no connections so that it does
// not show up in the goroutine count it measures.
var opsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// readyz returns the status of GET /readyz.
func (s *stack) readyz() (int, error) {
	res, err := opsClient.Get("http://" + s.opsAddr + "/readyz")
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode, nil
}

// goroutines scrapes go_goroutines from /metrics.
func (s *stack) goroutines() (int, error) {
	res, err := opsClient.Get("http://" + s.opsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("go_goroutines %q: %w", v, err)
			}
			return int(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_goroutines in /metrics")
}

// rssKiB reads VmRSS of the process from /proc/<pid>/status.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(v))
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// terminate sends SIGTERM and waits, bounded by within, for the process to
// exit; it returns how long that took and the exit error (nil for exit 0).
func (s *stack) terminate(t *testing.T, within time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	if err := syscall.Kill(s.pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	err := s.proc.Wait(ctx)
	return time.Since(start), err
}
