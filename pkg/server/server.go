// Package server assembles authgate: the policy source, the snapshot store,
// the decision engine, and the three listeners (Envoy ext_authz gRPC, the
// HTTP auth endpoint, and the ops port with health and metrics). cmd/authgate
// only parses flags and calls it; tests start it on 127.0.0.1:0.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/introspect"
	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/authn/session"
	"github.com/authgate/authgate/pkg/cache"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/server/authrequest"
	"github.com/authgate/authgate/pkg/server/extauthz"
	"github.com/authgate/authgate/pkg/store"
)

// Config configures a Server.
type Config struct {
	HTTPAddr    string // auth endpoint; "" disables it
	GRPCAddr    string // ext_authz; "" disables it
	MetricsAddr string // health, readiness, metrics; "" disables it

	TrustedProxies []netip.Prefix
	JWT            jwt.Config
	// CacheSize bounds each resolver-backed cache (sessions, introspection).
	// Default 10000.
	CacheSize int
	// HTTPClient calls session resolvers and introspection endpoints
	// (default: one that does not follow redirects).
	HTTPClient *http.Client
	// DenyUpstream are networks authgate never connects to when it calls a
	// URL a policy names (JWKS, discovery, session resolvers,
	// introspection), checked on the address dialled (pkg/netguard). A
	// policy pointing there fails closed with 503. Empty: no restriction.
	DenyUpstream []netip.Prefix
	Log          logr.Logger
	// Registry receives authgate's metrics; default a new registry.
	Registry *prometheus.Registry
	// ShutdownGrace bounds how long in-flight checks may take to finish
	// after the context ends. Default 10s.
	ShutdownGrace time.Duration
	// OmitDenyReason keeps the reason code (X-Authgate-Reason and the body's
	// "(invalid_token)") from clients, for policies that do not set
	// spec.response.denyReason and for denials without a policy.
	OmitDenyReason bool
	// GRPCMetadata is what allowed ext_authz answers carry in Envoy's
	// dynamic metadata (extauthz.Metadata); none by default.
	GRPCMetadata extauthz.Metadata
	// TracerProvider, when set, records a span per check (continuing the
	// checked request's traceparent) with child spans for JWKS fetches,
	// discovery, session resolvers and introspection. Nil: tracing off, at
	// no cost per request.
	TracerProvider trace.TracerProvider
	// LogLevel, when set, is served on the ops port at /debug/loglevel
	// (GET shows it, PUT changes it while running).
	LogLevel *zap.AtomicLevel
	// EnablePprof serves net/http/pprof on the ops port under /debug/pprof/.
	// Off by default: profiles reveal internals and cost CPU.
	EnablePprof bool
}

// Server is a running authgate.
type Server struct {
	cfg     Config
	log     logr.Logger
	store   *store.Store
	engine  *decision.Engine
	metrics *observability.Metrics
	health  *health.Server
	jwt     *jwt.Provider
	session *session.Provider
	intro   *introspect.Provider
	tracer  trace.Tracer // nil: tracing off

	httpLn, grpcLn, opsLn net.Listener
	grpcSrv               *grpc.Server
	httpSrv, opsSrv       *http.Server

	// draining is set when shutdown starts: /readyz answers 503 while
	// in-flight checks finish, so that load balancers stop sending first.
	draining atomic.Bool
}

