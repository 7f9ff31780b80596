package observability

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
)

// A JWT-shaped secret (header {"alg":"RS256"}), an opaque token and a
// session id, distinctive enough that a stray copy cannot be a coincidence.
const (
	jwtSecret     = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZS1zZWNyZXQifQ.c2lnbmF0dXJlLXNlY3JldA"
	opaqueSecret  = "opq-8f3a91c2d7e4b605"
	sessionSecret = "sess-77c0ffee42deadbeef"
)

func TestRedact(t *testing.T) {
	tests := map[string]struct {
		in      string
		secrets []string
		// gone must not survive; kept must (so the message stays useful).
		gone, kept []string
	}{
		"no credential is left alone": {
			in:   `authenticator "idp" rejected the credential: "exp" not satisfied`,
			kept: []string{`authenticator "idp" rejected the credential: "exp" not satisfied`},
		},
		"own messages keep their words": {
			in:   "token longer than 8192 bytes; no session cookie",
			kept: []string{"token longer than 8192 bytes; no session cookie"},
		},
		"given secret anywhere": {
			in:      "resolver said: unknown session " + opaqueSecret + " (" + opaqueSecret + ")",
			secrets: []string{opaqueSecret},
			gone:    []string{opaqueSecret},
			kept:    []string{"resolver said: unknown session"},
		},
		"short secrets are not scrubbed": {
			in:      "abc is fine",
			secrets: []string{"abc", ""},
			kept:    []string{"abc is fine"},
		},
		"bearer value": {
			in:   "upstream echoed Authorization header value Bearer " + opaqueSecret + ", refusing",
			gone: []string{opaqueSecret},
			kept: []string{"Bearer " + Redacted, "refusing"},
		},
		"basic value": {
			in:   "basic dXNlcjpwYXNzd29yZA== rejected",
			gone: []string{"dXNlcjpwYXNzd29yZA=="},
			kept: []string{"rejected"},
		},
		"cookie header line": {
			in:   "bad request headers: Cookie: session=" + sessionSecret + "; theme=dark",
			gone: []string{sessionSecret, "theme=dark"},
			kept: []string{"Cookie: " + Redacted},
		},
		"authorization header line": {
			in:   `header "x" after authorization: Bearer ` + opaqueSecret,
			gone: []string{opaqueSecret},
		},
		"jwt anywhere": {
			in:   "failed to parse " + jwtSecret + ": invalid signature",
			gone: []string{jwtSecret, "eyJzdWIiOiJhbGljZS1zZWNyZXQifQ", "c2lnbmF0dXJlLXNlY3JldA"},
			kept: []string{"failed to parse", "invalid signature"},
		},
		"jwt header segment alone": {
			in:   "bad header eyJhbGciOiJub25lIn0",
			gone: []string{"eyJhbGciOiJub25lIn0"},
		},
		"url query values": {
			in:   `Get "http://127.0.0.1:8081/resolve?session=` + sessionSecret + `&access_token=` + opaqueSecret + `": context deadline exceeded`,
			gone: []string{sessionSecret, opaqueSecret},
			kept: []string{"http://127.0.0.1:8081/resolve?session=" + Redacted + "&access_token=" + Redacted, "context deadline exceeded"},
		},
		"bare query token": {
			in:   "GET /cb?" + opaqueSecret + " failed",
			gone: []string{opaqueSecret},
			kept: []string{"/cb?" + Redacted},
		},
		"url password": {
			in:   `Post "https://client:` + opaqueSecret + `@idp.example.com/introspect": EOF`,
			gone: []string{opaqueSecret, "client:"},
			kept: []string{"https://" + Redacted + "@idp.example.com/introspect"},
		},
		"sensitive parameter outside a URL": {
			in:   "form client_secret=" + opaqueSecret + " token=" + sessionSecret + " rule=default",
			gone: []string{opaqueSecret, sessionSecret},
			kept: []string{"client_secret=" + Redacted, "rule=default"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Redact(tc.in, tc.secrets...)
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("Redact(%q) = %q still contains %q", tc.in, got, g)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(got, k) {
					t.Errorf("Redact(%q) = %q lost %q", tc.in, got, k)
				}
			}
		})
	}
}

