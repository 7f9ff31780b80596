package observability

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
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
	for _, p := range patterns {
		if p.may(s) {
			s = p.redact(s)
		}
	}
	return s
}

// headerWords and schemeWords are what credHeader and authScheme cannot
// match without: each alternative of the pattern's first group contains
// one (TestGateWordsCoverPatterns). Each word is lower-case ASCII, and its
// first letter folds to ASCII letters only (not k or s), which
// containsFold relies on (TestGateWordsFoldASCII).
var (
	headerWords = []string{"cookie", "authorization", "x-api-key"}
	schemeWords = []string{"bearer", "basic", "digest", "negotiate"}
)

// schemeSpace is what authScheme's \s matches.
const schemeSpace = " \t\n\f\r"

// patterns are the credential shapes, in the order Redact applies them.
// Each runs only when s holds what it cannot match without (a literal it
// contains, found without a regular expression): a denial's detail passes
// through Redact, and an ordinary message ("invalid credential: bad
// header") would otherwise cost tens of microseconds of regular
// expressions, on every request with a bad token.
var patterns = [...]struct {
	may    func(string) bool
	redact func(string) string
}{
	{
		func(s string) bool { return containsFold(s, "", headerWords...) },
		func(s string) string { return credHeader.ReplaceAllString(s, "${1}${2}"+Redacted) },
	},
	{
		// The scheme, then white space: \s in Go's regular expressions is
		// [\t\n\f\r ] (TestSchemeGateSpace). An authenticator named
		// "bearer" in a message opens no gate.
		func(s string) bool { return containsFold(s, schemeSpace, schemeWords...) },
		func(s string) string { return authScheme.ReplaceAllString(s, "${1}${2}"+Redacted) },
	},
	{
		func(s string) bool { return strings.Contains(s, "eyJ") },
		func(s string) string { return jwtLike.ReplaceAllLiteralString(s, Redacted) },
	},
	{
		func(s string) bool { return strings.Contains(s, "://") && strings.Contains(s, "@") },
		func(s string) string { return userinfo.ReplaceAllString(s, "${1}"+Redacted+"@") },
	},
	{
		func(s string) bool { return strings.Contains(s, "?") },
		func(s string) string { return query.ReplaceAllStringFunc(s, redactQuery) },
	},
	{
		func(s string) bool { return strings.Contains(s, "=") },
		func(s string) string { return sensitiveParam.ReplaceAllStringFunc(s, redactParam) },
	},
}

// containsFold reports whether s contains one of the lower-case ASCII
// words the way a (?i) pattern would find it, followed by one of the bytes
// in then when then is not empty: Go's regular expressions fold case by
// Unicode's simple folding, so "K" (U+212A KELVIN SIGN) matches "k" and
// "ſ" (U+017F) matches "s", and a search that compared bytes would skip
// text the pattern redacts.
func containsFold(s, then string, words ...string) bool {
	var firsts uint32 // the words' first letters, a bit each
	for _, w := range words {
		firsts |= 1 << (w[0] - 'a')
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | ('a' - 'A') // lower case, for letters
		if c < 'a' || c > 'z' || firsts&(1<<(c-'a')) == 0 {
			continue
		}
		for _, w := range words {
			// A word's first letter folds only to ASCII: compare bytes.
			if c != w[0] {
				continue
			}
			if rest, ok := cutFoldPrefix(s[i+1:], w[1:]); ok && (then == "" || rest != "" && strings.IndexByte(then, rest[0]) >= 0) {
				return true
			}
		}
	}
	return false
}

// cutFoldPrefix returns what follows word (lower-case ASCII) at the start
// of s under simple case folding, and whether s starts with it.
func cutFoldPrefix(s, word string) (string, bool) {
	for j := 0; j < len(word); j++ {
		if s == "" {
			return "", false
		}
		r, size := utf8.DecodeRuneInString(s)
		if !foldsTo(r, rune(word[j])) {
			return "", false
		}
		s = s[size:]
	}
	return s, true
}

// foldsTo reports whether r is c (a lower-case ASCII letter, or any other
// ASCII byte) or in its case-folding orbit.
func foldsTo(r, c rune) bool {
	if r == c {
		return true
	}
	if r < utf8.RuneSelf {
		return 'A' <= r && r <= 'Z' && r+'a'-'A' == c
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f == c {
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
