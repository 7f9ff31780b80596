package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/test/resolver"
)

// answer is what authgate said: the HTTP status (200 for an allow; for gRPC
// the denied response's status) and the X-User-Id it set for the upstream.
type answer struct {
	status int
	user   string
}

func (a answer) String() string {
	if a.user == "" {
		return fmt.Sprint(a.status)
	}
	return fmt.Sprintf("%d as %s", a.status, a.user)
}

// kind is one sort of request in the mixed traffic, with the answer it must
// get. A kind has variants (different tokens or cookies) so that not every
// request is a cache hit.
type kind struct {
	name     string
	host     string
	path     string
	variants []variant
	// resolved says the request's credential goes to the session resolver,
	// so a resolver outage turns its answer into a 503.
	resolved bool
}

// variant is one request of a kind and its expected answer.
type variant struct {
	header, value string // the credential header (lower case) and value; "" for none
	want          answer
}

// probe is one request to send.
type probe struct {
	kind *kind
	v    variant
}

// pick returns the i-th request of the mix.
func pick(kinds []*kind, i uint64) probe {
	k := kinds[i%uint64(len(kinds))]
	return probe{kind: k, v: k.variants[(i/uint64(len(kinds)))%uint64(len(k.variants))]}
}

// newKinds mints the tokens and registers the sessions of the traffic mix.
// Every kind's verdict is fixed by the policy in policyYAML.
func newKinds(t *testing.T, s *stack, pool int) []*kind {
	t.Helper()
	mint := func(tok devissuer.Token) string {
		t.Helper()
		v, err := s.iss.Mint(tok)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	bearer := func(tok string) (string, string) { return "authorization", "Bearer " + tok }
	unauthorized := answer{status: http.StatusUnauthorized}

	var (
		valid, badSig, expired, wrongAud, cookies, unknownCookies, foreign []variant
	)
	for i := range pool {
		user := fmt.Sprintf("token-user-%d", i)
		tok := mint(devissuer.Token{Subject: user, Audience: []string{"shop"}})
		h, v := bearer(tok)
		valid = append(valid, variant{header: h, value: v, want: answer{status: http.StatusOK, user: user}})
		h, v = bearer(flipSignature(tok))
		badSig = append(badSig, variant{header: h, value: v, want: unauthorized})
		h, v = bearer(mint(devissuer.Token{Subject: user, Audience: []string{"shop"}, TTL: -time.Hour}))
		expired = append(expired, variant{header: h, value: v, want: unauthorized})
		h, v = bearer(mint(devissuer.Token{Subject: user, Audience: []string{"another-app"}}))
		wrongAud = append(wrongAud, variant{header: h, value: v, want: unauthorized})
		// A valid token for a host no policy claims is still denied.
		h, v = bearer(tok)
		foreign = append(foreign, variant{header: h, value: v, want: answer{status: http.StatusForbidden}})

		cookieUser := fmt.Sprintf("cookie-user-%d", i)
		value := fmt.Sprintf("c-%d", i)
		s.resolver.AddSession(value, resolver.Session{UserID: cookieUser})
		cookies = append(cookies, variant{header: "cookie", value: "theme=dark; session=" + value,
			want: answer{status: http.StatusOK, user: cookieUser}})
		unknownCookies = append(unknownCookies, variant{header: "cookie", value: fmt.Sprintf("session=unknown-%d", i), want: unauthorized})
	}
	return []*kind{
		{name: "token valid", host: shopHost, path: apiPath, variants: valid},
		{name: "token bad signature", host: shopHost, path: apiPath, variants: badSig},
		{name: "token expired", host: shopHost, path: apiPath, variants: expired},
		{name: "token wrong audience", host: shopHost, path: apiPath, variants: wrongAud},
		{name: "cookie valid", host: shopHost, path: apiPath, variants: cookies, resolved: true},
		{name: "cookie unknown", host: shopHost, path: apiPath, variants: unknownCookies, resolved: true},
		{name: "no credential", host: shopHost, path: apiPath, variants: []variant{{want: unauthorized}}},
		{name: "unknown host", host: unknownHost, path: apiPath, variants: foreign},
		{name: "public path", host: shopHost, path: publicPath, variants: []variant{{want: answer{status: http.StatusOK}}}},
	}
}

// flipSignature changes one character inside the signature: the token stays
// well-formed and only the signature check can reject it.
func flipSignature(tok string) string {
	b := []byte(tok)
	j := len(b) - 10
	if b[j] == 'A' {
		b[j] = 'B'
	} else {
		b[j] = 'A'
	}
	return string(b)
}

// transports are the two ways a proxy asks authgate.
var transports = []string{"grpc", "http"}

// client sends probes over both transports.
type client struct {
	grpc  *grpc.ClientConn
	authz authv3.AuthorizationClient
	http  *http.Client
	url   string
}

func newClient(t *testing.T, s *stack, conns int) *client {
	t.Helper()
	cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := &client{
		grpc: cc, authz: authv3.NewAuthorizationClient(cc),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		}},
		url: "http://" + s.httpAddr + "/auth",
	}
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	_ = c.grpc.Close()
	c.http.CloseIdleConnections()
}

// send asks authgate over transport and returns its answer; an error is a
// transport failure (no answer at all).
func (c *client) send(ctx context.Context, transport string, p probe) (answer, error) {
	if transport == "grpc" {
		return c.sendGRPC(ctx, p)
	}
	return c.sendHTTP(ctx, p)
}

func (c *client) sendGRPC(ctx context.Context, p probe) (answer, error) {
	h := map[string]string{
		":authority": p.kind.host, ":path": p.kind.path, ":method": http.MethodGet, ":scheme": "https",
		"user-agent": "authgate-soak", "accept": "application/json",
	}
	if p.v.header != "" {
		h[p.v.header] = p.v.value
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: http.MethodGet, Host: p.kind.host, Path: p.kind.path, Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
		}},
	}}
	res, err := c.authz.Check(ctx, req)
	if err != nil {
		return answer{}, err
	}
	if codes.Code(res.GetStatus().GetCode()) == codes.OK {
		ok := res.GetOkResponse()
		if ok == nil {
			return answer{}, errors.New("OK without an OkHttpResponse")
		}
		a := answer{status: http.StatusOK}
		for _, hv := range ok.GetHeaders() {
			if strings.EqualFold(hv.GetHeader().GetKey(), "x-user-id") {
				a.user = hv.GetHeader().GetValue()
			}
		}
		return a, nil
	}
	st := int(res.GetDeniedResponse().GetStatus().GetCode())
	if st == 0 {
		return answer{}, fmt.Errorf("gRPC %v without a denied status", codes.Code(res.GetStatus().GetCode()))
	}
	return answer{status: st}, nil
}

func (c *client) sendHTTP(ctx context.Context, p probe) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("X-Original-URL", "https://"+p.kind.host+p.kind.path)
	req.Header.Set("X-Original-Method", http.MethodGet)
	req.Header.Set("Accept", "application/json")
	if p.v.header != "" {
		req.Header.Set(p.v.header, p.v.value)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	a := answer{status: res.StatusCode}
	if res.StatusCode == http.StatusOK {
		a.user = res.Header.Get("X-User-Id")
	}
	return a, nil
}