// TestRedactLibraryErrors feeds Redact the real errors of the libraries
// authgate calls with credentials in hand, so a library that starts echoing
// more of its input is caught here and not in a log.
func TestRedactLibraryErrors(t *testing.T) {
	key, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errs := map[string]func() error{
		"jwx parse of a malformed token": func() error {
			_, err := jwxjwt.Parse([]byte(jwtSecret+"."+opaqueSecret), jwxjwt.WithKey(jwa.HS256, key))
			return err
		},
		"jwx parse of a garbage token": func() error {
			_, err := jwxjwt.ParseString("Bearer "+opaqueSecret, jwxjwt.WithKey(jwa.HS256, key))
			return err
		},
		"url parse with a control character": func() error {
			// Built at run time, as a configured resolver URL would be.
			raw := strings.Join([]string{"http://resolver.local/resolve?session=", sessionSecret, "\x7f"}, "")
			_, err := url.Parse(raw)
			return err
		},
		"http call that times out": func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet,
				"http://"+"client:"+opaqueSecret+"@127.0.0.1:1/introspect?token="+sessionSecret, nil)
			if err != nil {
				return err
			}
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				_ = res.Body.Close()
			}
			return err
		},
	}
	for name, f := range errs {
		t.Run(name, func(t *testing.T) {
			err := f()
			if err == nil {
				t.Fatal("expected an error to redact")
			}
			got := Redact(err.Error())
			for _, s := range []string{jwtSecret, opaqueSecret, sessionSecret} {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q still contains %q", err.Error(), got, s)
				}
			}
		})
	}
}

// FuzzRedact checks that Redact never panics and that no secret it was
// given survives, whatever surrounds it. Secrets with "[" or "]" are left
// out of the second check: they can be made of the marker's own characters.
func FuzzRedact(f *testing.F) {
	f.Add(`Get "http://h/p?session=abc123": EOF`, sessionSecret)
	f.Add("Bearer "+jwtSecret, jwtSecret)
	f.Add("Cookie: a=b; session="+sessionSecret, "zzzz")
	f.Add("https://u:p@h/x?y", "[REDACTED]")
	f.Add("aaaaaaa", "aaaa")
	f.Fuzz(func(t *testing.T, s, secret string) {
		got := Redact(s, secret)
		if len(secret) >= MinSecretLen && !strings.ContainsAny(secret, "[]") && strings.Contains(got, secret) {
			t.Fatalf("Redact(%q, %q) = %q still contains the secret", s, secret, got)
		}
		// What carries a secret in the known shapes never survives either.
		if wrapped := Redact("Authorization: Bearer "+s+"\n"+secret, secret); strings.Contains(wrapped, "Bearer "+s) && s != "" && !strings.ContainsAny(s, " \t\r\n\"',;\\") {
			t.Fatalf("bearer value %q survived: %q", s, wrapped)
		}
	})
}

// redactUngated is Redact with every pattern applied, whatever the text
// holds: what Redact did before its patterns were gated, and must still do.
func redactUngated(s string) string {
	for _, p := range patterns {
		s = p.redact(s)
	}
	return s
}

// TestRedactGates: a pattern's gate never skips text the pattern would
// redact, including where Unicode case folding makes a (?i) pattern match
// letters a byte search would not ("K" is U+212A KELVIN SIGN, "ſ" U+017F
// LATIN SMALL LETTER LONG S), and ordinary messages skip every pattern.
func TestRedactGates(t *testing.T) {
	tests := map[string]struct {
		in      string
		skipAll bool // no gate opens
		redacts bool // and something is redacted
	}{
		// The pre-check before the gates compared bytes and had no ":",
		// "=", "?" or "@" to go on here: this went out as it came.
		"long s basic alone":     {in: "auth baſic dXNlcjpwYXNz", redacts: true},
		"denial detail":          {in: `authenticator "bearer" rejected the credential: invalid credential: bad header: bad base64url`},
		"plain":                  {in: "signature does not verify", skipAll: true},
		"kelvin cookie header":   {in: "upstream said: cooKie: sid=abcdef123456"},
		"long s basic":           {in: "auth: baſic dXNlcjpwYXNz"},
		"upper authorization":    {in: "AUTHORIZATION=Bearer abcdef"},
		"x-api-key":              {in: "header X-Api-Key: k-123456789"},
		"jwt":                    {in: "token " + jwtSecret + " rejected"},
		"userinfo":               {in: `Get "https://user:pw@idp.example.com/x": EOF`},
		"query":                  {in: `Get "https://idp.example.com/introspect?token=abc": timeout`},
		"param without query":    {in: "form: client_secret=s3cr3t&x=1"},
		"fold split over a rune": {in: "coo\u212aie\u212a: value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got, want := Redact(tc.in), redactUngated(tc.in); got != want {
				t.Fatalf("Redact(%q) = %q, want %q (every pattern applied)", tc.in, got, want)
			}
			opened := false
			for _, p := range patterns {
				opened = opened || p.may(tc.in)
			}
			if tc.skipAll && opened {
				t.Fatalf("a gate opened for %q", tc.in)
			}
			if got := Redact(tc.in); tc.redacts && !strings.Contains(got, Redacted) {
				t.Fatalf("Redact(%q) = %q redacts nothing", tc.in, got)
			}
		})
	}
}

