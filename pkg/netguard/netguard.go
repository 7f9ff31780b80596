// Package netguard refuses outgoing connections to networks an operator has
// denied, for the HTTP clients authgate builds from URLs that policies name
// (JWKS, OIDC discovery, session resolvers, token introspection). Whoever may
// write a policy may otherwise make authgate call any address its pod can
// reach, such as a cloud metadata endpoint: server-side request forgery.
//
// The check runs in net.Dialer.Control, on the IP address actually being
// dialled after name resolution, so a name that resolves to an allowed
// address when checked and a denied one when used (DNS rebinding) cannot get
// past it, and neither can a redirect: every connection is checked.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// LinkLocal are the link-local networks, where cloud metadata endpoints
// (169.254.169.254) and other node-local services live. AWS also serves
// metadata on fd00:ec2::254, a unique-local address: deny fd00:ec2::/32 or
// fc00::/7 as well where that matters.
var LinkLocal = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
}

// ErrDenied is wrapped by every refused connection.
var ErrDenied = errors.New("destination address denied by the upstream deny-list")

// Guard decides which destination addresses may be dialled.
type Guard struct {
	deny []netip.Prefix
}

// New returns a Guard that refuses the given networks. IPv4 networks also
// cover their IPv4-mapped IPv6 forms (::ffff:169.254.169.254), which reach
// the same host.
func New(deny []netip.Prefix) *Guard {
	g := &Guard{deny: make([]netip.Prefix, 0, len(deny))}
	for _, p := range deny {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// Addresses are compared unmapped, so a mapped network
			// must be too.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		g.deny = append(g.deny, p.Masked())
	}
	return g
}

// Allowed reports whether addr may be dialled. An invalid address is not.
func (g *Guard) Allowed(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	// A zone (fe80::1%eth0) makes Prefix.Contains always false, and a
	// mapped IPv4 address never matches an IPv4 prefix: compare the bare
	// address.
	addr = addr.WithZone("").Unmap()
	for _, p := range g.deny {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control function: it runs after name resolution,
// with the "ip:port" about to be connected, and refuses denied addresses.
// An address it cannot parse is refused too (fail closed).
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read %s address %q", ErrDenied, network, address)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrDenied, ap.Addr())
	}
	return nil
}

// Transport returns a clone of base (http.DefaultTransport when nil) whose
// connections are checked by the Guard. The dialer keeps the timeouts of
// http.DefaultTransport's. A proxy from the environment (HTTPS_PROXY) is
// still used: the Guard then checks the proxy's address, and the proxy must
// enforce its own egress rules.
func (g *Guard) Transport(base *http.Transport) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
	t.DialContext = d.DialContext
	// A TLS dial set on the base would bypass DialContext.
	t.DialTLSContext = nil
	return t
}

// Client returns a copy of c (a client with a zero timeout when nil) whose
// transport is guarded. It fails when c's transport is not an
// *http.Transport, whose dialer it could not reach: better to refuse to
// start than to run without the deny-list the operator asked for. Wrap
// other round trippers (tracing, metrics) around the guarded client's
// transport instead.
func (g *Guard) Client(c *http.Client) (*http.Client, error) {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	switch t := out.Transport.(type) {
	case nil:
		out.Transport = g.Transport(nil)
	case *http.Transport:
		out.Transport = g.Transport(t)
	default:
		return nil, fmt.Errorf("cannot apply the upstream deny-list to an HTTP client with transport %T", t)
	}
	return out, nil
}

// ParsePrefixes reads a comma-separated list of CIDRs (blanks ignored), as
// given to a flag. A bare address is taken as a single-host network.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.WithZone(""), a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
