package authn_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
)

var (
	bearerHeader = policy.Source{Kind: policy.SourceHeader, Name: "authorization", Prefix: "Bearer "}
	plainHeader  = policy.Source{Kind: policy.SourceHeader, Name: "x-token"}
	cookie       = policy.Source{Kind: policy.SourceCookie, Name: "session"}
	query        = policy.Source{Kind: policy.SourceQuery, Name: "access_token"}
)

func TestExtract(t *testing.T) {
	tests := map[string]struct {
		headers  map[string]string
		rawQuery string
		sources  []policy.Source
		want     string
		wantOK   bool
	}{
		"bearer header": {
			headers: map[string]string{"authorization": "Bearer abc"},
			sources: []policy.Source{bearerHeader}, want: "abc", wantOK: true,
		},
		"bearer prefix is case-insensitive": {
			headers: map[string]string{"authorization": "bEaReR abc"},
			sources: []policy.Source{bearerHeader}, want: "abc", wantOK: true,
		},
		"blanks around the token are trimmed": {
			headers: map[string]string{"authorization": "Bearer  \t abc \t "},
			sources: []policy.Source{bearerHeader}, want: "abc", wantOK: true,
		},
		"other scheme is absent": {
			headers: map[string]string{"authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
			sources: []policy.Source{bearerHeader},
		},
		"scheme without space is absent": {
			headers: map[string]string{"authorization": "Bearerabc"},
			sources: []policy.Source{bearerHeader},
		},
		"header shorter than prefix": {
			headers: map[string]string{"authorization": "Bear"},
			sources: []policy.Source{bearerHeader},
		},
		"prefix only counts as absent": {
			headers: map[string]string{"authorization": "Bearer "},
			sources: []policy.Source{bearerHeader},
		},
		"prefix and blanks count as absent": {
			headers: map[string]string{"authorization": "Bearer  \t "},
			sources: []policy.Source{bearerHeader},
		},
		"empty header counts as absent": {
			headers: map[string]string{"x-token": ""},
			sources: []policy.Source{plainHeader},
		},
		"header without prefix": {
			headers: map[string]string{"x-token": " abc "},
			sources: []policy.Source{plainHeader}, want: "abc", wantOK: true,
		},
		"missing header": {
			headers: map[string]string{},
			sources: []policy.Source{bearerHeader},
		},
		"nil headers": {
			sources: []policy.Source{bearerHeader, cookie, query},
		},
		"cookie": {
			headers: map[string]string{"cookie": "a=1; session=tok; b=2"},
			sources: []policy.Source{cookie}, want: "tok", wantOK: true,
		},
		"empty cookie counts as absent": {
			headers: map[string]string{"cookie": "session="},
			sources: []policy.Source{cookie},
		},
		"blank quoted cookie counts as absent": {
			headers: map[string]string{"cookie": `session=" "`},
			sources: []policy.Source{cookie},
		},
		"query": {
			rawQuery: "a=1&access_token=tok",
			sources:  []policy.Source{query}, want: "tok", wantOK: true,
		},
		"empty query value counts as absent": {
			rawQuery: "access_token=",
			sources:  []policy.Source{query},
		},
		"blank query value counts as absent": {
			rawQuery: "access_token=%20%09",
			sources:  []policy.Source{query},
		},
		"blanks around a query value are trimmed": {
			rawQuery: "access_token=%20tok%20",
			sources:  []policy.Source{query}, want: "tok", wantOK: true,
		},
		"first source wins": {
			headers:  map[string]string{"authorization": "Bearer fromheader", "cookie": "session=fromcookie"},
			rawQuery: "access_token=fromquery",
			sources:  []policy.Source{cookie, bearerHeader, query}, want: "fromcookie", wantOK: true,
		},
		"falls through an absent source": {
			headers: map[string]string{"authorization": "Basic x"},
			sources: []policy.Source{bearerHeader, query}, rawQuery: "access_token=q",
			want: "q", wantOK: true,
		},
		"falls through an empty source": {
			headers: map[string]string{"authorization": "Bearer ", "cookie": "session=c"},
			sources: []policy.Source{bearerHeader, cookie}, want: "c", wantOK: true,
		},
		"falls through a blank cookie": {
			headers: map[string]string{"authorization": "Bearer h", "cookie": `session=" "`},
			sources: []policy.Source{cookie, bearerHeader}, want: "h", wantOK: true,
		},
		"unknown source kind": {
			headers: map[string]string{"authorization": "Bearer abc"},
			sources: []policy.Source{{Kind: policy.SourceKind(99), Name: "authorization"}},
		},
		"no sources": {
			headers: map[string]string{"authorization": "Bearer abc"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &request.Request{Headers: tc.headers, RawQuery: tc.rawQuery}
			got, ok := authn.Extract(r, tc.sources)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Extract = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestErrExpiredIsErrInvalid(t *testing.T) {
	// Every 401 check is errors.Is(err, ErrInvalid); an expired credential
	// must pass it, wrapped or not, and the two must stay distinguishable.
	wrapped := fmt.Errorf("jwt: %w", authn.ErrExpired)
	if !errors.Is(authn.ErrExpired, authn.ErrInvalid) || !errors.Is(wrapped, authn.ErrInvalid) {
		t.Error("ErrExpired is not an ErrInvalid")
	}
	if !errors.Is(wrapped, authn.ErrExpired) {
		t.Error("wrapped ErrExpired lost its identity")
	}
	if errors.Is(authn.ErrInvalid, authn.ErrExpired) {
		t.Error("ErrInvalid must not count as expired")
	}
}

// FuzzExtract feeds hostile header, cookie and query values to Extract: it
// must never panic, and whatever it returns is a usable credential, non-empty
// and without surrounding blanks.
func FuzzExtract(f *testing.F) {
	seeds := []struct{ authz, cookie, query string }{
		{"Bearer abc", "", ""},
		{"bearer \t abc\t", "", ""},
		{"Bearer ", "session=", "access_token="},
		{"Bear", `session=" "`, "access_token=%20"},
		{"", "session=tok; session=other", "access_token=a&access_token=b"},
		{"BEARER " + strings.Repeat("x", 64), "a=b;;;session=\"q\"", "access_token=%zz&access_token=ok"},
		{"\x00\xff", "session=\t", "access_token=%09x%09"},
	}
	for _, s := range seeds {
		f.Add(s.authz, s.cookie, s.query)
	}
	sourceSets := [][]policy.Source{
		{bearerHeader},
		{plainHeader},
		{cookie},
		{query},
		{bearerHeader, cookie, query},
	}
	f.Fuzz(func(t *testing.T, authz, cookieLine, rawQuery string) {
		r := &request.Request{
			Headers: map[string]string{
				"authorization": authz,
				"x-token":       authz,
				"cookie":        cookieLine,
			},
			RawQuery: rawQuery,
		}
		for _, sources := range sourceSets {
			v, ok := authn.Extract(r, sources)
			if !ok {
				if v != "" {
					t.Errorf("Extract(%v) = %q with ok=false", sources, v)
				}
				continue
			}
			if v == "" {
				t.Errorf("Extract(%v) returned an empty credential", sources)
			}
			if v != strings.Trim(v, " \t") {
				t.Errorf("Extract(%v) = %q has surrounding blanks", sources, v)
			}
		}
	})
}
