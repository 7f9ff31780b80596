// Command authgate is an external-auth service for Kubernetes ingresses:
// Envoy asks it over ext_authz gRPC, nginx and Traefik over HTTP, and it
// answers allow or deny with the identity headers the upstream gets.
//
// Subcommands: serve, check, dev, version. Run "authgate help" for usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `authgate - external auth for Envoy, nginx and Traefik

Usage:
  authgate serve   --policies DIR [flags]   serve decisions for the policies in DIR
  authgate check   --policies DIR --url URL [-X METHOD] [-H 'Name: value']...
                                             explain the decision for one request
  authgate check   --kubeconfig FILE [--namespace NS] --url URL ...
                                             the same, against a cluster's AuthPolicies
  authgate dev     [flags]                  standalone mode with the sample policies
                                             and a built-in development issuer
  authgate version

Run "authgate COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a subcommand and returns the process exit code: 0 success
// (for check: allowed), 1 denied (check), 2 usage or runtime error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "check":
		var allowed bool
		allowed, err = check(ctx, args[1:], stdout, stderr)
		if err == nil && !allowed {
			return 1
		}
	case "dev":
		err = dev(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "authgate", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "authgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "authgate:", err)
		return 2
	}
	return 0
}
