package request

import (
	"errors"
	"net"
	"slices"
	"strings"
)

// ErrBadRequest marks an original request authgate refuses to decide on
// because it cannot be put in canonical form (it is never allowed).
var ErrBadRequest = errors.New("malformed original request")

// MaxPath bounds the raw path length authgate decides on.
const MaxPath = 8 << 10

// CanonicalHost lower-cases a host and strips the port and a trailing dot.
// IPv6 literals keep their brackets: "[::1]:8080" becomes "[::1]".
func CanonicalHost(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" || len(h) > 261 {
		return "", errors.Join(ErrBadRequest, errors.New("empty or overlong host"))
	}
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", errors.Join(ErrBadRequest, errors.New("unterminated IPv6 literal"))
		}
		rest := h[end+1:]
		if rest != "" && !validPort(rest) {
			return "", errors.Join(ErrBadRequest, errors.New("bad port"))
		}
		ip := net.ParseIP(h[1:end])
		if ip == nil {
			return "", errors.Join(ErrBadRequest, errors.New("bad IPv6 literal"))
		}
		return "[" + ip.String() + "]", nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i:]) {
			return "", errors.Join(ErrBadRequest, errors.New("bad port"))
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return "", errors.Join(ErrBadRequest, errors.New("empty host or label"))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
		if !ok {
			// Internationalised names arrive as punycode from every proxy;
			// anything else is not a host name a policy could match.
			return "", errors.Join(ErrBadRequest, errors.New("invalid character in host"))
		}
	}
	return strings.ToLower(h), nil
}

func validPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CanonicalPath splits a raw request target into its canonical path and raw
// query. The path is percent-decoded, repeated slashes are merged and dot
// segments are resolved, so "/public/%2e%2e/admin" is "/admin". Encoded
// slashes and backslashes, control characters, fragments and bad escapes are
// rejected: different upstream applications read them differently, so no
// single canonical form would be safe to decide on. See Readings for the
// other ways an application may read a path with dot segments or ";".
func CanonicalPath(target string) (path, rawQuery string, err error) {
	decoded, rawQuery, err := decodeTarget(target)
	if err != nil {
		return "", "", err
	}
	return resolveDots(decoded), rawQuery, nil
}

// Readings returns the other paths an upstream application may take the
// target for, besides its canonical path: the decoded path read literally,
// without resolving dot segments (Express, most routers, nginx proxy_pass
// forwards it raw), and the path with ";" parameters stripped from each
// segment before resolving (Tomcat and Spring read "/public/..;/admin" as
// "/admin"). The decision engine decides every reading and allows only
// when all allow. Nil for a path that can be read only one way.
func Readings(target string) []string {
	decoded, _, err := decodeTarget(target)
	if err != nil || (!strings.Contains(decoded, "/.") && !strings.Contains(decoded, ";")) {
		return nil
	}
	canonical := resolveDots(decoded)
	var out []string
	add := func(p string) {
		if p != canonical && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(decoded)
	if strings.Contains(decoded, ";") {
		segs := strings.Split(decoded, "/")
		for i, seg := range segs {
			if j := strings.IndexByte(seg, ';'); j >= 0 {
				segs[i] = seg[:j]
			}
		}
		add(resolveDots(strings.Join(segs, "/")))
	}
	return out
}

// decodeTarget validates and decodes a request target's path.
func decodeTarget(target string) (decoded, rawQuery string, err error) {
	if len(target) > MaxPath {
		return "", "", errors.Join(ErrBadRequest, errors.New("path too long"))
	}
	if strings.IndexByte(target, '#') >= 0 {
		// Clients never send a fragment; a proxy forwards one raw, and the
		// application may read what follows it as path.
		return "", "", errors.Join(ErrBadRequest, errors.New("fragment in request target"))
	}
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target, rawQuery = target[:i], target[i+1:]
	}
	if !strings.HasPrefix(target, "/") {
		return "", "", errors.Join(ErrBadRequest, errors.New("path must start with /"))
	}
	decoded, err = decodePath(target)
	if err != nil {
		return "", "", err
	}
	if strings.Contains(decoded, "//") && hasDotDot(decoded) {
		// "/admin//../public" is "/admin/public" to an RFC 3986 or WHATWG
		// parser but "/public" to one that merges slashes first (Go's
		// path.Clean, nginx): no single reading is safe to decide on.
		return "", "", errors.Join(ErrBadRequest, errors.New("empty segment with dot-dot segment in path"))
	}
	return decoded, rawQuery, nil
}

func decodePath(s string) (string, error) {
	if !strings.ContainsAny(s, "%\\") && !hasControl(s) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", errors.Join(ErrBadRequest, errors.New("bad percent-encoding"))
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
			if c == '/' || c == '\\' {
				return "", errors.Join(ErrBadRequest, errors.New("encoded slash or backslash in path"))
			}
		}
		if c == '\\' {
			return "", errors.Join(ErrBadRequest, errors.New("backslash in path"))
		}
		if c < 0x20 || c == 0x7f {
			return "", errors.Join(ErrBadRequest, errors.New("control character in path"))
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func hasDotDot(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// resolveDots merges repeated slashes and removes "." and ".." segments
// (RFC 3986 section 5.2.4). ".." at the root stays at the root. A trailing
// slash is kept, because "/a/" and "/a" may be different resources upstream.
func resolveDots(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case "", ".":
			trailing = last
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, s)
			trailing = false
		}
	}
	res := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		res += "/"
	}
	return res
}
