package hostile

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/resolver"
)

func TestHostileRequests(t *testing.T) {
	s := newStack(t)
	tok := s.mint(t, devissuer.Token{Audience: []string{"shop"}})
	s.resolver.AddSession("alice-cookie", resolver.Session{UserID: "alice"})
	junk := "a=" + strings.Repeat("x", 60<<10) // 60 KiB of cookies before the one that counts
	https := func(hostAndTarget string) string { return "https://" + hostAndTarget }
	rows := map[string]row{
		// Two Authorization headers reach authgate joined with ", " (HTTP)
		// or "," (Envoy): never one token, so 401.
		"two Authorization headers, both valid": {
			r: req{header: [][2]string{{"Authorization", "Bearer " + tok}, {"Authorization", "Bearer " + tok}}}, want: http.StatusUnauthorized,
		},
		"two Authorization headers, valid then Basic": {
			r: req{header: [][2]string{{"Authorization", "Bearer " + tok}, {"Authorization", "Basic YTpi"}}}, want: http.StatusUnauthorized,
		},
		"two Authorization headers, Basic then valid": {
			r: req{header: [][2]string{{"Authorization", "Basic YTpi"}, {"Authorization", "Bearer " + tok}}}, want: http.StatusUnauthorized,
		},
		// RFC 7235 section 2.1: the scheme is case-insensitive. Blanks
		// around the token are trimmed (a token68 holds none); the scheme
		// must be followed by a space.
		"lower-case scheme":        {r: req{header: [][2]string{{"Authorization", "bearer " + tok}}}, want: http.StatusOK},
		"upper-case scheme":        {r: req{header: [][2]string{{"Authorization", "BEARER " + tok}}}, want: http.StatusOK},
		"extra spaces":             {r: req{header: [][2]string{{"Authorization", "Bearer    " + tok + "  "}}}, want: http.StatusOK},
		"tab after the scheme":     {r: req{header: [][2]string{{"Authorization", "Bearer\t" + tok}}}, want: http.StatusUnauthorized},
		"no space after scheme":    {r: req{header: [][2]string{{"Authorization", "Bearer" + tok}}}, want: http.StatusUnauthorized},
		"space inside the token":   {r: req{header: [][2]string{{"Authorization", "Bearer " + tok[:20] + " " + tok[20:]}}}, want: http.StatusUnauthorized},
		"Bearer with no token":     {r: req{header: [][2]string{{"Authorization", "Bearer "}}}, want: http.StatusUnauthorized},
		"lower-case header name":   {r: req{header: [][2]string{{"authorization", "Bearer " + tok}}}, want: http.StatusOK},
		"underscore header name":   {r: req{header: [][2]string{{"Authorization_", "Bearer " + tok}}}, want: http.StatusUnauthorized},
		"token in a quoted cookie": {r: req{header: [][2]string{{"Cookie", `theme=dark; access_token="` + tok + `"`}}}, want: http.StatusOK},
		"cookies split by commas":  {r: req{header: [][2]string{{"Cookie", "theme=dark,access_token=" + tok}}}, want: http.StatusOK},
		"quote and semicolon in an earlier value": {
			r: req{header: [][2]string{{"Cookie", `theme="da;rk"; x="a,b"; access_token=` + tok}}}, want: http.StatusOK,
		},
		"cookie name with a prefix": {r: req{header: [][2]string{{"Cookie", "xaccess_token=" + tok}}}, want: http.StatusUnauthorized},
		"two Cookie headers":        {r: req{header: [][2]string{{"Cookie", "theme=dark"}, {"Cookie", "access_token=" + tok}}}, want: http.StatusOK},
		// Over MaxCookieHeader (16 KiB) the Cookie header is not parsed
		// at all: bounded work, and no credential.
		"64 KB of cookies":                   {r: req{header: [][2]string{{"Cookie", junk + "; access_token=" + tok}}}, want: http.StatusUnauthorized},
		"64 KB of cookies on a public page":  {r: req{target: "/public/x", header: [][2]string{{"Cookie", junk}}}, want: http.StatusOK},
		"64 KB of cookies with a Bearer too": {r: req{header: [][2]string{{"Cookie", junk}, {"Authorization", "Bearer " + tok}}}, want: http.StatusOK},
		// Hosts: one canonical form.
		"host upper case with port": {r: req{host: "SHOP.Example.COM:8443", header: bearer(tok)}, want: http.StatusOK},
		"host with a trailing dot":  {r: req{host: "shop.example.com.", header: bearer(tok)}, want: http.StatusOK},
		"wildcard host":             {r: req{host: "api.shop.example.com", header: bearer(tok)}, want: http.StatusOK},
		"IDN as punycode":           {r: req{host: "xn--bcher-kva.example.com", header: bearer(tok)}, want: http.StatusOK},
		"IDN in Unicode":            {r: req{host: "bücher.example.com", header: bearer(tok)}, want: http.StatusBadRequest},
		"IPv6 literal":              {r: req{host: "[::1]:8443", header: bearer(tok)}, want: http.StatusForbidden},
		"unknown host":              {r: req{host: "evil.example.com", header: bearer(tok)}, want: http.StatusForbidden},
		"host with two dots":        {r: req{host: "shop..example.com", header: bearer(tok)}, want: http.StatusBadRequest},
		// Paths: decided as the application will read them, or refused.
		"dot-dot into /admin":            {r: req{target: "/public/../admin"}, want: http.StatusUnauthorized},
		"encoded dot-dot into /admin":    {r: req{target: "/public/%2e%2e/admin"}, want: http.StatusUnauthorized},
		"upper-case encoded dot-dot":     {r: req{target: "/public/%2E%2E/admin"}, want: http.StatusUnauthorized},
		"double slash":                   {r: req{target: "//admin"}, want: http.StatusUnauthorized},
		"double slash and dot-dot":       {r: req{target: "/public//../admin"}, want: http.StatusBadRequest},
		"encoded slash":                  {r: req{target: "/public%2F..%2Fadmin"}, want: http.StatusBadRequest},
		"backslash":                      {r: req{target: `/public\..\admin`}, want: http.StatusBadRequest},
		"fragment":                       {r: req{target: "/public/x#/../../admin"}, want: http.StatusBadRequest},
		"encoded CR LF":                  {r: req{target: "/public/%0d%0aX-User-Id:%20admin"}, want: http.StatusBadRequest},
		"bad escape":                     {r: req{target: "/public/%zz"}, want: http.StatusBadRequest},
		"public page (control)":          {r: req{target: "/public/index.html"}, want: http.StatusOK},
		"public prefix is segment-aware": {r: req{target: "/publicity"}, want: http.StatusUnauthorized},
		// X-Original-URL (nginx contract only; the others have no such
		// header and decide their own target).
		"X-Original-URL relative": {
			r: req{target: "/public/x", originalURL: "/admin"}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusBadRequest},
		},
		"X-Original-URL for another host": {
			r: req{target: "/public/x", originalURL: https("evil.example.com/public/x")}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusForbidden},
		},
		"X-Original-URL with userinfo": {
			r: req{target: "/public/x", originalURL: https("shop.example.com@evil.example.com/public/x")}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusBadRequest},
		},
		"X-Original-URL with a fragment": {
			r: req{target: "/public/x", originalURL: https("shop.example.com/public/x#/../admin")}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusBadRequest},
		},
		"X-Original-URL with a raw CR": {
			r: req{target: "/public/x", originalURL: https("shop.example.com/public/\rx")}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusBadRequest},
		},
		"X-Original-URL with an encoded dot-dot": {
			r: req{target: "/public/x", originalURL: https("shop.example.com/public/%2e%2e/admin")}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusUnauthorized},
		},
		"X-Original-URL with a scheme-relative path": {
			r: req{target: "/public/x", originalURL: https("shop.example.com//evil.example.com/admin")}, want: http.StatusOK, byTransport: map[string]int{"nginx": http.StatusUnauthorized},
		},
		// Policies pointing at the metadata address fail closed with 503
		// (dependency error) under --deny-link-local; the rows above show
		// the other policies unaffected.
		"JWKS URL at the metadata address": {r: req{host: "meta-jwks.example.com", header: bearer(tok)}, want: http.StatusServiceUnavailable},
		"issuer discovery at a link-local address": {
			r: req{host: "meta-discovery.example.com", header: bearer(tok)}, want: http.StatusServiceUnavailable,
		},
		"session resolver at the metadata address": {
			r: req{host: "meta-session.example.com", header: [][2]string{{"Cookie", "session=alice-cookie"}}}, want: http.StatusServiceUnavailable,
		},
		"session resolver allowed (control)": {
			r: req{host: "www.example.com", header: [][2]string{{"Cookie", "session=alice-cookie"}}}, want: http.StatusOK,
		},
	}
	s.run(t, rows)
}

