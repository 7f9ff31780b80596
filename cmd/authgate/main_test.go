package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/devissuer"
)

func TestRunUsage(t *testing.T) {
	// Kubernetes mode looks for a config in $KUBECONFIG and ~/.kube: none here.
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	tests := map[string]struct {
		args     []string
		wantCode int
		// wantOut and wantErr are substrings of stdout and stderr.
		wantOut, wantErr string
	}{
		"no args":                             {args: nil, wantCode: 2, wantErr: "Usage:"},
		"unknown command":                     {args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`},
		"version":                             {args: []string{"version"}, wantCode: 0, wantOut: "authgate"},
		"--version":                           {args: []string{"--version"}, wantCode: 0, wantOut: "authgate " + version},
		"help":                                {args: []string{"help"}, wantCode: 0, wantOut: "Usage:"},
		"serve without policies or cluster":   {args: []string{"serve"}, wantCode: 2, wantErr: "pass --policies DIR or --kubeconfig"},
		"serve with a missing kubeconfig":     {args: []string{"serve", "--kubeconfig", "/nonexistent/kubeconfig"}, wantCode: 2, wantErr: "failed to load kubeconfig"},
		"serve with a bad flag":               {args: []string{"serve", "--no-such-flag"}, wantCode: 2, wantErr: "no-such-flag"},
		"serve -h":                            {args: []string{"serve", "-h"}, wantCode: 0, wantErr: "-policies"},
		"check without url":                   {args: []string{"check", "--policies", "."}, wantCode: 2, wantErr: "check needs --url and one of --policies or --kubeconfig"},
		"check with folder and cluster":       {args: []string{"check", "--policies", ".", "--kubeconfig", "k", "--url", "https://a.example.com/"}, wantCode: 2, wantErr: "one of --policies or --kubeconfig"},
		"check namespace without cluster":     {args: []string{"check", "--policies", ".", "--namespace", "a", "--url", "https://a.example.com/"}, wantCode: 2, wantErr: "need --kubeconfig"},
		"check with an unreadable kubeconfig": {args: []string{"check", "--kubeconfig", "/nonexistent/kubeconfig", "--url", "https://a.example.com/"}, wantCode: 2, wantErr: "failed to load kubeconfig"},
		"check with relative url":             {args: []string{"check", "--policies", ".", "--url", "/admin"}, wantCode: 2, wantErr: "--url must be an absolute URL"},
		"check with bad header":               {args: []string{"check", "--policies", ".", "--url", "http://a.example.com/", "-H", "no colon"}, wantCode: 2, wantErr: "want 'Name: value'"},
		"serve with bad proxies": {
			args:     []string{"serve", "--policies", ".", "--trusted-proxies", "10.0.0.0/8,nope", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"},
			wantCode: 2, wantErr: `"nope" is not a CIDR`,
		},
		"serve with bad log level": {args: []string{"serve", "--policies", ".", "--log-level", "loud"}, wantCode: 2, wantErr: `log level "loud"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.wantOut) {
				t.Errorf("stdout %q does not contain %q", &stdout, tc.wantOut)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", &stderr, tc.wantErr)
			}
		})
	}
}

// checkPolicy is a policy for shop.example.com trusting the test issuer.
const checkPolicy = `apiVersion: authgate.io/v1alpha1
kind: AuthPolicy
metadata:
  name: shop
  namespace: shop
spec:
  hosts: [shop.example.com]
  authenticators:
  - name: bearer
    jwt:
      issuer: %s
      audiences: [shop]
  rules:
  - name: public
    match: {pathPrefix: /public}
    allowAnonymous: true
  - name: admin
    match: {pathPrefix: /admin}
    require:
    - {claim: roles, contains: admin}
  - name: default
    match: {pathPrefix: /}
  response:
    headers:
      X-User-Id: {claim: sub}
`