// New listens on the configured addresses, so that the ports are known
// (and taken) before Run starts serving. Background work stops when ctx ends.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	// The key refreshes started below must not outlive a failed New: the
	// caller gets no Server to stop them with.
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if err := guardUpstream(&cfg); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log, store: &store.Store{}, health: health.NewServer()}
	s.tracer = tracer(cfg.TracerProvider)
	sessionClient, introClient := upstreamClients(cfg.HTTPClient, s.tracer != nil)
	s.metrics = observability.NewMetrics(cfg.Registry)
	if cfg.JWT.Observer == nil {
		cfg.JWT.Observer = observability.JWTObserver{M: s.metrics}
	}
	keyer, err := cache.NewKeyer(nil)
	if err != nil {
		return nil, err
	}
	if cfg.JWT.Keyer == nil {
		cfg.JWT.Keyer = keyer
	}
	if s.jwt, err = jwt.NewProvider(ctx, cfg.JWT); err != nil {
		return nil, err
	}
	sessions, err := remote.NewChecker(cfg.CacheSize, observability.RemoteObserver{M: s.metrics, Kind: "session"}, nil)
	if err != nil {
		return nil, err
	}
	if s.session, err = session.NewProvider(session.Config{HTTPClient: sessionClient, Checker: sessions, Keyer: keyer}); err != nil {
		return nil, err
	}
	tokens, err := remote.NewChecker(cfg.CacheSize, observability.RemoteObserver{M: s.metrics, Kind: "introspection"}, nil)
	if err != nil {
		return nil, err
	}
	if s.intro, err = introspect.NewProvider(introspect.Config{HTTPClient: introClient, Checker: tokens, Keyer: keyer}); err != nil {
		return nil, err
	}
	s.metrics.RegisterCacheSize("jwt", s.jwt.CachedTokens)
	s.metrics.RegisterCacheSize("session", sessions.Len)
	s.metrics.RegisterCacheSize("introspection", tokens.Len)
	s.engine = &decision.Engine{Store: s.store, Metrics: s.metrics, Log: cfg.Log.WithName("decision"),
		Options: decision.Options{OmitReason: cfg.OmitDenyReason}}
	s.setServing(false)

	listen := func(addr string) (net.Listener, error) {
		if addr == "" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("failed to listen on %s: %w", addr, err)
		}
		return ln, nil
	}
	if s.httpLn, err = listen(cfg.HTTPAddr); err != nil {
		return nil, err
	}
	if s.grpcLn, err = listen(cfg.GRPCAddr); err != nil {
		s.closeListeners()
		return nil, err
	}
	if s.opsLn, err = listen(cfg.MetricsAddr); err != nil {
		s.closeListeners()
		return nil, err
	}
	s.build()
	return s, nil
}

func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.httpLn, s.grpcLn, s.opsLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// HTTPAddr is the auth endpoint's address (for tests on port 0).
func (s *Server) HTTPAddr() string { return addrOf(s.httpLn) }

// GRPCAddr is the ext_authz address.
func (s *Server) GRPCAddr() string { return addrOf(s.grpcLn) }

// MetricsAddr is the ops port's address.
func (s *Server) MetricsAddr() string { return addrOf(s.opsLn) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Engine is the decision engine, for in-process callers.
func (s *Server) Engine() *decision.Engine { return s.engine }

// Store is the snapshot store.
func (s *Server) Store() *store.Store { return s.store }

// Ready reports whether a policy snapshot has been loaded.
func (s *Server) Ready() bool { return s.store.Ready() }

// New implements store.Factory: it builds authenticators on the long-lived
// providers and starts fetching their keys.
func (s *Server) New(a *policy.Authenticator) (authn.Authenticator, error) {
	switch {
	case a.JWT != nil:
		v, err := s.jwt.New(a.Name, a.JWT)
		if err != nil {
			return nil, err
		}
		s.jwt.Warm(v)
		return v, nil
	case a.Session != nil:
		return s.session.New(a.Name, a.Session)
	case a.Introspection != nil:
		return s.intro.New(a.Name, a.Introspection)
	}
	return nil, fmt.Errorf("authenticator %q has no supported kind", a.Name)
}

// Apply builds a snapshot from policies and makes it current. Policies left
// out are logged with the reason; the rest take effect at once. It returns
// the snapshot, whose Problems say which policies are not in force.
func (s *Server) Apply(policies []*policy.Policy) *store.Snapshot {
	start := time.Now()
	snap := store.Build(policies, s)
	s.metrics.SnapshotBuildDuration.Observe(time.Since(start).Seconds())
	for _, p := range snap.Problems() {
		s.log.Error(nil, "policy not in force", observability.KeyPolicy, p.Policy, observability.KeyReason, p.Reason, "holder", p.Holder, "message", p.Message)
	}
	s.store.Apply(snap)
	dryRun := 0
	for _, c := range snap.Policies() {
		if c.Policy.DryRun {
			dryRun++
		}
	}
	s.metrics.Policies.WithLabelValues("Enforce").Set(float64(len(snap.Policies()) - dryRun))
	s.metrics.Policies.WithLabelValues("DryRun").Set(float64(dryRun))
	s.metrics.PolicyProblems.Set(float64(len(snap.Problems())))
	reasons := make([]string, 0, len(snap.Problems()))
	for _, p := range snap.Problems() {
		reasons = append(reasons, p.Reason)
	}
	s.metrics.SetPolicyStates(len(snap.Policies()), reasons)
	s.metrics.SnapshotBuilds.WithLabelValues("ok").Inc()
	s.metrics.SnapshotBuildAt.SetToCurrentTime()
	s.setServing(true)
	s.log.Info("policy snapshot applied", "policies", len(snap.Policies()), "rejected", len(snap.Problems()), "took", time.Since(start).String())
	return snap
}

func (s *Server) setServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, st)
}

