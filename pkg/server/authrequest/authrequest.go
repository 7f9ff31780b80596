// Package authrequest is the HTTP adapter: nginx auth_request, ingress-nginx
// auth-url, Traefik ForwardAuth and Envoy's HTTP ext_authz service all ask
// here. It works out the original request from the contract the caller
// speaks, asks the decision engine, and answers with a status and headers.
package authrequest

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/request"
)

// Transport is the transport label of this adapter.
const Transport = "http"

// HeadersToRemoveHeader tells Envoy's HTTP ext_authz filter which request
// headers to remove before forwarding upstream.
const HeadersToRemoveHeader = "X-Envoy-Auth-Headers-To-Remove"

// Handler serves /auth, /auth/... and /envoy/....
type Handler struct {
	Engine *decision.Engine
	// TrustedProxies are the peers whose X-Forwarded-* headers describe the
	// original request (Traefik ForwardAuth). Others' are ignored.
	TrustedProxies []netip.Prefix
	// Tracer, when set, records a span per auth request that continues the
	// checked request's traceparent. Nil turns tracing off at the cost of
	// one comparison.
	Tracer trace.Tracer
}

// ServeHTTP answers one auth subrequest.
func (h *Handler) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	r := newRequest()
	defer release(r)
	if h.Tracer != nil {
		h.serveTraced(w, hr, r)
		return
	}
	d, envoy := h.decide(hr.Context(), hr, r)
	write(w, d, envoy)
}

// requests keeps the requests, with their header maps, of answered auth
// subrequests for the next: making a map of a dozen headers was the
// largest cost of this adapter's own. Nothing may keep a request past the
// answer (authenticators copy what a cache load needs before it starts).
var requests = sync.Pool{New: func() any { return &request.Request{Headers: map[string]string{}} }}

// maxPooledHeaders bounds the maps kept: a request with hundreds of headers
// (rare, or hostile) would otherwise leave a map that size in the pool.
const maxPooledHeaders = 64

func newRequest() *request.Request { return requests.Get().(*request.Request) }

func release(r *request.Request) {
	m := r.Headers
	if len(m) > maxPooledHeaders {
		return
	}
	clear(m)
	*r = request.Request{Headers: m}
	requests.Put(r)
}

// decide fills r with the original request (for logs and spans, also when
// it could not be worked out) and returns the decision and whether the
// caller is Envoy.
func (h *Handler) decide(ctx context.Context, hr *http.Request, r *request.Request) (*decision.Decision, bool) {
	envoy, err := h.original(hr, r)
	if err != nil {
		d := h.Engine.BadRequest(err.Error())
		h.Engine.Record(r, d, 0)
		return d, envoy
	}
	return h.Engine.Check(ctx, r), envoy
}