// TestUnknownKidFlood: tokens with random unknown kids, from many clients
// at once over both transports, make authgate fetch the JWKS at most once
// per 10 s, and every one is a 401.
func TestUnknownKidFlood(t *testing.T) {
	s := newStack(t)
	// Warm: newStack has fetched the key set on both servers; a valid token
	// passes every transport.
	s.run(t, map[string]row{"warm-up": {r: req{header: bearer(s.mint(t, devissuer.Token{Audience: []string{"shop"}}))}, want: http.StatusOK}})
	before := s.iss.JWKSFetches()
	start := time.Now()
	const clients, each = 8, 25
	var wg sync.WaitGroup
	statuses := make(chan int, clients*each)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				r := req{header: bearer(s.mint(t, devissuer.Token{Audience: []string{"shop"}, Kid: fmt.Sprintf("kid-%d-%d-%x", c, i, rand.Uint64())}))}
				if c%2 == 0 {
					statuses <- s.viaGRPC(t, r).status
				} else {
					statuses <- s.viaNginx(t, r).status
				}
			}
		})
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != http.StatusUnauthorized {
			t.Errorf("status %d for an unknown kid, want 401", st)
		}
	}
	// One refetch per 10 s window the flood spanned (a slow machine may
	// span more than one).
	allowed := 1 + int(time.Since(start)/(10*time.Second))
	if n := s.iss.JWKSFetches() - before; n > allowed {
		t.Errorf("%d JWKS fetches during the flood, want at most %d", n, allowed)
	}
}

