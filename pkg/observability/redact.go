package observability

import (
	"regexp"
	"strings"
)

// Redacted replaces every credential Redact removes.
const Redacted = "[REDACTED]"

// MinSecretLen is the shortest value Redact scrubs by exact match: shorter
// values (a one-letter cookie) would shred ordinary words in the message and
// protect nothing a guess could not find.
const MinSecretLen = 4

// The shapes of credentials that library errors echo. Each pattern keeps the
// part that helps a reader (the scheme, the header or parameter name) and
// replaces the value.
var (
	// An Authorization value after its scheme: "Bearer eyJ...", "Basic dXNl...".
	authScheme = regexp.MustCompile(`(?i)\b(bearer|basic|digest|negotiate)(\s+)[^\s"',;\\]+`)
	// A whole header line that carries a credential, up to a quote or newline:
	// "Cookie: a=b; c=d", "authorization=Bearer x".
	credHeader = regexp.MustCompile(`(?i)\b(set-cookie|cookie|proxy-authorization|authorization|x-api-key)(\s*[:=]\s*)[^\r\n"']+`)
	// A JWT, JWS or JWE in compact form, or a lone JOSE header segment: the
	// base64url of `{"` is always "eyJ".
	jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_=-]{6,}(?:\.[A-Za-z0-9_=-]*)*`)
	// The userinfo of a URL: "https://user:password@host".
	userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@"'?#]*@`)
	// A query string, as url.Error and %q of a URL print it.
	query = regexp.MustCompile(`\?[^\s"'#\x60]+`)
	// A parameter whose name says it holds a credential.
	sensitiveParam = regexp.MustCompile(`(?i)\b([A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|session|sid|api[_-]?key|credential|cookie|code|sig(?:nature)?)[A-Za-z0-9_.-]*)=[^\s&;,"']+`)
	// One name=value pair of a query string.
	queryValue = regexp.MustCompile(`=[^&;]*`)
)

// Redact returns s with credentials replaced by [REDACTED]: first every
// given secret of at least MinSecretLen bytes (the token or cookie of the
// request at hand, which the caller knows), then anything shaped like a
// credential whatever its origin — bearer and basic values, Cookie and
// Authorization header lines, JWTs, URL passwords, query-string values and
// parameters named like tokens, secrets or sessions.
//
// It exists for messages authgate does not write itself: errors from the JWT
// library, net/http (a url.Error prints the URL with its query), resolvers
// and introspection endpoints, any of which may echo what they were given.
// It errs towards removing too much: a log line short of a detail is a
// nuisance, a log line with a session cookie is an incident.
func Redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= MinSecretLen && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	if !mayHoldCredential(s) {
		return s
	}
	s = credHeader.ReplaceAllString(s, "${1}${2}"+Redacted)
	s = authScheme.ReplaceAllString(s, "${1}${2}"+Redacted)
	s = jwtLike.ReplaceAllLiteralString(s, Redacted)
	s = userinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
	s = query.ReplaceAllStringFunc(s, redactQuery)
	s = sensitiveParam.ReplaceAllStringFunc(s, redactParam)
	return s
}

// mayHoldCredential is a cheap pre-check so that the common message (no
// URL, no header, no token) skips the regular expressions.
func mayHoldCredential(s string) bool {
	return strings.ContainsAny(s, "?=:@") || strings.Contains(s, "eyJ") ||
		containsFold(s, "bearer") || containsFold(s, "basic") || containsFold(s, "digest") ||
		containsFold(s, "negotiate")
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// redactQuery keeps a query's parameter names and drops its values: "?a=1&b"
// becomes "?a=[REDACTED]&b". A query without any "=" may be a bare token and
// goes whole.
func redactQuery(q string) string {
	if !strings.Contains(q, "=") {
		return "?" + Redacted
	}
	return queryValue.ReplaceAllString(q, "="+Redacted)
}

// redactParam replaces the value of a name=value pair, unless an earlier
// pattern has already done so.
func redactParam(kv string) string {
	name, value, _ := strings.Cut(kv, "=")
	if strings.HasPrefix(value, Redacted) {
		return kv
	}
	return name + "=" + Redacted
}