// original works out the original request. It reports envoy=true for the
// /envoy/ prefix, whose caller can apply X-Envoy-Auth-Headers-To-Remove.
// Paths are taken raw (RequestURI, the header's own text), never from Go's
// decoded-and-re-encoded URL, so what is decided is what the proxy forwards.
func (h *Handler) original(hr *http.Request, r *request.Request) (envoy bool, err error) {
	r.Transport = Transport
	r.Headers = request.HeadersInto(r.Headers, hr.Header)
	r.RequestID = r.Headers["x-request-id"]

	own := hr.RequestURI
	if !strings.HasPrefix(own, "/") {
		// Absolute form ("http://host/path"), which HTTP/1.1 servers must
		// accept: its path is the target.
		if _, _, own, err = splitOriginalURL(own); err != nil {
			return false, err
		}
	}
	ownPath, ownQuery, hasQuery := strings.Cut(own, "?")
	var rawHost, target string
	rest, isAuth := cutPrefixPath(ownPath, "/auth")
	if !isAuth {
		if rest, envoy = cutPrefixPath(ownPath, "/envoy"); !envoy {
			return false, fmt.Errorf("%w: unknown endpoint", request.ErrBadRequest)
		}
	}
	if hasQuery {
		rest += "?" + ownQuery
	}
	xfHost, xfURI := r.Headers["x-forwarded-host"], r.Headers["x-forwarded-uri"]
	switch {
	case envoy:
		// Envoy's HTTP ext_authz with path_prefix /envoy: the original
		// request's own host and path, below the prefix.
		rawHost, target, r.Method = hr.Host, rest, hr.Method
		r.RedirectOK = true
	case xfHost != "" && xfURI != "" && h.trusted(hr.RemoteAddr):
		// Traefik ForwardAuth, from a proxy we trust to set these. They win
		// over X-Original-URL, which Traefik copies from the client as is.
		rawHost, target = xfHost, xfURI
		r.Method, r.Scheme = r.Headers["x-forwarded-method"], r.Headers["x-forwarded-proto"]
		if r.Method == "" {
			r.Method = hr.Method
		}
		r.RedirectOK = true // Traefik passes the auth response on to the client
	case r.Headers["x-original-url"] != "":
		// ingress-nginx and the nginx sample: the full original URL, which
		// nginx always sets itself. It is the only source of the host: the
		// Host of this subrequest is authgate's own.
		if r.Scheme, rawHost, target, err = splitOriginalURL(r.Headers["x-original-url"]); err != nil {
			return false, err
		}
		r.Method = r.Headers["x-original-method"]
		if r.Method == "" {
			return false, fmt.Errorf("%w: X-Original-URL without X-Original-Method", request.ErrBadRequest)
		}
	default:
		// Envoy's HTTP ext_authz with path_prefix /auth.
		rawHost, target, r.Method = hr.Host, rest, hr.Method
		r.RedirectOK = true
	}
	r.Method = strings.ToUpper(strings.TrimSpace(r.Method))
	if !validMethod(r.Method) {
		return envoy, fmt.Errorf("%w: bad method", request.ErrBadRequest)
	}
	if r.Host, err = request.CanonicalHost(rawHost); err != nil {
		return envoy, fmt.Errorf("host: %w", err)
	}
	if err = r.SetTarget(target); err != nil {
		return envoy, fmt.Errorf("path: %w", err)
	}
	return envoy, nil
}

// cutPrefixPath strips prefix from a raw path at a segment boundary: "/auth"
// and "/auth/x" match "/auth" (leaving "/" and "/x"), "/authx" does not.
func cutPrefixPath(p, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

// splitOriginalURL splits an absolute http(s) URL by hand: the path must
// follow the host directly, so a "#", "?" or "@" smuggled into the Host
// header cannot move part of the path into the host or a fragment. A
// relative URL would leave the host to guess and is refused.
func splitOriginalURL(raw string) (scheme, host, target string, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", "", "", fmt.Errorf("%w: X-Original-URL must be an absolute http(s) URL", request.ErrBadRequest)
	}
	i := strings.IndexAny(rest, "/?#@\\")
	switch {
	case i < 0:
		return scheme, rest, "/", nil
	case rest[i] != '/':
		return "", "", "", fmt.Errorf("%w: X-Original-URL has %q in its host", request.ErrBadRequest, rest[i])
	}
	return scheme, rest[:i], rest[i:], nil
}

func (h *Handler) trusted(remoteAddr string) bool {
	if len(h.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range h.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// write answers: 200 with identity headers on allow; the decision's status
// (401, 403, 400, 503; 302 only where the request allowed it) with its
// headers otherwise. The nginx contract never gets a 3xx, 404 or 429, which
// nginx would turn into a 500.
func write(w http.ResponseWriter, d *decision.Decision, envoy bool) {
	hdr := w.Header()
	if d.Allow {
		// One backing array for every value instead of one slice per
		// header (what Header.Set allocates): this runs on every allow.
		// Names are canonical already: the policy's header plans are
		// compiled in canonical form, and the others here are constants.
		vals := make([]string, len(d.Set)+2)
		put := func(i int, name, value string) {
			vals[i] = value
			hdr[name] = vals[i : i+1 : i+1]
		}
		for i, h := range d.Set {
			put(i, h.Name, h.Value)
		}
		if envoy && len(d.Remove) > 0 {
			joined := d.RemoveJoined
			if joined == "" {
				joined = strings.Join(d.Remove, ",")
			}
			put(len(d.Set), HeadersToRemoveHeader, joined)
		}
		cc := "no-store"
		if d.MaxAge > 0 {
			cc = "private, max-age=" + strconv.Itoa(int(d.MaxAge.Seconds()))
		}
		put(len(d.Set)+1, "Cache-Control", cc)
		w.WriteHeader(http.StatusOK)
		return
	}
	for _, h := range d.DenyHeaders {
		hdr.Set(h.Name, h.Value)
	}
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(d.Status)
	_, _ = fmt.Fprint(w, d.Body())
}
