package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/go-logr/logr"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/server"
	"github.com/authgate/authgate/pkg/server/extauthz"
	"github.com/authgate/authgate/pkg/source"
	"github.com/authgate/authgate/test/bench"
	"github.com/authgate/authgate/test/resolver"
)

// host is the policy host every request targets.
const host = "shop.example.com"

// coldDelay is how long the resolver takes to answer an uncached cookie.
const coldDelay = 5 * time.Millisecond

// stack is authgate with its issuer and resolver, and the two floors.
type stack struct {
	iss       *devissuer.Issuer
	resolver  *resolver.Authgear
	srv       *server.Server
	floorGRPC string // address of the always-OK ext_authz server
	floorHTTP string // address of the always-200 HTTP server

	closers []func()
}

func startStack(ctx context.Context, meta extauthz.Metadata) (_ *stack, err error) {
	s := &stack{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.iss, err = devissuer.New(devissuer.Config{Algorithms: []string{tokenAlg}}); err != nil {
		return nil, fmt.Errorf("failed to start the issuer: %w", err)
	}
	s.closers = append(s.closers, func() { _ = s.iss.Close() })
	s.resolver = resolver.NewAuthgear(resolver.AuthgearConfig{})
	s.closers = append(s.closers, s.resolver.Close)
	s.resolver.SetDelay(coldDelay)
	s.resolver.SetFault(resolver.Slow)

	sctx, cancel := context.WithCancel(ctx)
	s.srv, err = server.New(sctx, server.Config{
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		Log: logr.Discard(), ShutdownGrace: time.Second, GRPCMetadata: meta,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to create authgate: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.srv.Run(sctx) }()
	s.closers = append(s.closers, func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "authgate-load: authgate stopped with:", err)
		}
	})

	yaml := strings.NewReplacer("{{ISSUER}}", s.iss.URL, "{{RESOLVER}}", s.resolver.ResolveURL()).Replace(bench.Policies)
	ps, err := source.ParseFile("load.yaml", []byte(yaml), nil)
	if err != nil {
		return nil, fmt.Errorf("failed to parse the load policies: %w", err)
	}
	s.srv.Apply(ps)

	if s.floorGRPC, err = s.serveFloorGRPC(); err != nil {
		return nil, err
	}
	if s.floorHTTP, err = s.serveFloorHTTP(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// okAuthz is the gRPC floor: it allows every request without looking at it.
type okAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

func (okAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{
		Status:       &status.Status{},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}, nil
}

func (s *stack) serveFloorGRPC() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("failed to listen for the gRPC floor: %w", err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, okAuthz{})
	go func() { _ = gs.Serve(ln) }()
	s.closers = append(s.closers, gs.Stop)
	return ln.Addr().String(), nil
}

func (s *stack) serveFloorHTTP() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("failed to listen for the HTTP floor: %w", err)
	}
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = hs.Serve(ln) }()
	s.closers = append(s.closers, func() { _ = hs.Close() })
	return ln.Addr().String(), nil
}
