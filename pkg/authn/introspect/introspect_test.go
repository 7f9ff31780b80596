package introspect_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/introspect"
	"github.com/authgate/authgate/pkg/authn/remote"
	"github.com/authgate/authgate/pkg/authn/remote/remotetest"
	"github.com/authgate/authgate/pkg/cache"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/test/resolver"
)

const (
	testTTL         = 30 * time.Second
	testNegativeTTL = 2 * time.Second
)

// Client credentials with characters that RFC 6749 section 2.3.1's
// form-encoding changes ('+', '%', ':', ' ', '/'): the double accepts them
// only when authgate encodes them.
const (
	clientID     = "authgate client+1"
	clientSecret = "s3cr+t%2F:pa ss/word"
)

// harness is one Provider with its own cache, fake clock and transport.
type harness struct {
	clock *clocktesting.FakeClock
	p     *introspect.Provider
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := remote.NoRedirectClient()
	client.Transport = tr
	// The fake clock starts at the real time because the double decides
	// activity by the real clock.
	h := &harness{clock: clocktesting.NewFakeClock(time.Now())}
	checker, err := remote.NewChecker(1000, nil, h.clock.Now)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	keyer, err := cache.NewKeyer(nil)
	if err != nil {
		t.Fatalf("NewKeyer: %v", err)
	}
	h.p, err = introspect.NewProvider(introspect.Config{HTTPClient: client, Checker: checker, Keyer: keyer})
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return h
}

