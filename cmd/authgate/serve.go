package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/authgate/authgate/pkg/controller"
	"github.com/authgate/authgate/pkg/netguard"
	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/server/extauthz"
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
	denyReason     string
	enablePprof    bool
	denyUpstream   string
	denyLinkLocal  bool
	grpcMetadata   string
}

func (f *serverFlags) register(fs *flag.FlagSet, addrHost string) {
	fs.StringVar(&f.httpAddr, "http-addr", addrHost+":8080", "address of the HTTP auth endpoint (nginx auth_request, Traefik ForwardAuth)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", addrHost+":9001", "address of the Envoy ext_authz v3 gRPC server")
	fs.StringVar(&f.metricsAddr, "metrics-addr", addrHost+":9090", "address of /healthz, /readyz and /metrics")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-* headers are trusted (Traefik ForwardAuth)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, error, or a verbosity 0-10 (denials log at info, allowed requests at 1)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 10*time.Second, "how long in-flight checks may take to finish on shutdown")
	fs.StringVar(&f.denyReason, "deny-reason", "send", "send or omit the reason code (X-Authgate-Reason) on denials whose policy does not set spec.response.denyReason, and on denials without a policy")
	fs.BoolVar(&f.enablePprof, "enable-pprof", false, "serve net/http/pprof under /debug/pprof/ on the metrics address (keep that port private)")
	fs.StringVar(&f.denyUpstream, "deny-upstream-cidrs", "", "comma-separated CIDRs authgate never connects to for URLs from policies (JWKS, discovery, resolvers, introspection), e.g. 127.0.0.0/8,10.0.0.0/8")
	fs.BoolVar(&f.denyLinkLocal, "deny-link-local", false, "also deny link-local networks (169.254.0.0/16 with cloud metadata endpoints, fe80::/10) to URLs from policies")
	fs.StringVar(&f.grpcMetadata, "grpc-metadata", "none", "what allowed ext_authz answers carry in Envoy's dynamic metadata: none; identity (policy, rule, reason, authenticator, subject); or claims (identity and the credential's claims). For Envoy filters that read it (RBAC, Lua, access logs); Envoy's access logs may then record personal data")
}

func (f *serverFlags) config(log logr.Logger) (server.Config, error) {
	cfg := server.Config{
		HTTPAddr: f.httpAddr, GRPCAddr: f.grpcAddr, MetricsAddr: f.metricsAddr,
		Log: log, ShutdownGrace: f.shutdownGrace,
	}
	switch strings.ToLower(f.denyReason) {
	case "send":
	case "omit":
		cfg.OmitDenyReason = true
	default:
		return cfg, fmt.Errorf("--deny-reason must be send or omit, not %q", f.denyReason)
	}
	cfg.EnablePprof = f.enablePprof
	meta, err := extauthz.ParseMetadata(f.grpcMetadata)
	if err != nil {
		return cfg, fmt.Errorf("--grpc-metadata: %w", err)
	}
	cfg.GRPCMetadata = meta
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
	deny, err := netguard.ParsePrefixes(f.denyUpstream)
	if err != nil {
		return cfg, fmt.Errorf("--deny-upstream-cidrs: %w", err)
	}
	if f.denyLinkLocal {
		deny = append(deny, netguard.LinkLocal...)
	}
	cfg.DenyUpstream = deny
	return cfg, nil
}

// kubeFlags are the Kubernetes mode's flags.
type kubeFlags struct {
	kubeconfig    string
	namespaces    string
	labelSelector string
	leaderElect   bool
	leaderElectNS string
	leaderElectID string
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var f serverFlags
	var k kubeFlags
	fset.StringVar(&f.policies, "policies", "", "folder of AuthPolicy YAML files (standalone mode); without it, authgate watches AuthPolicy resources (Kubernetes mode)")
	fset.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (Kubernetes mode; default in-cluster, else $KUBECONFIG or ~/.kube/config)")
	fset.StringVar(&k.namespaces, "watch-namespaces", "", "comma-separated namespaces to watch (default all)")
	fset.StringVar(&k.labelSelector, "label-selector", "", "only AuthPolicies matching this label selector (to shard policies between installations)")
	fset.BoolVar(&k.leaderElect, "leader-elect", true, "elect one replica to write status (every replica serves)")
	fset.StringVar(&k.leaderElectNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default the pod's)")
	fset.StringVar(&k.leaderElectID, "leader-election-id", "authgate-status-writer", "name of the leader-election Lease")
	f.register(fset, "")
	var tf tracingFlags
	tf.register(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	log, level, err := observability.NewLoggerWithLevel(observability.LogConfig{Level: f.logLevel, Output: stderr})
	if err != nil {
		return err
	}
	setMemoryLimit(log)
	cfg, err := f.config(log)
	if err != nil {
		return err
	}
	stopTracing, err := tf.start(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.LogLevel = &level
	if f.policies != "" {
		return runServer(ctx, cfg, &source.Folder{Dir: f.policies, Log: log.WithName("policies")})
	}
	return runKubernetes(ctx, cfg, k)
}

// runKubernetes serves decisions for the cluster's AuthPolicies.
func runKubernetes(ctx context.Context, cfg server.Config, k kubeFlags) error {
	rc, err := restConfig(k.kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	var namespaces []string
	for _, ns := range strings.Split(k.namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			namespaces = append(namespaces, ns)
		}
	}
	mgr, err := controller.New(controller.Config{
		RestConfig: rc, Namespaces: namespaces, LabelSelector: k.labelSelector,
		LeaderElection: k.leaderElect, LeaderElectionNamespace: k.leaderElectNS, LeaderElectionID: k.leaderElectID,
		Apply: srv.Apply, Log: cfg.Log.WithName("controller"),
	})
	if err != nil {
		return err
	}
	mgrErr := make(chan error, 1)
	go func() {
		err := mgr.Start(ctx)
		if err != nil {
			cancel()
		}
		mgrErr <- err
	}()
	err = srv.Run(ctx)
	cancel()
	if merr := <-mgrErr; merr != nil {
		return fmt.Errorf("controller: %w", merr)
	}
	return err
}

// restConfig loads the kubeconfig given, else the in-cluster config, else
// $KUBECONFIG or ~/.kube/config.
func restConfig(path string) (*rest.Config, error) {
	if path != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("failed to load kubeconfig %s: %w", path, err)
		}
		return rc, nil
	}
	rc, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no policies folder and no Kubernetes config: pass --policies DIR or --kubeconfig: %w", err)
	}
	return rc, nil
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
	folder.OnUpdate = func(ps []*policy.Policy) { srv.Apply(ps) }
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

// setMemoryLimit makes 90% of the container's memory limit (cgroup v1 or v2)
// a soft limit for Go's collector, so that authgate collects harder as it
// nears the limit instead of being killed at it: with the default GOGC the
// heap may grow to twice what is live between collections. GOMEMLIMIT, or
// AUTOMEMLIMIT=off, in the environment keep the operator's say; without a
// container limit nothing changes.
func setMemoryLimit(log logr.Logger) {
	l := log.WithName("memlimit")
	limit, err := memlimit.Set(
		memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(l.V(1)))),
	)
	if err != nil {
		l.Error(err, "could not read the container's memory limit; the collector has none")
		return
	}
	if limit > 0 && limit < math.MaxInt64 {
		l.Info("Go memory limit set from the container's", "bytes", limit)
	}
}
