// Package request holds the original request that a proxy asks about, in
// one canonical form shared by every transport: host lower-case without port,
// path percent-decoded with dot segments resolved, header names lower-case.
// Adapters build it once; the decision engine and authenticators only read it.
package request

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Request is the original request, canonicalised once by the adapter.
type Request struct {
	Transport string // "grpc" or "http": for labels and logs
	Host      string // canonical: lower case, no port, no trailing dot
	Method    string // upper case
	Path      string // canonical: decoded, dot-segment-free, no query
	// AltPaths are other readings of the path an application may use (see
	// Readings); a request is allowed only if every reading is.
	AltPaths []string
	RawQuery string
	// Headers has lower-case names; repeated headers are joined with ", "
	// (cookie with "; "), as Envoy presents them in a CheckRequest.
	Headers   map[string]string
	RequestID string
	Scheme    string
	// RedirectOK says the caller passes a 302 on to the client (Envoy,
	// Traefik). nginx auth_request turns a 302 into a 500, so its adapter
	// leaves this false and nginx redirects with error_page instead.
	RedirectOK bool

	query     url.Values
	queryDone bool
}

// SetTarget sets Path, RawQuery and AltPaths from a raw request target
// (path and query, as received).
func (r *Request) SetTarget(target string) error {
	p, q, err := CanonicalPath(target)
	if err != nil {
		return err
	}
	r.Path, r.RawQuery, r.AltPaths = p, q, Readings(target)
	return nil
}

// Header returns the value of a header by lower-case name.
func (r *Request) Header(lowerName string) string { return r.Headers[lowerName] }

// Cookie returns the value of the first cookie with the name, per RFC 6265.
// Only the pair whose name matches is looked at, and its value is checked
// with net/http's rules (optional surrounding double quotes removed, then
// printable ASCII without '"', ';' or '\\'), so a value authgate accepts is
// one Go servers would read the same way; FuzzCookie holds it to
// http.ParseCookie. It does this without allocating, as it runs on every
// cookie-authenticated request. A pair that does not parse is skipped, as
// browsers and proxies do. Commas separate pairs too: a cookie value may not
// contain one (RFC 6265 section 4.1.1), and Envoy joins repeated Cookie
// headers with "," in a CheckRequest.
func (r *Request) Cookie(name string) (string, bool) {
	line := r.Headers["cookie"]
	if line == "" || len(line) > MaxCookieHeader {
		return "", false
	}
	for len(line) > 0 {
		var part string
		if i := strings.IndexAny(line, ";,"); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			part, line = line, ""
		}
		k, v, ok := strings.Cut(textproto.TrimString(part), "=")
		if !ok || k != name {
			continue
		}
		if v, ok = cookieValue(v); ok {
			return v, true
		}
	}
	return "", false
}

// cookieValue checks a raw cookie value as net/http does when it parses a
// Cookie header: surrounding double quotes are removed, and every byte left
// must be printable ASCII other than '"', ';' and '\\'.
func cookieValue(raw string) (string, bool) {
	if len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return "", false
		}
	}
	return raw, true
}

// MaxCookieHeader bounds the Cookie header authgate parses: larger headers
// are treated as carrying no cookies, so the work per request is bounded.
const MaxCookieHeader = 16 << 10

// Query returns the first value of a query parameter.
func (r *Request) Query(name string) (string, bool) {
	if !r.queryDone {
		r.queryDone = true
		// A malformed query still yields the parameters that did parse.
		r.query, _ = url.ParseQuery(r.RawQuery)
	}
	vs, ok := r.query[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// URL is the original URL, as a sign-in redirect or a log line shows it.
func (r *Request) URL() string {
	scheme := r.Scheme
	if scheme == "" {
		scheme = "https"
	}
	u := scheme + "://" + r.Host + r.Path
	if r.RawQuery != "" {
		u += "?" + r.RawQuery
	}
	return u
}

// lowerASCII returns name in lower case, written to b when name is ASCII
// (as a substring of b, valid while b does not grow past its capacity).
func lowerASCII(b *strings.Builder, name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return strings.ToLower(name)
		}
	}
	start := b.Len()
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()[start:]
}

// Browser reports whether the request looks like a top-level navigation: a
// GET or HEAD that accepts HTML. Such requests may be redirected to sign in.
func (r *Request) Browser() bool {
	// Media types are case-insensitive (RFC 9110 section 8.3.1).
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(strings.ToLower(r.Headers["accept"]), "text/html")
}

// Methods are the standard HTTP methods (RFC 9110's and PATCH), in a fixed
// order: MethodIndex gives a method's place, which policies' method sets and
// the metrics' method labels index.
var Methods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// MethodIndex is m's index in Methods (methods are case-sensitive), or -1.
// It is a switch, not a map: it runs on every request.
func MethodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return -1
}

// HeadersFrom converts an http.Header into the canonical header map: names
// lower-case, repeats joined the way Envoy joins them.
func HeadersFrom(h http.Header) map[string]string { return HeadersInto(nil, h) }

// HeadersInto is HeadersFrom into out, which must be empty; a nil out gets
// a new map. A server that keeps maps for reuse saves making one for every
// request.
//
// The lower-case names are written into one buffer, sized first, and taken
// as substrings of it: one allocation for every name instead of one each.
// Names are ASCII tokens (net/http refuses any other); another name is
// lowered by strings.ToLower.
func HeadersInto(out map[string]string, h http.Header) map[string]string {
	if out == nil {
		out = make(map[string]string, len(h))
	}
	size := 0
	for name := range h {
		size += len(name)
	}
	var names strings.Builder
	names.Grow(size)
	for name, vs := range h {
		// The builder never reallocates (its capacity is the total), so
		// earlier substrings of it stay valid.
		lname := lowerASCII(&names, name)
		sep := ", "
		if lname == "cookie" {
			sep = "; "
		}
		out[lname] = strings.Join(vs, sep)
	}
	return out
}
