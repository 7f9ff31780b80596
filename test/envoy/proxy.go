// Package envoy is a test harness that stands in for Envoy in end-to-end
// tests of authgate's gRPC ext_authz server. Envoy cannot run in the test
// environment, so Proxy imitates what Envoy's ext_authz HTTP filter does when
// configured with a gRPC service (envoy.service.auth.v3.Authorization/Check):
// how it builds the CheckRequest, how it applies an OK, denied or error
// response, and what it does when the call itself fails.
//
// Each behaviour cites the Envoy source or API documentation it copies, so a
// reviewer can check the imitation against Envoy rather than against this
// file. What it does not model is listed on Proxy.
package envoy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// Defaults copied from Envoy's ext_authz configuration.
const (
	// DefaultTimeout is the per-Check timeout. Envoy:
	// api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto
	// grpc_service "gRPC service configuration (default timeout: 200ms)".
	DefaultTimeout = 200 * time.Millisecond
	// DefaultStatusOnError is the reply status when the call fails. Envoy:
	// ext_authz.proto status_on_error "The default status is HTTP 403
	// Forbidden".
	DefaultStatusOnError = http.StatusForbidden
)

// FailureModeAllowedHeader is the request header Envoy adds when
// failure_mode_allow and failure_mode_allow_header_add are both set and the
// call failed (ext_authz.proto failure_mode_allow_header_add).
const FailureModeAllowedHeader = "X-Envoy-Auth-Failure-Mode-Allowed"

// Config mirrors the ext_authz filter settings the harness supports.
type Config struct {
	// AuthzAddr is host:port of the gRPC ext_authz server (plain TCP, no TLS).
	AuthzAddr string
	// Upstream is the base URL of the upstream app, e.g.
	// http://127.0.0.1:1234. It must not have a path: Envoy forwards the
	// request path unchanged.
	Upstream string
	// Timeout bounds each Check call, including opening the gRPC connection
	// on the first one; zero means DefaultTimeout. Envoy's 200ms can be
	// exceeded on a loaded machine under -race, so tests that are not about
	// timeouts may want a larger value.
	Timeout time.Duration
	// StatusOnError is the reply status when the call fails and
	// FailureModeAllow is false; zero means DefaultStatusOnError.
	StatusOnError int
	// FailureModeAllow forwards the request when the call fails
	// (failure_mode_allow).
	FailureModeAllow bool
	// FailureModeAllowHeaderAdd adds FailureModeAllowedHeader to requests
	// forwarded because of FailureModeAllow (failure_mode_allow_header_add).
	FailureModeAllowHeaderAdd bool
	// ContextExtensions are the route's check_settings.context_extensions.
	ContextExtensions map[string]string
	// IncludePeerCertificate is accepted for symmetry with Envoy's setting
	// but has no effect: the harness serves plain HTTP, so there is no peer
	// certificate to include.
	IncludePeerCertificate bool
	// LegacyHeaderMutations applies ok_response.headers and
	// denied_response.headers as Envoy did before append_action support
	// (v1.36 and earlier): append_action is ignored, an unset append means
	// overwrite. See requestMutations. Authz servers that must work with both
	// should set append_action OVERWRITE_IF_EXISTS_OR_ADD, which behaves the
	// same either way. It does not turn off error_response handling, which
	// older Envoy lacks.
	LegacyHeaderMutations bool
}

// Proxy is an HTTP proxy that asks an ext_authz gRPC server before
// forwarding each request, the way Envoy's ext_authz filter does.
//
// Not modelled: with_request_body, query_parameters_to_set/remove,
// dynamic_metadata, mutation of pseudo-headers or host by the authz server,
// validate_mutations and decoder_header_mutation_rules, clear_route_cache,
// TLS (so no principal, certificate or tls_session), HTTP/2 downstreams,
// protocol upgrades such as WebSocket (checked, but not tunnelled),
// the router's x-envoy-* request headers, and Envoy's local reply body
// formats other than the plain bodies below.
type Proxy struct {
	cfg       Config
	upstream  *url.URL
	conn      *grpc.ClientConn
	client    authv3.AuthorizationClient
	transport *http.Transport

	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex
	last *authv3.CheckRequest
	srv  *http.Server
}

