package envoy

import (
	cryptorand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// hopByHop are the request headers Envoy's HTTP connection manager deletes
// before any HTTP filter runs, so ext_authz never sees them and the upstream
// never receives them.
// Envoy: source/common/http/conn_manager_utility.cc mutateRequestHeaders:
// removeConnection/removeUpgrade (unless the request is an upgrade), then
// "Clean proxy headers": removeEnvoyInternalRequest, removeKeepAlive,
// removeProxyConnection, removeTransferEncoding.
var hopByHop = map[string]bool{
	"connection":        true,
	"upgrade":           true,
	"x-envoy-internal":  true,
	"keep-alive":        true,
	"proxy-connection":  true,
	"transfer-encoding": true,
}

// hopByHopResponse are the upstream response headers not copied back: the Go
// server frames the downstream connection itself, as Envoy's codec does.
var hopByHopResponse = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}

// BuildCheckRequest builds the CheckRequest Envoy's ext_authz HTTP filter
// sends for r when with_request_body is unset. ext becomes
// attributes.context_extensions (a copy).
//
// r should already carry what the connection manager adds before filters run
// (x-request-id, x-forwarded-proto); ServeHTTP does that first. Hop-by-hop
// headers are left out here too, so the result matches Envoy even when r comes
// straight from a client.
func BuildCheckRequest(r *http.Request, ext map[string]string) *authv3.CheckRequest {
	httpReq := &authv3.AttributeContext_HttpRequest{
		// Envoy: check_request_utils.cc setHttpRequest: id is the stream id,
		// which the connection manager draws from its random generator.
		Id:     strconv.FormatUint(rand.Uint64(), 10),
		Method: r.Method,
		// Envoy: setHttpRequest sets path from the :path header, which is the
		// request-target as received, query string included.
		Path: requestTarget(r),
		// Envoy: setHttpRequest sets host from headers.Host(), i.e. :authority;
		// the HTTP/1 codec maps the Host header onto :authority
		// (header_map_impl.cc "map a legacy host header to :authority").
		Host:   r.Host,
		Scheme: scheme(r),
		// Envoy: setHttpRequest sets protocol with
		// Http::Utility::getProtocolString, e.g. "HTTP/1.1".
		Protocol: protocolString(r),
		// size is stream_info.bytesReceived(), which is 0 when the check runs
		// from decodeHeaders (no body buffering), so it is left unset.
		Headers: checkHeaders(r),
	}

	attrs := &authv3.AttributeContext{
		// Envoy: setAttrContextPeer: source is the downstream remote address,
		// destination the local address, both as socket addresses; the
		// source service is x-envoy-downstream-service-cluster when present.
		Source:      &authv3.AttributeContext_Peer{Address: socketAddress(r.RemoteAddr)},
		Destination: &authv3.AttributeContext_Peer{Address: localAddress(r)},
		Request: &authv3.AttributeContext_Request{
			// Envoy: setRequestTime: the time the proxy received the first
			// byte; "now" is within a millisecond of that here.
			Time: timestamppb.Now(),
			Http: httpReq,
		},
	}
	if svc := r.Header.Get("X-Envoy-Downstream-Service-Cluster"); svc != "" {
		attrs.Source.Service = svc
	}
	if len(ext) > 0 {
		// Envoy: createHttpCheck copies the merged per-route
		// check_settings.context_extensions into the request.
		attrs.ContextExtensions = make(map[string]string, len(ext))
		for k, v := range ext {
			attrs.ContextExtensions[k] = v
		}
	}
	return &authv3.CheckRequest{Attributes: attrs}
}