// FuzzRedactGates: whatever the text, gating the patterns changes nothing
// Redact returns.
func FuzzRedactGates(f *testing.F) {
	f.Add("cooKie: a=b")
	f.Add("Bearer " + jwtSecret)
	f.Add(`Get "http://u:p@h/p?session=abc123": EOF`)
	f.Add("baſic abc")
	f.Add("invalid credential: bad header")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Redact(s), redactUngated(s); got != want {
			t.Fatalf("Redact(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkRedact: what a denial's detail costs to scrub, for a message
// with no credential shape (most denials) and one with several.
func BenchmarkRedact(b *testing.B) {
	for name, s := range map[string]string{
		"denial": `authenticator "bearer" rejected the credential: invalid credential: bad header: bad base64url`,
		"shapes": `Post "https://u:p@idp.example.com/introspect?token=abc": Authorization: Bearer ` + jwtSecret,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Redact(s, opaqueSecret)
			}
		})
	}
}

// TestGateWordsFoldASCII pins what containsFold relies on: every gate
// word starts with a lower-case ASCII letter that folds to ASCII only.
func TestGateWordsFoldASCII(t *testing.T) {
	for _, w := range append(append([]string{}, headerWords...), schemeWords...) {
		first := rune(w[0])
		if first < 'a' || first > 'z' {
			t.Errorf("%q does not start with a lower-case ASCII letter", w)
		}
		for f := unicode.SimpleFold(first); f != first; f = unicode.SimpleFold(f) {
			if f >= utf8.RuneSelf {
				t.Errorf("%q starts with %q, which folds to %q: compare it by rune", w, first, f)
			}
		}
	}
}

// TestGateWordsCoverPatterns keeps the gate words in step with the
// patterns they stand for: every alternative of credHeader's and
// authScheme's first group contains a gate word, so a name added to a
// pattern without its word fails here instead of going unredacted.
func TestGateWordsCoverPatterns(t *testing.T) {
	for name, tc := range map[string]struct {
		re    *regexp.Regexp
		words []string
	}{
		"credHeader": {credHeader, headerWords},
		"authScheme": {authScheme, schemeWords},
	} {
		// The first capturing group: "(" not followed by "?" (flags).
		src := tc.re.String()
		group := regexp.MustCompile(`\(([^?()][^()]*)\)`).FindStringSubmatch(src)
		if group == nil {
			t.Fatalf("%s: no group in %s", name, src)
		}
		alternatives := strings.Split(group[1], "|")
		if len(alternatives) < 2 {
			t.Fatalf("%s: the first group of %s is not the list of names", name, src)
		}
		for _, alt := range alternatives {
			if !containsFold(alt, "", tc.words...) {
				t.Errorf("%s: %q contains none of the gate words %q", name, alt, tc.words)
			}
		}
	}
}

// TestSchemeGateSpace: the bytes after a scheme word that open the gate are
// exactly those authScheme's \s matches there.
func TestSchemeGateSpace(t *testing.T) {
	for b := range 256 {
		s := "basic" + string([]byte{byte(b)}) + "abcdef"
		matches := authScheme.MatchString(s)
		if gate := strings.IndexByte(schemeSpace, byte(b)) >= 0; gate != matches {
			t.Errorf("byte %#x after the scheme: gate %v, pattern matches %v", b, gate, matches)
		}
	}
}
