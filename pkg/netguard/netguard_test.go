package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/authgate/authgate/pkg/netguard"
)

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	ps, err := netguard.ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestAllowed(t *testing.T) {
	// Link-local plus the operator choices the docs name: loopback and
	// RFC 1918.
	g := netguard.New(append(mustPrefixes(t, "127.0.0.0/8, 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128"), netguard.LinkLocal...))
	tests := map[string]struct {
		addr string
		want bool
	}{
		"metadata endpoint":                    {addr: "169.254.169.254", want: false},
		"other IPv4 link-local":                {addr: "169.254.0.1", want: false},
		"IPv4-mapped metadata endpoint":        {addr: "::ffff:169.254.169.254", want: false},
		"IPv6 link-local":                      {addr: "fe80::1", want: false},
		"IPv6 link-local with a zone":          {addr: "fe80::1%eth0", want: false},
		"loopback":                             {addr: "127.0.0.1", want: false},
		"loopback elsewhere in 127/8":          {addr: "127.1.2.3", want: false},
		"IPv6 loopback":                        {addr: "::1", want: false},
		"RFC 1918, 10/8":                       {addr: "10.96.0.10", want: false},
		"RFC 1918, 172.16/12":                  {addr: "172.31.255.255", want: false},
		"RFC 1918, 192.168/16":                 {addr: "192.168.1.1", want: false},
		"IPv4-mapped RFC 1918":                 {addr: "::ffff:10.0.0.1", want: false},
		"public IPv4":                          {addr: "93.184.216.34", want: true},
		"just outside 172.16/12":               {addr: "172.32.0.1", want: true},
		"just outside 169.254/16":              {addr: "169.255.0.1", want: true},
		"public IPv6":                          {addr: "2606:2800:220:1:248:1893:25c8:1946", want: true},
		"IPv4-mapped public address":           {addr: "::ffff:93.184.216.34", want: true},
		"unique-local IPv6 is not link-local":  {addr: "fd00:ec2::254", want: true},
		"IPv6 just outside fe80::/10":          {addr: "fec0::1", want: true},
		"IPv4-compatible form is another host": {addr: "::169.254.169.254", want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := g.Allowed(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("Allowed(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
	if g.Allowed(netip.Addr{}) {
		t.Error("the zero address must not be allowed")
	}
}

func TestEmptyGuardAllowsEverything(t *testing.T) {
	g := netguard.New(nil)
	for _, a := range []string{"169.254.169.254", "127.0.0.1", "fe80::1"} {
		if !g.Allowed(netip.MustParseAddr(a)) {
			t.Errorf("an empty deny-list refused %s", a)
		}
	}
}

func TestMappedDenyPrefix(t *testing.T) {
	// A deny entry written in its IPv4-mapped form covers the plain IPv4
	// addresses too.
	g := netguard.New(mustPrefixes(t, "::ffff:169.254.0.0/112"))
	for _, a := range []string{"169.254.169.254", "::ffff:169.254.169.254"} {
		if g.Allowed(netip.MustParseAddr(a)) {
			t.Errorf("%s allowed", a)
		}
	}
	if !g.Allowed(netip.MustParseAddr("169.255.0.1")) {
		t.Error("169.255.0.1 refused")
	}
}

func TestControl(t *testing.T) {
	g := netguard.New(netguard.LinkLocal)
	tests := map[string]struct {
		address string
		denied  bool
	}{
		"allowed":         {address: "127.0.0.1:80"},
		"metadata":        {address: "169.254.169.254:80", denied: true},
		"IPv6 with zone":  {address: "[fe80::1%eth0]:443", denied: true},
		"mapped metadata": {address: "[::ffff:169.254.169.254]:80", denied: true},
		"a name":          {address: "metadata.google.internal:80", denied: true},
		"no port":         {address: "169.254.169.254", denied: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := g.Control("tcp", tc.address, nil)
			if got := errors.Is(err, netguard.ErrDenied); got != tc.denied {
				t.Errorf("Control(%s) = %v, want denied %v", tc.address, err, tc.denied)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []string
		wantErr bool
	}{
		"empty":              {in: "", want: nil},
		"blanks and commas":  {in: " , ,", want: nil},
		"masked":             {in: "10.1.2.3/8, fe80::1/10", want: []string{"10.0.0.0/8", "fe80::/10"}},
		"bare addresses":     {in: "169.254.169.254,fd00:ec2::254", want: []string{"169.254.169.254/32", "fd00:ec2::254/128"}},
		"not a CIDR":         {in: "10.0.0.0/8,metadata", wantErr: true},
		"bad prefix length":  {in: "10.0.0.0/33", wantErr: true},
		"hostname with mask": {in: "example.com/8", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := netguard.ParsePrefixes(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if len(s) != len(tc.want) {
				t.Fatalf("got %v, want %v", s, tc.want)
			}
			for i := range s {
				if s[i] != tc.want[i] {
					t.Errorf("got %v, want %v", s, tc.want)
				}
			}
		})
	}
}

// TestClientRefusesDeniedDestination dials through a guarded client: the
// loopback server answers an unguarded client and is refused when loopback
// is denied, also behind a name that resolves to it (what DNS rebinding
// would do); a redirect to a denied address is refused too.
func TestClientRefusesDeniedDestination(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	allow, err := netguard.New(mustPrefixes(t, "10.0.0.0/8")).Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	deny, err := netguard.New(mustPrefixes(t, "127.0.0.0/8,::1/128")).Client(&http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(c *http.Client, u string) error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		res, err := c.Do(req)
		if err == nil {
			_ = res.Body.Close()
		}
		return err
	}
	if err := get(allow, srv.URL); err != nil {
		t.Fatalf("allowed destination: %v", err)
	}
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		if err := get(deny, u); !errors.Is(err, netguard.ErrDenied) {
			t.Errorf("GET %s = %v, want ErrDenied", u, err)
		}
	}
	// A redirect to the metadata endpoint is refused before any packet
	// leaves: Control runs before connect.
	meta := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/", http.StatusFound))
	defer meta.Close()
	linkLocal, err := netguard.New(netguard.LinkLocal).Client(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(linkLocal, meta.URL); !errors.Is(err, netguard.ErrDenied) {
		t.Errorf("redirect to the metadata endpoint = %v, want ErrDenied", err)
	}
}

type wrapped struct{ http.RoundTripper }

func TestClientRefusesUnknownTransport(t *testing.T) {
	_, err := netguard.New(netguard.LinkLocal).Client(&http.Client{Transport: wrapped{http.DefaultTransport}})
	if err == nil {
		t.Fatal("a transport the guard cannot reach was accepted")
	}
}

func TestClientKeepsSettings(t *testing.T) {
	base := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 77
	base.Transport = tr
	c, err := netguard.New(netguard.LinkLocal).Client(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckRedirect == nil {
		t.Error("CheckRedirect lost")
	}
	got, ok := c.Transport.(*http.Transport)
	if !ok || got.MaxIdleConnsPerHost != 77 || got == tr {
		t.Errorf("transport = %#v, want a clone keeping MaxIdleConnsPerHost", c.Transport)
	}
}