func (s *Server) build() {
	if s.grpcLn != nil {
		grpcMetrics := s.metrics.GRPCServerMetrics()
		s.grpcSrv = grpc.NewServer(
			// Metrics outermost: a panic recovered inside is counted with
			// the answer the caller got.
			grpc.ChainUnaryInterceptor(grpcMetrics.UnaryServerInterceptor(), extauthz.RecoverInterceptor(func(p any) {
				s.metrics.Panics.WithLabelValues(extauthz.Transport).Inc()
				s.log.Error(nil, "recovered from panic in gRPC handler", "panic", fmt.Sprint(p))
			})),
			grpc.ChainStreamInterceptor(grpcMetrics.StreamServerInterceptor()),
			// extauthz.Codec reads the CheckRequest fields authgate uses and
			// writes allows itself; everything else is protobuf as usual.
			grpc.ForceServerCodecV2(extauthz.Codec{}),
		)
		s.grpcSrv.RegisterService(&extauthz.ServiceDesc, &extauthz.Server{Engine: s.engine, Tracer: s.tracer, Metadata: s.cfg.GRPCMetadata})
		healthpb.RegisterHealthServer(s.grpcSrv, s.health)
		reflection.Register(s.grpcSrv)
		grpcMetrics.InitializeMetrics(s.grpcSrv)
	}
	if s.httpLn != nil {
		h := &authrequest.Handler{Engine: s.engine, TrustedProxies: s.cfg.TrustedProxies, Tracer: s.tracer}
		s.httpSrv = &http.Server{
			Handler:           s.metrics.InstrumentHTTP(s.recoverHTTP(h)),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    256 << 10,
			ErrorLog:          nil,
		}
	}
	if s.opsLn != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok\n"))
		})
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			if s.draining.Load() {
				http.Error(w, "shutting down", http.StatusServiceUnavailable)
				return
			}
			if !s.Ready() {
				http.Error(w, "no policy snapshot loaded yet", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		})
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry}))
		s.debugHandlers(mux)
		s.opsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
}

// debugHandlers adds the ops port's run-time controls: the log level, and
// pprof when enabled. The ops port has no authentication of its own; it must
// stay inside the cluster (docs/operations.md).
func (s *Server) debugHandlers(mux *http.ServeMux) {
	if s.cfg.LogLevel != nil {
		mux.Handle("/debug/loglevel", observability.LevelHandler(*s.cfg.LogLevel, s.log.WithName("loglevel")))
	}
	if s.cfg.EnablePprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

// recoverHTTP answers a panic with a 503: the request is denied, the
// process lives, and the panic is counted.
func (s *Server) recoverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				s.metrics.Panics.WithLabelValues(authrequest.Transport).Inc()
				s.log.Error(nil, "recovered from panic in HTTP handler", "panic", fmt.Sprint(p))
				http.Error(w, "503 Service Unavailable (internal_error)", http.StatusServiceUnavailable)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends, then stops accepting, lets in-flight checks
// finish within ShutdownGrace, and returns. Policies are fed with Apply, by
// the caller's source, concurrently.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	serve := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errs <- fmt.Errorf("%s server: %w", name, err)
			}
		}()
	}
	if s.grpcSrv != nil {
		serve("gRPC", func() error { return s.grpcSrv.Serve(s.grpcLn) })
	}
	if s.httpSrv != nil {
		serve("HTTP", func() error { return s.httpSrv.Serve(s.httpLn) })
	}
	if s.opsSrv != nil {
		serve("ops", func() error { return s.opsSrv.Serve(s.opsLn) })
	}
	s.log.Info("authgate serving", "http", s.HTTPAddr(), "grpc", s.GRPCAddr(), "metrics", s.MetricsAddr())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	s.shutdown()
	wg.Wait()
	return runErr
}

func (s *Server) shutdown() {
	// Not ready first, while the listeners still answer: /readyz and the
	// gRPC health service say so during the drain.
	s.draining.Store(true)
	s.setServing(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	if s.grpcSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() { s.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				s.grpcSrv.Stop()
			}
		}()
	}
	if s.httpSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.httpSrv.Shutdown(ctx); err != nil {
				_ = s.httpSrv.Close()
			}
		}()
	}
	wg.Wait()
	// The ops port goes last, so that probes get "not ready" rather than a
	// refused connection while checks drain.
	if s.opsSrv != nil {
		if err := s.opsSrv.Shutdown(ctx); err != nil {
			_ = s.opsSrv.Close()
		}
	}
}
