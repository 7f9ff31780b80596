package decision

import (
	"net/url"
	"strings"

	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/request"
)

// redact renders an authenticator's error for Detail, which is logged and
// printed by authgate check. The error may come from a library that echoes
// what it was given (a JWT parser, net/http with a resolver URL), so it is
// scrubbed of credential shapes and of this request's own credentials.
// Only denials and rejected credentials come here, never a plain allow.
func redact(err error, r *request.Request) string {
	return observability.Redact(err.Error(), credentials(r)...)
}

// credentials lists the values in r that may be a credential: the
// Authorization header whole and after its scheme, every cookie value, every
// query value, and headers whose names say they carry one (an API key
// header configured as a token source).
func credentials(r *request.Request) []string {
	var out []string
	for name, v := range r.Headers {
		switch {
		case name == "authorization" || name == "proxy-authorization":
			out = append(out, v)
			if _, token, ok := strings.Cut(v, " "); ok {
				out = append(out, strings.TrimSpace(token))
			}
		case name == "cookie":
			out = append(out, v)
			for _, c := range strings.Split(v, ";") {
				if _, value, ok := strings.Cut(c, "="); ok {
					out = append(out, strings.Trim(strings.TrimSpace(value), `"`))
				}
			}
		case !strings.HasPrefix(name, ":") && credentialName(name):
			out = append(out, v)
		}
	}
	if r.RawQuery != "" {
		if q, err := url.ParseQuery(r.RawQuery); err == nil {
			for _, vs := range q {
				out = append(out, vs...)
			}
		}
		out = append(out, r.RawQuery)
	}
	return out
}

func credentialName(lowerName string) bool {
	for _, w := range []string{"token", "key", "secret", "session", "auth", "cookie", "credential"} {
		if strings.Contains(lowerName, w) {
			return true
		}
	}
	return false
}
