package jwt_test

import (
	"testing"

	"github.com/authgate/authgate/pkg/authn/jwt"
	"github.com/authgate/authgate/pkg/devissuer"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

func TestPresent(t *testing.T) {
	cookieFirst := []policy.Source{
		{Kind: policy.SourceCookie, Name: "access_token"},
		{Kind: policy.SourceQuery, Name: "token"},
	}
	tests := map[string]struct {
		from     []policy.Source // nil: the default, Authorization: Bearer
		headers  map[string]string
		rawQuery string
		want     bool
	}{
		"bearer header":                {headers: map[string]string{"authorization": "Bearer x.y.z"}, want: true},
		"lower-case scheme":            {headers: map[string]string{"authorization": "bearer x.y.z"}, want: true},
		"upper-case scheme":            {headers: map[string]string{"authorization": "BEARER x.y.z"}, want: true},
		"other scheme":                 {headers: map[string]string{"authorization": "Basic dTpw"}, want: false},
		"scheme only":                  {headers: map[string]string{"authorization": "Bearer "}, want: false},
		"scheme and blanks":            {headers: map[string]string{"authorization": "Bearer   "}, want: false},
		"empty header":                 {headers: map[string]string{"authorization": ""}, want: false},
		"no header":                    {headers: map[string]string{}, want: false},
		"default ignores cookies":      {headers: map[string]string{"cookie": "access_token=x.y.z"}, want: false},
		"cookie source":                {from: cookieFirst, headers: map[string]string{"cookie": "a=b; access_token=x.y.z"}, want: true},
		"empty cookie":                 {from: cookieFirst, headers: map[string]string{"cookie": "access_token="}, want: false},
		"query source":                 {from: cookieFirst, rawQuery: "token=x.y.z", want: true},
		"empty query value":            {from: cookieFirst, rawQuery: "token=", want: false},
		"empty cookie, query present":  {from: cookieFirst, headers: map[string]string{"cookie": "access_token="}, rawQuery: "token=x.y.z", want: true},
		"configured sources only":      {from: cookieFirst, headers: map[string]string{"authorization": "Bearer x.y.z"}, want: false},
		"query name must match":        {from: cookieFirst, rawQuery: "access_token=x.y.z", want: false},
		"custom header without prefix": {from: []policy.Source{{Kind: policy.SourceHeader, Name: "x-jwt"}}, headers: map[string]string{"x-jwt": "x.y.z"}, want: true},
	}
	p := newProvider(t, jwt.Config{})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newAuthenticator(t, p, &policy.JWT{
				Issuer: "https://idp.example", Audiences: []string{"a"}, From: tc.from,
			})
			r := &request.Request{Headers: tc.headers, RawQuery: tc.rawQuery}
			if got := a.Present(r); got != tc.want {
				t.Errorf("Present = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAuthenticateReadsConfiguredSource(t *testing.T) {
	iss := newIssuer(t)
	token := mint(t, iss, devissuer.Token{Subject: "from-source"})
	tests := map[string]struct {
		from []policy.Source
		req  *request.Request
	}{
		"cookie": {
			from: []policy.Source{{Kind: policy.SourceCookie, Name: "at"}},
			req:  &request.Request{Headers: map[string]string{"cookie": "other=1; at=" + token}},
		},
		"query": {
			from: []policy.Source{{Kind: policy.SourceQuery, Name: "access_token"}},
			req:  &request.Request{RawQuery: "x=1&access_token=" + token},
		},
		"second source when the first is empty": {
			from: []policy.Source{
				{Kind: policy.SourceCookie, Name: "at"},
				{Kind: policy.SourceHeader, Name: "authorization", Prefix: "Bearer "},
			},
			req: &request.Request{Headers: map[string]string{"cookie": "at=", "authorization": "bearer " + token}},
		},
	}
	p := newProvider(t, jwt.Config{})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pol := issuerPolicy(iss)
			pol.From = tc.from
			a := newAuthenticator(t, p, pol)
			id, err := a.Authenticate(t.Context(), tc.req)
			wantOutcome(t, err, accepted)
			if id.Subject != "from-source" {
				t.Errorf("Subject = %q", id.Subject)
			}
		})
	}
}