func (h *harness) authenticator(t *testing.T, cfg policy.Introspection) authn.Authenticator {
	t.Helper()
	a, err := h.p.New("introspection", &cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// Fixtures every double holds.
var tokenExp = time.Now().Add(time.Hour).Truncate(time.Second)

// newEndpoint starts an introspection double with tokens t-alice (active),
// t-expired (exp passed) and t-revoked.
func newEndpoint(t *testing.T) *resolver.Introspection {
	t.Helper()
	in := resolver.NewIntrospection(resolver.IntrospectionConfig{ClientID: clientID, ClientSecret: clientSecret})
	t.Cleanup(in.Close)
	in.AddToken("t-alice", map[string]any{"sub": "alice", "scope": "read write", "client_id": "web", "exp": tokenExp})
	in.AddToken("t-expired", map[string]any{"sub": "alice", "exp": time.Now().Add(-time.Minute)})
	in.AddToken("t-revoked", map[string]any{"sub": "alice"})
	in.Revoke("t-revoked")
	return in
}

func endpointPolicy(in *resolver.Introspection) policy.Introspection {
	return policy.Introspection{
		URL: in.IntrospectURL(), ClientID: clientID, ClientSecret: policy.Secret(clientSecret),
		Timeout: 2 * time.Second, CacheTTL: testTTL, NegativeCacheTTL: testNegativeTTL,
	}
}

func req(kv ...string) *request.Request {
	h := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return &request.Request{Transport: "http", Host: "api.example.com", Method: http.MethodGet, Path: "/", Headers: h}
}

func bearer(token string) *request.Request { return req("authorization", "Bearer "+token) }

// The outcome classes and their check are shared with the other
// resolver-backed authenticator's tests.
type outcome = remotetest.Outcome

const (
	accepted = remotetest.Accepted
	rejected = remotetest.Rejected
	failed   = remotetest.Failed
)

var wantOutcome = remotetest.Want

func TestIntrospection(t *testing.T) {
	tests := map[string]struct {
		r         *request.Request
		want      outcome
		wantCalls int
	}{
		"active token":                    {r: bearer("t-alice"), want: accepted, wantCalls: 1},
		"unknown token":                   {r: bearer("t-nobody"), want: rejected, wantCalls: 1},
		"revoked token":                   {r: bearer("t-revoked"), want: rejected, wantCalls: 1},
		"token the endpoint says expired": {r: bearer("t-expired"), want: rejected, wantCalls: 1},
		"no token":                        {r: req("cookie", "session=x"), want: rejected, wantCalls: 0},
		"another auth scheme":             {r: req("authorization", "Basic dTpw"), want: rejected, wantCalls: 0},
		"token over the length limit": {
			r: bearer(strings.Repeat("t", introspect.MaxTokenLength+1)), want: rejected, wantCalls: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newEndpoint(t)
			a := newHarness(t).authenticator(t, endpointPolicy(in))
			id, err := a.Authenticate(t.Context(), tc.r)
			wantOutcome(t, id, err, tc.want)
			if got := in.Calls(); got != tc.wantCalls {
				t.Errorf("endpoint calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.want != accepted {
				return
			}
			wantClaims := map[string]any{
				"active": true, "sub": "alice", "scope": "read write", "client_id": "web", "exp": float64(tokenExp.Unix()),
			}
			if id.Subject != "alice" || !reflect.DeepEqual(id.Claims.Map(), wantClaims) {
				t.Errorf("identity = %q %#v\nwant alice %#v", id.Subject, id.Claims.Map(), wantClaims)
			}
			if !id.ExpiresAt.Equal(tokenExp) {
				t.Errorf("ExpiresAt = %v, want %v", id.ExpiresAt, tokenExp)
			}
		})
	}
}

// TestIntrospectionRequest: RFC 7662 section 2.1, a form POST with the
// token, and the client authenticated with HTTP Basic over form-encoded
// credentials (RFC 6749 section 2.3.1), never in the body.
func TestIntrospectionRequest(t *testing.T) {
	in := newEndpoint(t)
	a := newHarness(t).authenticator(t, endpointPolicy(in))
	id, err := a.Authenticate(t.Context(), bearer("t-alice"))
	wantOutcome(t, id, err, accepted)

	last := in.LastRequest()
	if last == nil {
		t.Fatal("the endpoint was not called")
	}
	if last.Method != http.MethodPost || last.Path != resolver.IntrospectPath {
		t.Errorf("request = %s %s, want POST %s", last.Method, last.Path, resolver.IntrospectPath)
	}
	if got := last.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	wantForm := url.Values{"token": {"t-alice"}, "token_type_hint": {"access_token"}}
	if !reflect.DeepEqual(last.Form, wantForm) {
		t.Errorf("form = %v, want %v", last.Form, wantForm)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("authgate+client%2B1:s3cr%2Bt%252F%3Apa+ss%2Fword"))
	if got := last.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("Authorization = %q, want %q", got, wantAuth)
	}
	if last.RawQuery != "" {
		t.Errorf("query = %q; the token belongs in the body", last.RawQuery)
	}
}

// TestClientCredentials: a refused client is authgate's configuration
// failing, a 503, never a verdict on the caller's token.
func TestClientCredentials(t *testing.T) {
	tests := map[string]struct {
		id, secret string
		want       outcome
	}{
		"right credentials": {id: clientID, secret: clientSecret, want: accepted},
		"wrong secret":      {id: clientID, secret: "wrong", want: failed},
		"wrong client id":   {id: "someone-else", secret: clientSecret, want: failed},
		"no credentials":    {want: failed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newEndpoint(t)
			cfg := endpointPolicy(in)
			cfg.ClientID, cfg.ClientSecret = tc.id, policy.Secret(tc.secret)
			a := newHarness(t).authenticator(t, cfg)
			id, err := a.Authenticate(t.Context(), bearer("t-alice"))
			wantOutcome(t, id, err, tc.want)
			if tc.want == failed {
				if got := remote.Classify(err); got != "status" {
					t.Errorf("error class = %q, want status", got)
				}
				if strings.Contains(err.Error(), "t-alice") || (tc.secret != "" && strings.Contains(err.Error(), tc.secret)) {
					t.Errorf("the error reveals a credential: %v", err)
				}
			}
		})
	}
}

