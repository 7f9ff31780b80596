// Package authrequest is the HTTP adapter: nginx auth_request, ingress-nginx
// auth-url, Traefik ForwardAuth and Envoy's HTTP ext_authz service all ask
// here. It works out the original request from the contract the caller
// speaks, asks the decision engine, and answers with a status and headers.
package authrequest

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

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
}

// ServeHTTP answers one auth subrequest.
func (h *Handler) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	r, envoy, err := h.original(hr)
	var d *decision.Decision
	if err != nil {
		d = decision.BadRequest(err.Error())
		h.Engine.Record(r, d, 0)
	} else {
		d = h.Engine.Check(hr.Context(), r)
	}
	write(w, d, envoy)
}

// original works out the original request. It reports envoy=true for the
// /envoy/ prefix, whose caller can apply X-Envoy-Auth-Headers-To-Remove.
func (h *Handler) original(hr *http.Request) (r *request.Request, envoy bool, err error) {
	r = &request.Request{
		Transport: Transport,
		Headers:   request.HeadersFrom(hr.Header),
	}
	// Go's server moves Host out of the header map; Envoy's CheckRequest
	// carries it as :authority, and authenticators may look for it.
	r.RequestID = r.Headers["x-request-id"]

	var rawHost, target string
	ownPath := false // the target is this request's own path: add its query
	rest, isAuth := cutPrefixPath(hr.URL.EscapedPath(), "/auth")
	switch {
	case isAuth && r.Headers["x-original-url"] != "":
		// ingress-nginx and the nginx sample: the full original URL. It is
		// the only source of the host here: the Host of this subrequest is
		// authgate's own.
		u, perr := parseOriginalURL(r.Headers["x-original-url"])
		if perr != nil {
			return r, false, perr
		}
		rawHost, target, r.Scheme = u.Host, u.EscapedPath(), u.Scheme
		if u.RawQuery != "" {
			target += "?" + u.RawQuery
		}
		r.Method = r.Headers["x-original-method"]
		if r.Method == "" {
			return r, false, fmt.Errorf("%w: X-Original-URL without X-Original-Method", request.ErrBadRequest)
		}
	case isAuth && h.trusted(hr.RemoteAddr) && r.Headers["x-forwarded-host"] != "":
		// Traefik ForwardAuth, from a proxy we trust to set these.
		rawHost, target = r.Headers["x-forwarded-host"], r.Headers["x-forwarded-uri"]
		r.Method, r.Scheme = r.Headers["x-forwarded-method"], r.Headers["x-forwarded-proto"]
		if target == "" {
			target = "/"
		}
		if r.Method == "" {
			r.Method = hr.Method
		}
		r.RedirectOK = true // Traefik passes the auth response on to the client
	case isAuth:
		// Envoy's HTTP ext_authz with path_prefix /auth: the original
		// request's own host and path, below the prefix.
		rawHost, target, r.Method, ownPath = hr.Host, rest, hr.Method, true
		r.RedirectOK = true
	default:
		rest, isEnvoy := cutPrefixPath(hr.URL.EscapedPath(), "/envoy")
		if !isEnvoy {
			return r, false, fmt.Errorf("%w: unknown endpoint %q", request.ErrBadRequest, hr.URL.Path)
		}
		envoy, ownPath, r.RedirectOK = true, true, true
		rawHost, target, r.Method = hr.Host, rest, hr.Method
	}
	if ownPath && hr.URL.RawQuery != "" {
		target += "?" + hr.URL.RawQuery
	}
	r.Method = strings.ToUpper(strings.TrimSpace(r.Method))
	if !validMethod(r.Method) {
		return r, envoy, fmt.Errorf("%w: bad method", request.ErrBadRequest)
	}
	if r.Host, err = request.CanonicalHost(rawHost); err != nil {
		return r, envoy, fmt.Errorf("host: %w", err)
	}
	if r.Path, r.RawQuery, err = request.CanonicalPath(target); err != nil {
		return r, envoy, fmt.Errorf("path: %w", err)
	}
	return r, envoy, nil
}

// cutPrefixPath strips prefix from p at a segment boundary: "/auth" and
// "/auth/x" match "/auth" (leaving "/" and "/x"), "/authx" does not.
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

// parseOriginalURL accepts only an absolute http(s) URL: a relative one
// would leave the host to guess. Control characters are rejected by
// url.Parse; a fragment is dropped (it never reaches a server).
func parseOriginalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: X-Original-URL does not parse", request.ErrBadRequest)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || u.User != nil {
		return nil, fmt.Errorf("%w: X-Original-URL must be an absolute http(s) URL", request.ErrBadRequest)
	}
	if u.EscapedPath() == "" {
		u.Path, u.RawPath = "/", ""
	}
	return u, nil
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
		for _, h := range d.Set {
			hdr.Set(h.Name, h.Value)
		}
		if envoy && len(d.Remove) > 0 {
			hdr.Set(HeadersToRemoveHeader, strings.Join(d.Remove, ","))
		}
		if d.MaxAge > 0 {
			hdr.Set("Cache-Control", "private, max-age="+strconv.Itoa(int(d.MaxAge.Seconds())))
		} else {
			hdr.Set("Cache-Control", "no-store")
		}
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
