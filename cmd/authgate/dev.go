package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/authgate/authgate/config/samples"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/source"
)

// devIssuerAddr is where the development issuer listens; the dev sample
// policy names http://127.0.0.1:9400 as its issuer.
const devIssuerAddr = "127.0.0.1:9400"

// dev runs standalone mode with the embedded sample policies and a built-in
// development issuer, and prints commands to try. The issuer's keys live only
// in this process: tokens it mints are worthless anywhere else.
func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("dev", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var f serverFlags
	fset.StringVar(&f.policies, "policies", "", "folder of AuthPolicy YAML files (default: the embedded config/samples)")
	issuerAddr := fset.String("issuer-addr", devIssuerAddr, "address of the development issuer (the dev sample policy expects "+devIssuerAddr+")")
	f.register(fset, "127.0.0.1")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if f.logLevel == "info" {
		f.logLevel = "1" // show every decision while developing
	}
	log, level, err := observability.NewLoggerWithLevel(observability.LogConfig{Development: true, Level: f.logLevel, Output: stderr})
	if err != nil {
		return err
	}
	iss, err := devissuer.New(devissuer.Config{Addr: *issuerAddr})
	if err != nil {
		return fmt.Errorf("failed to start the development issuer: %w", err)
	}
	defer iss.Close()

	cfg, err := f.config(log)
	if err != nil {
		return err
	}
	cfg.LogLevel = &level
	folder := &source.Folder{Dir: f.policies, Log: log.WithName("policies")}
	if f.policies == "" {
		folder.FS = samples.FS
	}
	// Print the guide once the server is listening, not before.
	go func() {
		if waitListening(ctx, f.httpAddr) {
			if err := printGuide(stdout, iss, f.httpAddr); err != nil {
				fmt.Fprintln(stderr, "authgate dev:", err)
			}
		}
	}()
	return runServer(ctx, cfg, folder)
}

func waitListening(ctx context.Context, addr string) bool {
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

func printGuide(w io.Writer, iss *devissuer.Issuer, httpAddr string) error {
	user, err := iss.Mint(devissuer.Token{Subject: "alice", TTL: 8 * time.Hour,
		Claims: map[string]any{"https://authgear.com/claims/user/roles": []string{"viewer"}}})
	if err != nil {
		return err
	}
	admin, err := iss.Mint(devissuer.Token{Subject: "root", TTL: 8 * time.Hour,
		Claims: map[string]any{"https://authgear.com/claims/user/roles": []string{"admin", "viewer"}}})
	if err != nil {
		return err
	}
	exe, _ := os.Executable()
	if exe == "" {
		exe = "authgate"
	}
	ep := "http://" + httpAddr + "/auth"
	orig := func(path string) string {
		return fmt.Sprintf("-H 'X-Original-URL: http://dev.localhost%s' -H 'X-Original-Method: GET'", path)
	}
	_, err = fmt.Fprintf(w, `
authgate dev is running: standalone mode, the sample policies, and a development
issuer at %[1]s (its keys live only in this process).

  USER_TOKEN=%[2]s
  ADMIN_TOKEN=%[3]s

Allowed (200, identity headers X-User-Id, X-User-Roles):
  curl -i %[4]s -H "Authorization: Bearer $USER_TOKEN" %[5]s

No token (401 with WWW-Authenticate):
  curl -i %[4]s %[5]s

Public path, no token needed (200):
  curl -i %[6]s %[5]s

Failed claim condition: alice is not an admin (403):
  curl -i %[7]s -H "Authorization: Bearer $USER_TOKEN" %[5]s

...while the admin passes (200):
  curl -i %[7]s -H "Authorization: Bearer $ADMIN_TOKEN" %[5]s

Ask why (the same decision, explained):
  %[8]s check --policies config/samples --url http://dev.localhost/admin -H "Authorization: Bearer $USER_TOKEN"

Envoy ext_authz gRPC is on the --grpc-addr port; metrics on http://127.0.0.1:9090/metrics by default.
Press Ctrl-C to stop.
`, iss.URL, user, admin, orig("/api/hello"), ep, orig("/public/index.html"), orig("/admin/users"), exe)
	return err
}