func TestTokenSources(t *testing.T) {
	tests := map[string]struct {
		from      []policy.Source
		r         *request.Request
		want      outcome
		wantToken string
	}{
		"default: bearer in Authorization": {r: bearer("t-alice"), want: accepted, wantToken: "t-alice"},
		"custom header": {
			from: []policy.Source{{Kind: policy.SourceHeader, Name: "x-api-token"}},
			r:    req("x-api-token", "t-alice", "authorization", "Bearer t-nobody"), want: accepted, wantToken: "t-alice",
		},
		"custom header with prefix": {
			from: []policy.Source{{Kind: policy.SourceHeader, Name: "x-api-token", Prefix: "Token "}},
			r:    req("x-api-token", "token t-alice"), want: accepted, wantToken: "t-alice",
		},
		"custom header absent, Authorization not configured": {
			from: []policy.Source{{Kind: policy.SourceHeader, Name: "x-api-token"}},
			r:    bearer("t-alice"), want: rejected,
		},
		"cookie": {
			from: []policy.Source{{Kind: policy.SourceCookie, Name: "at"}},
			r:    req("cookie", "theme=dark; at=t-alice"), want: accepted, wantToken: "t-alice",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newEndpoint(t)
			cfg := endpointPolicy(in)
			cfg.From = tc.from
			a := newHarness(t).authenticator(t, cfg)
			if got := a.Present(tc.r); got != (tc.wantToken != "") {
				t.Errorf("Present = %v", got)
			}
			id, err := a.Authenticate(t.Context(), tc.r)
			wantOutcome(t, id, err, tc.want)
			if tc.wantToken == "" {
				if in.Calls() != 0 {
					t.Errorf("endpoint called %d times without a token", in.Calls())
				}
				return
			}
			if got := in.LastRequest().Form.Get("token"); got != tc.wantToken {
				t.Errorf("token sent = %q, want %q", got, tc.wantToken)
			}
		})
	}
}

// TestIntrospectionCache: one call per token per cacheTTL (negative
// answers per negativeCacheTTL); tokens never share answers.
func TestIntrospectionCache(t *testing.T) {
	tests := map[string]struct {
		first, second string
		step          time.Duration
		wantSecond    outcome
		wantCalls     int
	}{
		"same token within cacheTTL":             {first: "t-alice", second: "t-alice", step: testTTL - time.Second, wantSecond: accepted, wantCalls: 1},
		"same token at cacheTTL":                 {first: "t-alice", second: "t-alice", step: testTTL, wantSecond: accepted, wantCalls: 2},
		"another token":                          {first: "t-alice", second: "t-bob", wantSecond: accepted, wantCalls: 2},
		"an unknown token after a known one":     {first: "t-alice", second: "t-alice2", wantSecond: rejected, wantCalls: 2},
		"inactive token within negativeCacheTTL": {first: "t-nobody", second: "t-nobody", step: testNegativeTTL - time.Second, wantSecond: rejected, wantCalls: 1},
		"inactive token at negativeCacheTTL":     {first: "t-nobody", second: "t-nobody", step: testNegativeTTL, wantSecond: rejected, wantCalls: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newEndpoint(t)
			in.AddToken("t-bob", map[string]any{"sub": "bob"})
			h := newHarness(t)
			a := h.authenticator(t, endpointPolicy(in))
			_, _ = a.Authenticate(t.Context(), bearer(tc.first))
			h.clock.Step(tc.step)
			id, err := a.Authenticate(t.Context(), bearer(tc.second))
			wantOutcome(t, id, err, tc.wantSecond)
			if got := in.Calls(); got != tc.wantCalls {
				t.Errorf("endpoint calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.wantSecond == accepted && tc.second == "t-bob" && id.Subject != "bob" {
				t.Errorf("Subject = %q, want bob", id.Subject)
			}
		})
	}
}

// TestCacheScopeIsPerClient: the endpoint may answer differently per client
// (RFC 7662 section 2.2), so one client's answer is never another's.
func TestCacheScopeIsPerClient(t *testing.T) {
	in := newEndpoint(t)
	h := newHarness(t)
	good := h.authenticator(t, endpointPolicy(in))
	other := endpointPolicy(in)
	other.ClientID = "other-client"
	refused := h.authenticator(t, other)

	id, err := good.Authenticate(t.Context(), bearer("t-alice"))
	wantOutcome(t, id, err, accepted)
	id, err = refused.Authenticate(t.Context(), bearer("t-alice"))
	wantOutcome(t, id, err, failed)
	if got := in.Calls(); got != 2 {
		t.Fatalf("endpoint calls = %d, want 2", got)
	}
}