// checkHeaders is attributes.request.http.headers: every header of Envoy's
// request header map under its lower-case name, pseudo-headers included.
//
// Envoy: check_request_utils.cc setHttpRequest iterates the header map and,
// for a name seen twice, does `(*mutable_headers)[key].append(",")` ("Merge
// duplicate headers"). That includes cookie: with an HTTP/1 downstream each
// Cookie line stays its own entry, because cookie is not one of the default
// inline headers whose values the codec joins (header_map.h
// INLINE_REQ_HEADERS); the "; " cookie delimiter of header_map_impl.cc
// delimiterByHeader is only used when a value is appended onto an existing
// cookie entry (an inline cookie, or appendCopy), and HTTP/2's
// reconstituteCrumbledCookies only runs for HTTP/2 streams. So two Cookie
// lines arrive here as "a=1,b=2".
func checkHeaders(r *http.Request) map[string]string {
	out := make(map[string]string, len(r.Header)+4)
	add := func(k, v string) {
		if old, ok := out[k]; ok {
			out[k] = old + "," + v
			return
		}
		out[k] = v
	}
	// Envoy's request header map holds the pseudo-headers (the HTTP/1 codec
	// synthesises them), and setHttpRequest copies every entry.
	if r.Host != "" {
		add(":authority", r.Host)
	}
	add(":path", requestTarget(r))
	add(":method", r.Method)
	add(":scheme", scheme(r))

	upgrade := isUpgrade(r.Header)
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		switch {
		case lk == "host":
			// Already :authority; Envoy never has a separate host entry.
			continue
		case lk == "x-envoy-auth-partial-body":
			// Envoy: setHttpRequest skips a client's x-envoy-auth-partial-body
			// "which could interfere with internal use".
			continue
		case hopByHop[lk] && !(upgrade && (lk == "connection" || lk == "upgrade")):
			continue
		}
		for _, v := range vs {
			add(lk, v)
		}
	}
	return out
}

// prepareDownstream applies what Envoy's HTTP connection manager does to the
// request headers before the filter chain (and so before ext_authz) runs, and
// returns the resulting header map; r.Header is not modified.
func prepareDownstream(r *http.Request) http.Header {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	upgrade := isUpgrade(h)
	for k := range h {
		lk := strings.ToLower(k)
		if hopByHop[lk] && !(upgrade && (lk == "connection" || lk == "upgrade")) {
			h.Del(k)
		}
	}
	// Envoy: the HTTP/1 codec adds headers through HeaderMapImpl::insertByKey,
	// which joins a repeated inline header onto the first with ","; other
	// repeated headers stay separate entries and are sent upstream as such.
	for k, vs := range h {
		if len(vs) > 1 && inlineRequestHeaders[strings.ToLower(k)] {
			h[k] = []string{joinValues(vs, ",")}
		}
	}
	// Envoy: mutateRequestHeaders: with use_remote_address false (the
	// default) x-forwarded-for is left alone, and x-forwarded-proto is set
	// from the connection only when the client did not send one.
	if h.Get("X-Forwarded-Proto") == "" {
		h.Set("X-Forwarded-Proto", scheme(r))
	}
	// Envoy: generate_request_id defaults to true, meaning "generate a fresh
	// x-request-id if the request does not have one"
	// (conn_manager_config.h generateRequestId); an existing one is only reset
	// on edge entry, and with use_remote_address false (the default) no
	// request is an edge request.
	if h.Get("X-Request-Id") == "" {
		h.Set("X-Request-Id", newUUID())
	}
	return h
}

// isUpgrade reports whether the headers ask for a protocol upgrade; Envoy
// keeps Connection and Upgrade for those (Http::Utility::isUpgrade).
func isUpgrade(h http.Header) bool {
	if h.Get("Upgrade") == "" {
		return false
	}
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// requestTarget is :path. An absolute-form target ("GET http://h/p") is
// turned into origin form, as Envoy's HTTP/1 codec does with absolute URLs.
func requestTarget(r *http.Request) string {
	if r.RequestURI != "" && !r.URL.IsAbs() {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// protocolString mirrors Envoy's Http::Utility::getProtocolString.
func protocolString(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "HTTP/1.0"
	case r.ProtoMajor == 2:
		return "HTTP/2"
	case r.ProtoMajor == 3:
		return "HTTP/3"
	default:
		return "HTTP/1.1"
	}
}

// socketAddress converts "ip:port" the way Envoy's
// Network::Utility::addressToProtobufAddress does for an IP address. It
// returns nil when addr is not an IP socket address.
func socketAddress(addr string) *corev3.Address {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       ap.Addr().Unmap().String(),
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(ap.Port())},
	}}}
}

func localAddress(r *http.Request) *corev3.Address {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return socketAddress(a.String())
	}
	return nil
}

// newUUID returns a random (version 4) UUID, the format of Envoy's default
// request ID extension.
func newUUID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