// TestSpoofedForwardedHeaders: X-Forwarded-* from a peer outside
// --trusted-proxies are ignored. On the server trusting loopback they name
// the original request; on the one trusting no one, the same request is
// decided on its own Host (authgate's) and is never allowed.
func TestSpoofedForwardedHeaders(t *testing.T) {
	s := newStack(t)
	h := [][2]string{
		{"X-Forwarded-Method", "GET"}, {"X-Forwarded-Proto", "https"},
		{"X-Forwarded-Host", "shop.example.com"}, {"X-Forwarded-Uri", "/public/x"},
	}
	if a := rawHTTP(t, s.srv.HTTPAddr(), "/auth", h); a.status != http.StatusOK {
		t.Fatalf("trusted peer: %d, want 200", a.status)
	}
	if a := rawHTTP(t, s.untrusted.HTTPAddr(), "/auth", h); a.status != http.StatusBadRequest && a.status != http.StatusForbidden {
		t.Fatalf("untrusted peer: %d, want a deny (400 or 403)", a.status)
	}
	// From an untrusted peer they do not win over X-Original-URL either.
	h = append(h, [2]string{"X-Original-URL", "https://shop.example.com/admin"}, [2]string{"X-Original-Method", "GET"})
	if a := rawHTTP(t, s.untrusted.HTTPAddr(), "/auth", h); a.status != http.StatusUnauthorized {
		t.Fatalf("untrusted peer with X-Original-URL: %d, want 401 (decided on /admin)", a.status)
	}
}
