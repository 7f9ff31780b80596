package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/source"
)

// serverFlags are the flags serve and dev share.
type serverFlags struct {
	policies       string
	httpAddr       string
	grpcAddr       string
	metricsAddr    string
	trustedProxies string
	logLevel       string
	shutdownGrace  time.Duration
}

func (f *serverFlags) register(fs *flag.FlagSet, addrHost string) {
	fs.StringVar(&f.httpAddr, "http-addr", addrHost+":8080", "address of the HTTP auth endpoint (nginx auth_request, Traefik ForwardAuth)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", addrHost+":9001", "address of the Envoy ext_authz v3 gRPC server")
	fs.StringVar(&f.metricsAddr, "metrics-addr", addrHost+":9090", "address of /healthz, /readyz and /metrics")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-* headers are trusted (Traefik ForwardAuth)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, error, or a verbosity 0-10 (decisions log at 1)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 10*time.Second, "how long in-flight checks may take to finish on shutdown")
}

func (f *serverFlags) config(log logr.Logger) (server.Config, error) {
	cfg := server.Config{
		HTTPAddr: f.httpAddr, GRPCAddr: f.grpcAddr, MetricsAddr: f.metricsAddr,
		Log: log, ShutdownGrace: f.shutdownGrace,
	}
	for _, s := range strings.Split(f.trustedProxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return cfg, fmt.Errorf("--trusted-proxies: %q is not a CIDR: %w", s, err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
	}
	return cfg, nil
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var f serverFlags
	fset.StringVar(&f.policies, "policies", "", "folder of AuthPolicy YAML files (standalone mode); reloaded on change")
	f.register(fset, "")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if f.policies == "" {
		return errors.New("--policies is required: authgate serve reads AuthPolicies from a folder")
	}
	log, err := observability.NewLogger(observability.LogConfig{Level: f.logLevel, Output: stderr})
	if err != nil {
		return err
	}
	cfg, err := f.config(log)
	if err != nil {
		return err
	}
	return runServer(ctx, cfg, &source.Folder{Dir: f.policies, Log: log.WithName("policies")})
}

// runServer starts the server and feeds it from the folder until ctx ends.
// If the source fails (the folder cannot be read or watched), the server
// stops too: serving without policies would never become ready.
func runServer(ctx context.Context, cfg server.Config, folder *source.Folder) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	folder.OnUpdate = srv.Apply
	srcErr := make(chan error, 1)
	go func() {
		err := folder.Run(ctx)
		if err != nil {
			cancel()
		}
		srcErr <- err
	}()
	err = srv.Run(ctx)
	cancel()
	if serr := <-srcErr; serr != nil {
		return fmt.Errorf("policy source: %w", serr)
	}
	return err
}