// TestExpInThePast: an endpoint whose clock lags ours answers "active" for
// a token whose exp we have passed; authgate goes by exp and does not
// cache the answer.
func TestExpInThePast(t *testing.T) {
	in := newEndpoint(t)
	h := newHarness(t)
	a := h.authenticator(t, endpointPolicy(in))
	h.clock.SetTime(tokenExp.Add(time.Second))
	for i := 1; i <= 2; i++ {
		id, err := a.Authenticate(t.Context(), bearer("t-alice"))
		wantOutcome(t, id, err, rejected)
		if !errors.Is(err, authn.ErrExpired) {
			t.Fatalf("err = %v, want ErrExpired", err)
		}
		if got := in.Calls(); got != i {
			t.Fatalf("endpoint calls = %d, want %d", got, i)
		}
	}
}

// TestAnswers: answers the double never gives but an endpoint may.
func TestAnswers(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		want   outcome
	}{
		"active with sub":      {status: 200, body: `{"active":true,"sub":"alice"}`, want: accepted},
		"inactive with extras": {status: 200, body: `{"active":false,"sub":"alice"}`, want: rejected},
		"no active":            {status: 200, body: `{"sub":"alice"}`, want: failed},
		"active as a string":   {status: 200, body: `{"active":"true","sub":"alice"}`, want: failed},
		"not an object":        {status: 200, body: `[true]`, want: failed},
		"400":                  {status: 400, body: `{"error":"invalid_request"}`, want: failed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			a := newHarness(t).authenticator(t, policy.Introspection{URL: srv.URL, ClientID: "c", ClientSecret: "s", Timeout: time.Second, CacheTTL: testTTL})
			id, err := a.Authenticate(t.Context(), bearer("t"))
			wantOutcome(t, id, err, tc.want)
		})
	}
}

// TestFaults: whatever goes wrong at the endpoint is a 503, never a 401 and
// never an identity, and the next request after recovery succeeds.
func TestFaults(t *testing.T) {
	tests := map[string]struct {
		fault     resolver.Fault
		wantClass string
	}{
		"500":                 {fault: resolver.Status500, wantClass: "status"},
		"slow beyond timeout": {fault: resolver.Slow, wantClass: "timeout"},
		"connection refused":  {fault: resolver.Refuse, wantClass: "refused"},
		"connection reset":    {fault: resolver.Reset, wantClass: "other"},
		"garbage body":        {fault: resolver.Garbage, wantClass: "malformed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := newEndpoint(t)
			cfg := endpointPolicy(in)
			cfg.Timeout = 200 * time.Millisecond
			a := newHarness(t).authenticator(t, cfg)

			in.SetFault(tc.fault)
			id, err := a.Authenticate(t.Context(), bearer("t-alice"))
			wantOutcome(t, id, err, failed)
			if got := remote.Classify(err); got != tc.wantClass {
				t.Errorf("error class = %q, want %q (%v)", got, tc.wantClass, err)
			}
			if err := in.Restore(); err != nil {
				t.Fatal(err)
			}
			id, err = a.Authenticate(t.Context(), bearer("t-alice"))
			wantOutcome(t, id, err, accepted)
		})
	}
}

func TestEndpointNeverThere(t *testing.T) {
	u, err := resolver.RefusedURL()
	if err != nil {
		t.Fatal(err)
	}
	a := newHarness(t).authenticator(t, policy.Introspection{URL: u + resolver.IntrospectPath, ClientID: "c", ClientSecret: "s", Timeout: time.Second})
	id, err := a.Authenticate(t.Context(), bearer("t-alice"))
	wantOutcome(t, id, err, failed)
}