func TestCheck(t *testing.T) {
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), fmt.Appendf(nil, checkPolicy, iss.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	mint := func(roles ...string) string {
		tok, err := iss.Mint(devissuer.Token{Subject: "alice", Audience: []string{"shop"}, Claims: map[string]any{"roles": roles}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	user, admin := mint("viewer"), mint("viewer", "admin")
	other, err := iss.Mint(devissuer.Token{Subject: "mallory", Audience: []string{"other-app"}})
	if err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		url     string
		headers []string
		method  string
		want    int
		// wantOut are substrings of stdout, in no particular order.
		wantOut []string
	}{
		"valid token on an allowed path": {
			url: "https://shop.example.com/api/orders", headers: []string{"Authorization: Bearer " + user}, want: 0,
			wantOut: []string{"ALLOW 200 (allowed)", "upstream header:", "X-User-Id: alice", "subject:"},
		},
		"no token": {
			url: "https://shop.example.com/api/orders", want: 1,
			wantOut: []string{"DENY 401 (no_credential)", "WWW-Authenticate"},
		},
		"non-admin on /admin": {
			url: "https://shop.example.com/admin/users", headers: []string{"Authorization: Bearer " + user}, want: 1,
			wantOut: []string{"DENY 403 (condition_failed)", "rule:", "admin", `rule "admin" require[0]`},
		},
		"admin on /admin": {
			url: "https://shop.example.com/admin/users", headers: []string{"Authorization: Bearer " + admin}, want: 0,
			wantOut: []string{"ALLOW 200", "X-User-Id: alice"},
		},
		"token for another audience": {
			url: "https://shop.example.com/api/orders", headers: []string{"Authorization: Bearer " + other}, want: 1,
			wantOut: []string{"DENY 401"},
		},
		"anonymous on a public path": {
			url: "https://shop.example.com/public/index.html", method: "head", want: 0,
			wantOut: []string{"ALLOW 200 (anonymous)", "HEAD https://shop.example.com/public/index.html"},
		},
		// The check explains the canonical request: dot segments are
		// resolved before rules match, so this is /admin, not /public.
		"dot segments resolved before matching": {
			url: "https://shop.example.com/public/../admin", headers: []string{"Authorization: Bearer " + user}, want: 1,
			wantOut: []string{"DENY 403", `rule "admin"`},
		},
		"host with port and upper case": {
			url: "https://SHOP.example.com:8443/api/orders", headers: []string{"authorization: Bearer " + user}, want: 0,
			wantOut: []string{"ALLOW 200"},
		},
		"unknown host": {
			url: "https://other.example.com/", want: 1,
			wantOut: []string{"DENY 403 (unknown_host)"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := []string{"check", "--policies", dir, "--url", tc.url}
			if tc.method != "" {
				args = append(args, "-X", tc.method)
			}
			for _, h := range tc.headers {
				args = append(args, "-H", h)
			}
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), args, &stdout, &stderr)
			if code != tc.want {
				t.Errorf("exit code %d, want %d", code, tc.want)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout does not contain %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			}
		})
	}
}

// TestCheckJSON: --output json gives the same decision for scripts, and
// never the credential.
func TestCheckJSON(t *testing.T) {
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), fmt.Appendf(nil, checkPolicy, iss.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(devissuer.Token{Subject: "alice", Audience: []string{"shop"}, Claims: map[string]any{"roles": []string{"viewer"}}})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"check", "--output", "json", "--policies", dir, "--url", "https://shop.example.com/admin/users",
		"-H", "Authorization: Bearer " + tok}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1 (denied)\n%s", code, &stderr)
	}
	var res struct {
		Allow         bool   `json:"allow"`
		Status        int    `json:"status"`
		Reason        string `json:"reason"`
		Rule          string `json:"rule"`
		Authenticator string `json:"authenticator"`
		Subject       string `json:"subject"`
		Detail        string `json:"detail"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, &stdout)
	}
	if res.Allow || res.Status != 403 || res.Reason != "condition_failed" || res.Rule != "admin" || res.Subject != "alice" || !strings.Contains(res.Detail, "require[0]") {
		t.Fatalf("result = %+v", res)
	}
	if strings.Contains(stdout.String(), tok) {
		t.Fatal("the token appears in the output")
	}
	if code := run(t.Context(), []string{"check", "--output", "yaml", "--policies", dir, "--url", "https://a/"}, &stdout, &stderr); code != 2 {
		t.Fatalf("an unknown --output must be a usage error, got %d", code)
	}
}

func TestCheckBrokenPolicy(t *testing.T) {
	// A broken file is reported on stderr, and with no policy in force for
	// the host the request is denied, never allowed by default.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte("apiVersion: authgate.io/v1alpha1\nkind: AuthPolicy\nmetadata: {name: shop}\nspec:\n  hostz: [shop.example.com]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"check", "--policies", dir, "--url", "https://shop.example.com/"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "shop.yaml: document 1:") || !strings.Contains(stderr.String(), `unknown field "hostz"`) {
		t.Errorf("stderr does not name the broken file and field:\n%s", &stderr)
	}
	if !strings.Contains(stdout.String(), "DENY") {
		t.Errorf("stdout does not deny:\n%s", &stdout)
	}
}

func TestServeShutdown(t *testing.T) {
	// A real issuer, so the key fetch serve starts at load is local and
	// shutdown is tested with it in flight or done.
	iss, err := devissuer.New(devissuer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), fmt.Appendf(nil, checkPolicy, iss.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--policies", dir,
			"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
			"--log-level", "error", "--shutdown-grace", "2s"}, &stdout, &stderr)
	}()

	// serve does not report its ports, so "started" is observed as "still
	// running": every startup failure (flags, listen, policies folder)
	// returns at once.
	select {
	case code := <-done:
		t.Fatalf("serve returned %d before it was cancelled\nstderr:\n%s", code, &stderr)
	case <-time.After(500 * time.Millisecond):
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit code %d after cancel, want 0\nstderr:\n%s", code, &stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return within 5s of cancel")
	}
}

func TestServeMissingFolder(t *testing.T) {
	// A policies folder that does not exist should be a startup error, not
	// a server that runs forever with no policies and never becomes ready.
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(t.Context(), []string{"serve", "--policies", filepath.Join(t.TempDir(), "missing"),
			"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
			"--log-level", "error"}, &stdout, &stderr)
	}()
	select {
	case code := <-done:
		if code != 2 {
			t.Fatalf("exit code %d, want 2\nstderr:\n%s", code, &stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve with a missing folder did not return within 5s")
	}
}