// New validates cfg, fills in Envoy's defaults and creates the gRPC client.
// grpc.NewClient connects lazily, so an unreachable AuthzAddr is reported by
// each request (as Envoy does), not here.
func New(cfg Config) (*Proxy, error) {
	if cfg.AuthzAddr == "" {
		return nil, errors.New("envoy: AuthzAddr is required")
	}
	up, err := url.Parse(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("envoy: invalid Upstream %q: %w", cfg.Upstream, err)
	}
	if (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" || (up.Path != "" && up.Path != "/") {
		return nil, fmt.Errorf("envoy: Upstream %q must be scheme://host:port with no path", cfg.Upstream)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.StatusOnError == 0 {
		cfg.StatusOnError = DefaultStatusOnError
	}
	conn, err := grpc.NewClient(cfg.AuthzAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("envoy: failed to create gRPC client for %s: %w", cfg.AuthzAddr, err)
	}
	return &Proxy{
		cfg:      cfg,
		upstream: up,
		conn:     conn,
		client:   authv3.NewAuthorizationClient(conn),
		// Envoy passes Accept-Encoding through and does not decompress, so
		// neither may the transport; nor may HTTP_PROXY from the environment
		// divert loopback test traffic.
		transport: &http.Transport{DisableCompression: true, Proxy: nil},
	}, nil
}

// Start serves the proxy on 127.0.0.1:0 and returns its base URL.
func (p *Proxy) Start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("envoy: failed to listen: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	if p.srv != nil {
		p.mu.Unlock()
		_ = ln.Close()
		return "", errors.New("envoy: proxy already started")
	}
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the listener started by Start, if any, and releases the gRPC
// and upstream connections. Later calls return the first call's result.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		srv := p.srv
		p.mu.Unlock()
		var errs []error
		if srv != nil {
			errs = append(errs, srv.Close())
		}
		p.transport.CloseIdleConnections()
		errs = append(errs, p.conn.Close())
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// LastCheck returns a copy of the last CheckRequest sent, or nil.
func (p *Proxy) LastCheck() *authv3.CheckRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		return nil
	}
	return proto.Clone(p.last).(*authv3.CheckRequest)
}

// ServeHTTP runs one request through the imitated filter chain.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// Fail closed on a harness bug rather than kill the test binary.
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			http.Error(w, fmt.Sprintf("envoy harness panic: %v", v), http.StatusInternalServerError)
		}
	}()

	in := r.Clone(r.Context())
	in.Header = prepareDownstream(r)
	req := BuildCheckRequest(in, p.cfg.ContextExtensions)
	p.mu.Lock()
	p.last = req
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	resp, err := p.client.Check(ctx, req)
	cancel()

	switch {
	case err != nil:
		// Envoy: ext_authz_grpc_impl.cc onFailure (connection failure,
		// timeout, or any gRPC status other than OK) yields
		// CheckStatus::Error.
		p.onError(w, in, nil)
	case resp.GetStatus().GetCode() == 0:
		// Envoy: onSuccess: `response->status().code() == Ok` is CheckStatus::OK.
		// A missing status reads as code 0, so an empty CheckResponse allows.
		p.onOK(w, in, resp.GetOkResponse())
	case resp.GetErrorResponse() != nil:
		// Envoy: onSuccess: "If error_response is present, treat it as an
		// error and not denial".
		p.onError(w, in, resp.GetErrorResponse())
	default:
		// Envoy: onSuccess makes every other status a denial, whatever the
		// code (UNAVAILABLE included), so failure_mode_allow does not apply.
		p.onDenied(w, resp.GetDeniedResponse())
	}
}

// onOK applies ok_response to the request, forwards it and applies
// response_headers_to_add to the upstream's response.
// Envoy: ext_authz.cc onComplete case CheckStatus::OK: header mutations, then
// headers_to_remove, then continueDecoding(); encodeHeaders later applies the
// saved response header mutations.
func (p *Proxy) onOK(w http.ResponseWriter, in *http.Request, ok *authv3.OkHttpResponse) {
	applyMutations(in.Header, requestMutations(ok.GetHeaders(), p.cfg.LegacyHeaderMutations), inlineRequestHeaders)
	removeRequestHeaders(in.Header, ok.GetHeadersToRemove())
	respMutations := responseMutations(ok.GetResponseHeadersToAdd(), p.cfg.LegacyHeaderMutations)
	p.forward(w, in, func(h http.Header) { applyMutations(h, respMutations, inlineResponseHeaders) })
}

