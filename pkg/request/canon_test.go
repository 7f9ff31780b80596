package request

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalHost(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string
		wantErr bool
	}{
		"plain":               {in: "shop.example.com", want: "shop.example.com"},
		"upper case":          {in: "Shop.EXAMPLE.com", want: "shop.example.com"},
		"port":                {in: "shop.example.com:8443", want: "shop.example.com"},
		"trailing dot":        {in: "shop.example.com.", want: "shop.example.com"},
		"trailing dot + port": {in: "shop.example.com.:80", want: "shop.example.com"},
		"punycode":            {in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		"ipv4":                {in: "10.0.0.1:80", want: "10.0.0.1"},
		"ipv6 with port":      {in: "[::1]:8080", want: "[::1]"},
		"ipv6 long form":      {in: "[0:0:0:0:0:0:0:1]", want: "[::1]"},
		"empty":               {in: "", wantErr: true},
		"only port":           {in: ":80", wantErr: true},
		"dots":                {in: "..", wantErr: true},
		"empty label":         {in: "a..com", wantErr: true},
		"leading dot":         {in: ".a.com", wantErr: true},
		"bad port":            {in: "a.com:http", wantErr: true},
		"raw unicode":         {in: "bücher.example", wantErr: true},
		"space":               {in: "a b.com", wantErr: true},
		"crlf":                {in: "a.com\r\nX: y", wantErr: true},
		"slash":               {in: "a.com/evil", wantErr: true},
		"unterminated ipv6":   {in: "[::1", wantErr: true},
		"bad ipv6":            {in: "[zz]", wantErr: true},
		"userinfo":            {in: "user@a.com", wantErr: true},
		"overlong":            {in: strings.Repeat("a", 300), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := CanonicalHost(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("CanonicalHost(%q) = %q, %v; want ErrBadRequest", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := map[string]struct {
		in        string
		wantPath  string
		wantQuery string
		wantErr   bool
	}{
		"root":                    {in: "/", wantPath: "/"},
		"plain":                   {in: "/api/orders", wantPath: "/api/orders"},
		"query":                   {in: "/a?x=1&y=%2F", wantPath: "/a", wantQuery: "x=1&y=%2F"},
		"fragment refused":        {in: "/public#/../admin", wantErr: true},
		"dot dot":                 {in: "/public/../admin", wantPath: "/admin"},
		"encoded dot dot":         {in: "/public/%2e%2e/admin", wantPath: "/admin"},
		"upper encoded dot dot":   {in: "/public/%2E%2E/admin", wantPath: "/admin"},
		"mixed encoded dot":       {in: "/public/.%2e/admin", wantPath: "/admin"},
		"dot":                     {in: "/a/./b", wantPath: "/a/b"},
		"dot dot past root":       {in: "/../../etc/passwd", wantPath: "/etc/passwd"},
		"double slash":            {in: "//admin", wantPath: "/admin"},
		"inner double slash":      {in: "/public//x", wantPath: "/public/x"},
		"trailing slash kept":     {in: "/a/b/", wantPath: "/a/b/"},
		"trailing dot dot":        {in: "/a/b/..", wantPath: "/a/"},
		"decoded space":           {in: "/a%20b", wantPath: "/a b"},
		"encoded percent":         {in: "/a%2525", wantPath: "/a%25"},
		"triple dot is a name":    {in: "/a/.../b", wantPath: "/a/.../b"},
		"encoded slash":           {in: "/public%2F..%2Fadmin", wantErr: true},
		"empty segment then dots": {in: "/admin//../public", wantErr: true},
		"encoded empty then dots": {in: "/admin//%2e%2e/public", wantErr: true},
		"dots then empty segment": {in: "/a/..//b", wantErr: true},
		"encoded slash lower":     {in: "/a%2fb", wantErr: true},
		"encoded backslash":       {in: "/a%5Cb", wantErr: true},
		"backslash":               {in: "/public\\..\\admin", wantErr: true},
		"bad escape":              {in: "/a%zz", wantErr: true},
		"truncated escape":        {in: "/a%2", wantErr: true},
		"encoded nul":             {in: "/a%00b", wantErr: true},
		"encoded crlf":            {in: "/a%0d%0aX", wantErr: true},
		"raw control":             {in: "/a\x01b", wantErr: true},
		"relative":                {in: "admin", wantErr: true},
		"asterisk":                {in: "*", wantErr: true},
		"absolute URL as target":  {in: "http://a.com/x", wantErr: true},
		"empty":                   {in: "", wantErr: true},
		"too long":                {in: "/" + strings.Repeat("a", MaxPath), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, q, err := CanonicalPath(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want ErrBadRequest", tc.in, p, q, err)
				}
				return
			}
			if err != nil || p != tc.wantPath || q != tc.wantQuery {
				t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want %q, %q", tc.in, p, q, err, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

func TestReadings(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"plain path has one reading":     {in: "/a/b", want: nil},
		"dots read literally too":        {in: "/admin/../public/x", want: []string{"/admin/../public/x"}},
		"encoded dots read literally":    {in: "/public/%2e%2e/admin", want: []string{"/public/../admin"}},
		"single dot":                     {in: "/a/./b", want: []string{"/a/./b"}},
		"matrix dots (Tomcat)":           {in: "/public/..;/admin", want: []string{"/admin"}},
		"matrix parameter (Spring)":      {in: "/admin;x=1", want: []string{"/admin"}},
		"dot in a name is not a reading": {in: "/a.b/c.d", want: nil},
		"bad target has none":            {in: "/a%zz/..", want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Readings(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("Readings(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCookie(t *testing.T) {
	tests := map[string]struct {
		header string
		name   string
		want   string
		found  bool
	}{
		"single":               {header: "session=abc", name: "session", want: "abc", found: true},
		"among others":         {header: "a=1; session=abc; b=2", name: "session", want: "abc", found: true},
		"first of duplicates":  {header: "session=one; session=two", name: "session", want: "one", found: true},
		"quoted value":         {header: `session="abc"`, name: "session", want: "abc", found: true},
		"bad pair skipped":     {header: "bad pair; session=abc", name: "session", want: "abc", found: true},
		"absent":               {header: "a=1", name: "session"},
		"empty header":         {header: "", name: "session"},
		"comma-joined headers": {header: "a=1,session=abc", name: "session", want: "abc", found: true},
		"case-sensitive name":  {header: "Session=abc", name: "session"},
		"oversized header":     {header: "session=abc; " + strings.Repeat("x", MaxCookieHeader), name: "session"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Request{Headers: map[string]string{"cookie": tc.header}}
			got, ok := r.Cookie(tc.name)
			if ok != tc.found || got != tc.want {
				t.Fatalf("Cookie(%q) in %q = %q, %v; want %q, %v", tc.name, tc.header, got, ok, tc.want, tc.found)
			}
		})
	}
}

func TestQueryAndHelpers(t *testing.T) {
	r := &Request{Host: "a.com", Path: "/p", RawQuery: "access_token=t&x=1&x=2&bad=%zz", Method: "GET",
		Headers: map[string]string{"accept": "text/html,application/xhtml+xml"}}
	if v, ok := r.Query("access_token"); !ok || v != "t" {
		t.Fatalf("Query(access_token) = %q, %v", v, ok)
	}
	if v, _ := r.Query("x"); v != "1" {
		t.Fatalf("Query(x) = %q, want the first value", v)
	}
	if _, ok := r.Query("missing"); ok {
		t.Fatal("Query(missing) found something")
	}
	if got := r.URL(); got != "https://a.com/p?access_token=t&x=1&x=2&bad=%zz" {
		t.Fatalf("URL() = %q", got)
	}
	if !r.Browser() {
		t.Fatal("GET accepting text/html is a browser request")
	}
	r.Headers["accept"] = "TEXT/HTML"
	if !r.Browser() {
		t.Fatal("media types are case-insensitive")
	}
	r.Method = "POST"
	if r.Browser() {
		t.Fatal("POST is not a navigation")
	}
	h := HeadersFrom(http.Header{"X-A": {"1", "2"}, "Cookie": {"a=1", "b=2"}})
	if h["x-a"] != "1, 2" || h["cookie"] != "a=1; b=2" {
		t.Fatalf("HeadersFrom = %v", h)
	}
}

// TestHeadersFrom: names lower-case (ASCII by hand, anything else as
// strings.ToLower does), repeats joined as Envoy joins them, values as sent.
func TestHeadersFrom(t *testing.T) {
	tests := map[string]struct {
		in   http.Header
		want map[string]string
	}{
		"empty": {in: http.Header{}, want: map[string]string{}},
		"canonical names": {
			in:   http.Header{"Authorization": {"Bearer t"}, "X-Original-Url": {"https://a/b"}, "User-Agent": {"ua"}},
			want: map[string]string{"authorization": "Bearer t", "x-original-url": "https://a/b", "user-agent": "ua"},
		},
		"repeats": {
			in:   http.Header{"X-A": {"1", "2"}, "Cookie": {"a=1", "b=2"}, "Accept": {}},
			want: map[string]string{"x-a": "1, 2", "cookie": "a=1; b=2", "accept": ""},
		},
		"odd names": {
			in:   http.Header{"x_User-ID": {"u"}, "ÄB-C": {"v"}, "X-Ω": {"w"}, "": {"e"}, "0-9~!#$%&'*+.^_`|": {"t"}},
			want: map[string]string{"x_user-id": "u", "äb-c": "v", "x-ω": "w", "": "e", "0-9~!#$%&'*+.^_`|": "t"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := HeadersFrom(tc.in)
			if !maps.Equal(got, tc.want) {
				t.Fatalf("HeadersFrom = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzCanonicalPath checks that canonicalisation never panics, that its
// output is canonical (a fixed point, free of dot segments and control
// characters), and so that no encoding trick survives into a path a rule
// would match differently.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/public/../admin", "/public/%2e%2e/admin", "//a//b/", "/a%2Fb", "/a?b#c", "/%", "/a/./../..", "/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, _, err := CanonicalPath(in)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not ErrBadRequest", err)
			}
			return
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("CanonicalPath(%q) = %q: not absolute", in, p)
		}
		for _, seg := range strings.Split(p, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("CanonicalPath(%q) = %q: dot segment left", in, p)
			}
		}
		if strings.Contains(p, "//") || hasControl(p) || strings.ContainsRune(p, '\\') {
			t.Fatalf("CanonicalPath(%q) = %q: not canonical", in, p)
		}
		// Percent signs in p are literal; escape them so the fixed-point
		// check compares like with like.
		p2, _, err := CanonicalPath(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(p, "%", "%25"), "?", "%3F"), "#", "%23"))
		if err != nil || p2 != p {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", in, p, p2, err)
		}
	})
}

// FuzzCanonicalHost checks that host canonicalisation never panics and that
// a canonical host is lower-case, port-free and stable.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"a.com", "A.COM:80", "[::1]:1", "a.com.", "[", ":", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := CanonicalHost(in)
		if err != nil {
			return
		}
		if h != strings.ToLower(h) || h == "" {
			t.Fatalf("CanonicalHost(%q) = %q", in, h)
		}
		if h2, err := CanonicalHost(h); err != nil || h2 != h {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", in, h, h2, err)
		}
	})
}

// FuzzCookie checks that cookie parsing of hostile headers never panics,
// that a found value never contains a separator, and that it is what
// net/http's ParseCookie reads from the same pair (the first pair named
// "session" that net/http accepts).
func FuzzCookie(f *testing.F) {
	for _, s := range []string{"session=a", `a="b;c"; session=d`, "session=a, b=c", ";;;", "=", "session="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := &Request{Headers: map[string]string{"cookie": header}}
		v, ok := r.Cookie("session")
		if ok && strings.ContainsAny(v, ";,") {
			t.Fatalf("cookie value %q contains a separator", v)
		}
		want, wantOK := "", false
		if len(header) <= MaxCookieHeader {
			for _, part := range strings.FieldsFunc(header, func(r rune) bool { return r == ';' || r == ',' }) {
				cs, err := http.ParseCookie(part)
				if err == nil && len(cs) == 1 && cs[0].Name == "session" {
					want, wantOK = cs[0].Value, true
					break
				}
			}
		}
		if v != want || ok != wantOK {
			t.Fatalf("Cookie(session) in %q = %q, %v; net/http reads %q, %v", header, v, ok, want, wantOK)
		}
	})
}

// TestMethodIndex: every standard method finds its own place in Methods;
// methods are case-sensitive, and any other method has none.
func TestMethodIndex(t *testing.T) {
	for i, m := range Methods {
		if got := MethodIndex(m); got != i {
			t.Errorf("MethodIndex(%s) = %d, want %d", m, got, i)
		}
	}
	for _, m := range []string{"", "get", "Get", "QUERY", "PROPFIND", "GET "} {
		if got := MethodIndex(m); got != -1 {
			t.Errorf("MethodIndex(%q) = %d, want -1", m, got)
		}
	}
}
