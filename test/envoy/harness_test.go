package envoy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// checkFunc answers one Check call of the fake authz server.
type checkFunc func(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error)

// fakeAuthz is a hand-written AuthorizationServer whose behaviour is a func,
// so each test case states its answer inline.
type fakeAuthz struct {
	authv3.UnimplementedAuthorizationServer
	check checkFunc
}

func (f *fakeAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return f.check(ctx, req)
}

// startAuthz serves check on a real gRPC server on 127.0.0.1:0.
func startAuthz(t *testing.T, check checkFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, &fakeAuthz{check: check})
	go func() { _ = s.Serve(ln) }()
	// Stop, not GracefulStop: a deliberately slow handler must not hold up
	// the test's cleanup.
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// seen is one request as the upstream received it.
type seen struct {
	method, uri, host, body string
	header                  http.Header
}

// upstream records every request it receives and answers 200.
type upstream struct {
	mu   sync.Mutex
	reqs []seen
}

func startUpstream(t *testing.T) (*upstream, string) {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{method: r.Method, uri: r.RequestURI, host: r.Host, body: string(body), header: r.Header.Clone()})
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		w.Header().Add("Set-Cookie", "up=1")
		_, _ = io.WriteString(w, "from upstream")
	}))
	t.Cleanup(srv.Close)
	return u, srv.URL
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// harness is a proxy wired to a fake authz server and a recording upstream.
type harness struct {
	proxy    *Proxy
	url      string
	upstream *upstream
	client   *http.Client
}

// newHarness starts everything; cfg.AuthzAddr defaults to a fake server
// answering check, and cfg.Upstream is always the recording upstream.
// cfg.Timeout defaults to 5s rather than Envoy's 200ms: the first Check also
// opens the gRPC connection, which can take longer than 200ms under -race on
// a busy machine. Tests about the timeout set it explicitly.
func newHarness(t *testing.T, cfg Config, check checkFunc) *harness {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	up, upURL := startUpstream(t)
	if cfg.AuthzAddr == "" {
		cfg.AuthzAddr = startAuthz(t, check)
	}
	cfg.Upstream = upURL
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	url, err := p.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	client := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(client.CloseIdleConnections)
	return &harness{proxy: p, url: url, upstream: up, client: client}
}

// response is what the downstream client got back.
type response struct {
	code   int
	header http.Header
	body   string
}

// do sends req (its URL relative to the proxy) and reads the whole answer.
func (h *harness) do(t *testing.T, req *http.Request) response {
	t.Helper()
	full, err := http.NewRequest(req.Method, h.url+req.URL.RequestURI(), req.Body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	full.Header = req.Header
	full.Host = req.Host
	full.ContentLength = req.ContentLength
	resp, err := h.client.Do(full)
	if err != nil {
		t.Fatalf("request through proxy: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: string(body)}
}

// get builds a GET for path with the given header lines (name, value, ...).
func get(t *testing.T, path string, kv ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://placeholder"+path, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	return req
}

// Builders for the responses the fake server returns.

func okResponse(ok *authv3.OkHttpResponse) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

func deniedResponse(code codes.Code, denied *authv3.DeniedHttpResponse) *authv3.CheckResponse {
	resp := &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(code)}}
	if denied != nil {
		resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied}
	}
	return resp
}

func answer(resp *authv3.CheckResponse) checkFunc {
	return func(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) { return resp, nil }
}

// hvo builds a HeaderValueOption with append_action set and append unset.
func hvo(k, v string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: action}
}

// hvoAppend builds a HeaderValueOption with the deprecated append field set;
// action is set too, to show that append takes precedence.
func hvoAppend(k, v string, appendValue bool, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	o := hvo(k, v, action)
	o.Append = wrapperspb.Bool(appendValue)
	return o
}
