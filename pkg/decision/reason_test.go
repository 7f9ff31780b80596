package decision

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/store"
)

func TestReasonHeader(t *testing.T) {
	tests := map[string]struct {
		mode       string // the policy's spec.response.denyReason
		serverOmit bool
		host, path string
		authz      string
		method     string
		dryRun     bool
		want       Reason
		wantSent   bool // X-Authgate-Reason present, and the code in the body
	}{
		"no credential, defaults":         {path: "/api/x", want: ReasonNoCredential, wantSent: true},
		"invalid token, defaults":         {path: "/api/x", authz: "bearer bad", want: ReasonInvalidToken, wantSent: true},
		"expired, defaults":               {path: "/api/x", authz: "bearer expired", want: ReasonExpired, wantSent: true},
		"no rule, defaults":               {path: "/nowhere", want: ReasonNoRule, wantSent: true},
		"condition failed, defaults":      {path: "/admin", authz: "bearer alice", want: ReasonConditionFailed, wantSent: true},
		"dependency error, defaults":      {path: "/api/x", authz: "bearer jwksdown", want: ReasonDependencyError, wantSent: true},
		"policy omits":                    {mode: policy.DenyReasonOmit, path: "/api/x", authz: "bearer bad", want: ReasonInvalidToken},
		"server omits":                    {serverOmit: true, path: "/api/x", want: ReasonNoCredential},
		"policy sends over server omit":   {mode: policy.DenyReasonSend, serverOmit: true, path: "/api/x", want: ReasonNoCredential, wantSent: true},
		"policy omits over server send":   {mode: policy.DenyReasonOmit, path: "/nowhere", want: ReasonNoRule},
		"unknown host, server default":    {host: "other.example.com", path: "/", want: ReasonUnknownHost, wantSent: true},
		"unknown host, server omits":      {host: "other.example.com", path: "/", serverOmit: true, want: ReasonUnknownHost},
		"unknown host ignores policy":     {mode: policy.DenyReasonOmit, host: "other.example.com", path: "/", want: ReasonUnknownHost, wantSent: true},
		"allowed carries none":            {path: "/api/x", authz: "bearer alice", want: ReasonAllowed},
		"dry run allows, carries none":    {dryRun: true, path: "/api/x", want: ReasonDryRunDeny},
		"sign-in redirect keeps the code": {path: "/api/x", method: http.MethodGet, want: ReasonNoCredential, wantSent: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := shop(tc.dryRun)
			p.Response.DenyReason = tc.mode
			if name == "sign-in redirect keeps the code" {
				p.SignInURL = "https://auth.example.com/login?next={url}"
			}
			host := tc.host
			if host == "" {
				host = "shop.example.com"
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := req(host, method, tc.path, tc.authz)
			if tc.method == http.MethodGet {
				r.Headers["accept"] = "text/html"
				r.RedirectOK = true
			}
			d := Decide(context.Background(), r, snapshot(t, p), Options{Now: func() time.Time { return now }, OmitReason: tc.serverOmit})
			if d.Reason != tc.want {
				t.Fatalf("reason %s, want %s (%s)", d.Reason, tc.want, d.Detail)
			}
			got := headerValueOf(d.DenyHeaders, ReasonHeader)
			switch {
			case tc.wantSent && got != string(tc.want):
				t.Errorf("%s = %q, want %q (headers %v)", ReasonHeader, got, tc.want, d.DenyHeaders)
			case !tc.wantSent && got != "":
				t.Errorf("%s = %q, want none", ReasonHeader, got)
			}
			if d.Allow {
				return
			}
			if inBody := strings.Contains(d.Body(), "("+string(tc.want)+")"); inBody != tc.wantSent {
				t.Errorf("body %q: reason shown %v, want %v", d.Body(), inBody, tc.wantSent)
			}
		})
	}
}

func TestEngineBadRequestAndPanicFollowServerDefault(t *testing.T) {
	for _, omit := range []bool{false, true} {
		e := &Engine{Store: &store.Store{}, Options: Options{OmitReason: omit}}
		d := e.BadRequest("host: bad port")
		if got := headerValueOf(d.DenyHeaders, ReasonHeader); (got == string(ReasonBadRequest)) == omit {
			t.Errorf("omit=%v: bad request %s = %q", omit, ReasonHeader, got)
		}
		st := &store.Store{}
		st.Apply(store.Build([]*policy.Policy{shop(false)}, panicFactory{}))
		e.Store = st
		d = e.Check(context.Background(), req("shop.example.com", http.MethodGet, "/api/x", "bearer x"))
		if d.Reason != ReasonInternalError {
			t.Fatalf("reason %s, want %s", d.Reason, ReasonInternalError)
		}
		if got := headerValueOf(d.DenyHeaders, ReasonHeader); (got == string(ReasonInternalError)) == omit {
			t.Errorf("omit=%v: panic %s = %q", omit, ReasonHeader, got)
		}
	}
}

// echoAuth fails the way careless libraries do: its errors quote the
// credential and the URL it called, query and all.
type echoAuth struct{}

func (echoAuth) Name() string                    { return "echo" }
func (echoAuth) Present(r *request.Request) bool { return r.Headers["authorization"] != "" }
func (echoAuth) Authenticate(_ context.Context, r *request.Request) (*authn.Identity, error) {
	tok := strings.TrimPrefix(r.Headers["authorization"], "Bearer ")
	if strings.HasPrefix(tok, "dep-") {
		return nil, fmt.Errorf(`Get "http://resolver.local/resolve?session=%s": connection refused`, tok)
	}
	return nil, fmt.Errorf("%w: cannot parse token %q", authn.ErrInvalid, tok)
}

type echoFactory struct{}

func (echoFactory) New(*policy.Authenticator) (authn.Authenticator, error) { return echoAuth{}, nil }

func TestDetailIsRedacted(t *testing.T) {
	tests := map[string]struct {
		authz, query, cookie string
		secret               string
		public               bool
	}{
		"invalid token echoed":             {authz: "Bearer tok-9b1e0c7d55aa", secret: "tok-9b1e0c7d55aa"},
		"rejected token on a public rule":  {authz: "Bearer tok-3c2d1e0f9a8b", secret: "tok-3c2d1e0f9a8b", public: true},
		"dependency error with the query":  {authz: "Bearer dep-5e6f7a8b9c0d", secret: "dep-5e6f7a8b9c0d"},
		"request query value in the error": {authz: "Bearer q-0a1b2c3d4e5f", query: "access_token=q-0a1b2c3d4e5f", secret: "q-0a1b2c3d4e5f"},
		"cookie value echoed as the token": {authz: "Bearer c-77aa88bb99cc", cookie: "session=c-77aa88bb99cc", secret: "c-77aa88bb99cc"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := shop(false)
			path := "/api/x"
			if tc.public {
				path = "/public/x"
			}
			snap := store.Build([]*policy.Policy{p}, echoFactory{})
			r := req("shop.example.com", http.MethodGet, path, tc.authz)
			r.RawQuery = tc.query
			if tc.cookie != "" {
				r.Headers["cookie"] = tc.cookie
			}
			d := Decide(context.Background(), r, snap, Options{})
			if d.Detail == "" {
				t.Fatalf("no detail to check (%s)", d.Reason)
			}
			if strings.Contains(d.Detail, tc.secret) {
				t.Errorf("detail %q contains the credential", d.Detail)
			}
		})
	}
}