// onDenied sends the denied local reply; the upstream is not called.
// Envoy: ext_authz_grpc_impl.cc onSuccess: "The default HTTP status code for
// denied response is 403 Forbidden", replaced by denied_response.status.code
// when it is > 0; headers and body come from denied_response. ext_authz.cc
// onComplete case Denied then calls sendLocalReply.
func (p *Proxy) onDenied(w http.ResponseWriter, denied *authv3.DeniedHttpResponse) {
	code := http.StatusForbidden
	if c := int(denied.GetStatus().GetCode()); c > 0 {
		code = c
	}
	ms := localReplyMutations(denied.GetHeaders(), p.cfg.LegacyHeaderMutations)
	sendLocalReply(w, code, denied.GetBody(), func(h http.Header) { applyMutations(h, ms, inlineResponseHeaders) })
}

// onError handles a failed call (errResp nil) or an error_response.
// Envoy: ext_authz.cc onComplete case CheckStatus::Error: with
// failure_mode_allow, add x-envoy-auth-failure-mode-allowed: true when
// failure_mode_allow_header_add is set and continueDecoding(); otherwise
// sendLocalReply(config_->statusOnError(), EMPTY_STRING, ...).
// external_auth.proto CheckResponse.error_response: it "respects
// failure_mode_allow"; its status, headers and body are used, and "If the
// status field is not set, Envoy sends the status code configured via
// status_on_error".
func (p *Proxy) onError(w http.ResponseWriter, in *http.Request, errResp *authv3.DeniedHttpResponse) {
	if p.cfg.FailureModeAllow {
		if p.cfg.FailureModeAllowHeaderAdd {
			in.Header.Add(FailureModeAllowedHeader, "true")
		}
		p.forward(w, in, nil)
		return
	}
	code := p.cfg.StatusOnError
	if c := int(errResp.GetStatus().GetCode()); c > 0 {
		code = c
	}
	ms := localReplyMutations(errResp.GetHeaders(), p.cfg.LegacyHeaderMutations)
	sendLocalReply(w, code, errResp.GetBody(), func(h http.Header) { applyMutations(h, ms, inlineResponseHeaders) })
}

// forward sends in to the upstream and copies the response back; mutate, if
// set, edits the response headers first.
func (p *Proxy) forward(w http.ResponseWriter, in *http.Request, mutate func(http.Header)) {
	target := *p.upstream
	target.Path, target.RawPath, target.RawQuery = in.URL.Path, in.URL.RawPath, in.URL.RawQuery
	out, err := http.NewRequestWithContext(in.Context(), in.Method, target.String(), in.Body)
	if err != nil {
		sendLocalReply(w, http.StatusBadRequest, "invalid request target", nil)
		return
	}
	out.Host = in.Host // Envoy keeps :authority unless the route rewrites it.
	out.Header = in.Header
	out.ContentLength = in.ContentLength
	if _, ok := out.Header["User-Agent"]; !ok {
		// Stop net/http adding its own User-Agent; Envoy adds none.
		out.Header["User-Agent"] = []string{""}
	}

	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		// Envoy's router answers a failed upstream connection with a 503
		// local reply whose body starts like this.
		sendLocalReply(w, http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers", nil)
		return
	}
	defer resp.Body.Close()

	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	for _, k := range hopByHopResponse {
		h.Del(k)
	}
	if mutate != nil {
		mutate(h)
	}
	setServer(h)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// sendLocalReply writes a reply generated by the proxy itself.
// Envoy: source/common/http/utility.cc prepareLocalReply runs the filter's
// modify_headers callback first; then, if the body is not empty, sets
// content-length and sets content-type (text/plain) only "If the
// content-type is not set"; if the body is empty it removes both.
func sendLocalReply(w http.ResponseWriter, code int, body string, modify func(http.Header)) {
	if code < 100 || code > 999 {
		// net/http panics on such codes; Envoy's HttpStatus validation
		// rejects them too, so fall back to the filter's default.
		code = http.StatusForbidden
	}
	h := w.Header()
	if modify != nil {
		modify(h)
	}
	if body != "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/plain")
		}
	} else {
		h.Del("Content-Length")
		h.Del("Content-Type")
	}
	setServer(h)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// setServer imitates the connection manager's default
// server_header_transformation OVERWRITE with server_name "envoy".
func setServer(h http.Header) {
	h.Set("Server", "envoy")
}
