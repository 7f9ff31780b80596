package recipes

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// forwardAuth imitates Traefik's ForwardAuth middleware (traefik/traefik
// pkg/middlewares/auth/forward.go) closely enough to run the shipped
// Middleware's settings against authgate: what it sends to the auth server,
// and what it does with the answer. Not modelled: TLS to the auth server,
// forwardBody, addAuthCookiesToResponse, authResponseHeadersRegex,
// preserveLocationHeader, tracing, and Traefik's entry-point forwarded-header
// handling (trustForwardHeader is false here, so it does not matter).
type forwardAuth struct {
	address             string // the auth server URL actually dialled
	authRequestHeaders  []string
	authResponseHeaders []string
	client              *http.Client
	next                http.Handler
}

// newForwardAuth builds the middleware in front of the app at upstream.
// Traefik's client does not follow redirects (forward.go: CheckRedirect
// returns http.ErrUseLastResponse), so a 302 from the auth server reaches
// the client.
func newForwardAuth(address string, requestHeaders, responseHeaders []string, upstream *url.URL) *forwardAuth {
	proxy := &httputil.ReverseProxy{
		// Traefik's service proxy keeps the client's Host (passHostHeader
		// defaults to true).
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
		},
	}
	return &forwardAuth{
		address:             address,
		authRequestHeaders:  requestHeaders,
		authResponseHeaders: responseHeaders,
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{Proxy: nil},
		},
		next: proxy,
	}
}

// hopHeaders are the hop-by-hop headers Traefik removes (forward.go hopHeaders).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailers", "Transfer-Encoding", "Upgrade",
}

func (fa *forwardAuth) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	// forward.go ServeHTTP: a GET to the address (preserveRequestMethod is
	// off), with no body (forwardBody is off).
	forwardReq, err := http.NewRequestWithContext(req.Context(), http.MethodGet, fa.address, nil)
	if err != nil {
		rw.WriteHeader(http.StatusInternalServerError)
		return
	}
	writeHeader(req, forwardReq, fa.authRequestHeaders)

	forwardResponse, err := fa.client.Do(forwardReq)
	if err != nil {
		// forward.go: "Error calling %s" -> 500.
		rw.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer forwardResponse.Body.Close()
	body, err := io.ReadAll(forwardResponse.Body)
	if err != nil {
		rw.WriteHeader(http.StatusInternalServerError)
		return
	}

	// forward.go: "Pass the forward response's body and selected headers if
	// it didn't return a response within the range of [200, 300)": every
	// response header (less hop-by-hop ones), the Location resolved against
	// the auth server's URL, the status and the body.
	if forwardResponse.StatusCode < http.StatusOK || forwardResponse.StatusCode >= http.StatusMultipleChoices {
		for k, vs := range forwardResponse.Header {
			rw.Header()[k] = append(rw.Header()[k], vs...)
		}
		for _, h := range hopHeaders {
			rw.Header().Del(h)
		}
		loc, err := forwardResponse.Location()
		switch {
		case err != nil && !errors.Is(err, http.ErrNoLocation):
			rw.WriteHeader(http.StatusInternalServerError)
			return
		case err == nil && loc.String() != "":
			rw.Header().Set("Location", loc.String())
		}
		rw.WriteHeader(forwardResponse.StatusCode)
		_, _ = rw.Write(body)
		return
	}

	// forward.go: for each authResponseHeaders name, delete it from the
	// request and copy the auth server's values, if any: a client's copy
	// never survives, whether authgate set the header or not.
	for _, name := range fa.authResponseHeaders {
		key := http.CanonicalHeaderKey(name)
		req.Header.Del(key)
		if len(forwardResponse.Header[key]) > 0 {
			req.Header[key] = append([]string(nil), forwardResponse.Header[key]...)
		}
	}
	req.RequestURI = req.URL.RequestURI()
	fa.next.ServeHTTP(rw, req)
}

// writeHeader is forward.go writeHeader with trustForwardHeader false: copy
// the request's headers, drop hop-by-hop ones, keep only authRequestHeaders
// when set, then set X-Forwarded-For/-Method/-Proto/-Host/-Uri from the
// request itself, replacing whatever the client sent.
func writeHeader(req, forwardReq *http.Request, allowed []string) {
	for k, vs := range req.Header {
		forwardReq.Header[k] = append(forwardReq.Header[k], vs...)
	}
	if c := forwardReq.Header.Get("Connection"); c != "" {
		for _, f := range strings.Split(c, ",") {
			if f = strings.TrimSpace(f); f != "" {
				forwardReq.Header.Del(f)
			}
		}
	}
	for _, h := range hopHeaders {
		forwardReq.Header.Del(h)
	}
	if len(allowed) > 0 {
		// forward.go filterForwardRequestHeaders.
		filtered := http.Header{}
		for _, name := range allowed {
			if vs := forwardReq.Header.Values(name); len(vs) > 0 {
				filtered[http.CanonicalHeaderKey(name)] = vs
			}
		}
		forwardReq.Header = filtered
	}
	if ip, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		forwardReq.Header.Set("X-Forwarded-For", ip)
	}
	forwardReq.Header.Set("X-Forwarded-Method", req.Method)
	proto := "http"
	if req.TLS != nil {
		proto = "https"
	}
	forwardReq.Header.Set("X-Forwarded-Proto", proto)
	forwardReq.Header.Set("X-Forwarded-Host", req.Host)
	forwardReq.Header.Set("X-Forwarded-Uri", req.URL.RequestURI())
}
