package resolver

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newClient gives each test its own transport, so keep-alive connections of
// one test never meet another test's faults.
func newClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: timeout, Transport: tr}
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return res, body
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// authgearHeaders are all the headers of the resolver contract; a case lists
// the ones it wants, and every other one must be absent.
var authgearHeaders = []string{
	HeaderSessionValid, HeaderUserID, HeaderUserAnonymous, HeaderUserVerified,
	HeaderUserCanReauthenticate, HeaderUserRoles, HeaderSessionAMR, HeaderSessionAuthenticated,
}

func TestAuthgearContract(t *testing.T) {
	ag := NewAuthgear(AuthgearConfig{})
	t.Cleanup(ag.Close)
	authAt := time.Unix(1700000000, 0)
	ag.AddSession("c-alice", Session{UserID: "alice", Verified: true, CanReauthenticate: true,
		Roles: []string{"staff", "billing"}, AMR: []string{"pwd", "otp"}, AuthenticatedAt: authAt})
	ag.AddToken("t-bob", Session{UserID: "bob", Anonymous: true})
	ag.AddSession("c-revoked", Session{UserID: "eve"})
	ag.Revoke("c-revoked")

	alice := map[string]string{
		HeaderSessionValid: "true", HeaderUserID: "alice", HeaderUserAnonymous: "false",
		HeaderUserVerified: "true", HeaderUserCanReauthenticate: "true", HeaderUserRoles: "staff,billing",
		HeaderSessionAMR: "pwd otp", HeaderSessionAuthenticated: "1700000000",
	}
	// bob has no roles (header absent), no AMR (header present, empty) and
	// no authentication time (header absent), as PopulateHeaders does.
	bob := map[string]string{
		HeaderSessionValid: "true", HeaderUserID: "bob", HeaderUserAnonymous: "true",
		HeaderUserVerified: "false", HeaderUserCanReauthenticate: "false", HeaderSessionAMR: "",
	}
	invalid := map[string]string{HeaderSessionValid: "false"}

	tests := map[string]struct {
		method, path, cookie, auth string
		wantStatus                 int
		want                       map[string]string
		wantClearCookie            bool
	}{
		"no credentials":            {want: map[string]string{}},
		"other cookie only":         {cookie: "other=c-alice", want: map[string]string{}},
		"known cookie":              {cookie: "session=c-alice", want: alice},
		"known cookie among others": {cookie: "a=1; session=c-alice; b=2", want: alice},
		"known bearer token":        {auth: "Bearer t-bob", want: bob},
		"bearer scheme any case":    {auth: "bearer t-bob", want: bob},
		"unknown cookie":            {cookie: "session=nope", want: invalid, wantClearCookie: true},
		"revoked cookie":            {cookie: "session=c-revoked", want: invalid, wantClearCookie: true},
		"unknown token":             {auth: "Bearer nope", want: invalid},
		"basic auth is no token":    {auth: "Basic dTpw", want: map[string]string{}},
		"token tried before cookie": {cookie: "session=c-alice", auth: "Bearer t-bob", want: bob},
		"invalid token, valid cookie": {
			cookie: "session=c-alice", auth: "Bearer nope", want: alice,
		},
		"HEAD":           {method: http.MethodHead, cookie: "session=c-alice", want: alice},
		"/resolve alias": {path: "/resolve", cookie: "session=c-alice", want: alice},
		"POST":           {method: http.MethodPost, cookie: "session=c-alice", wantStatus: http.StatusMethodNotAllowed},
		"other path":     {path: "/nope", cookie: "session=c-alice", wantStatus: http.StatusNotFound},
	}
	c := newClient(t, 5*time.Second)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method, path, wantStatus := tc.method, tc.path, tc.wantStatus
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = ResolvePath
			}
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			req := newRequest(t, method, ag.URL()+path, nil)
			if tc.cookie != "" {
				req.Header.Set("Cookie", tc.cookie)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, body := do(t, c, req)
			if res.StatusCode != wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, wantStatus)
			}
			if wantStatus != http.StatusOK {
				return
			}
			if len(body) != 0 {
				t.Errorf("body = %q, want none: the resolver answers in headers only", body)
			}
			for _, h := range authgearHeaders {
				want, wantSet := tc.want[h]
				got, gotSet := res.Header[h]
				if wantSet != gotSet || (gotSet && (len(got) != 1 || got[0] != want)) {
					t.Errorf("%s = %q (set %v), want %q (set %v)", h, got, gotSet, want, wantSet)
				}
			}
			cleared := false
			for _, ck := range res.Cookies() {
				cleared = cleared || (ck.Name == "session" && ck.MaxAge < 0)
			}
			if cleared != tc.wantClearCookie {
				t.Errorf("session cookie cleared = %v, want %v", cleared, tc.wantClearCookie)
			}
			last := ag.LastRequest()
			if last.Header.Get("Cookie") != tc.cookie || last.Header.Get("Authorization") != tc.auth {
				t.Errorf("recorded Cookie %q Authorization %q, sent %q %q",
					last.Header.Get("Cookie"), last.Header.Get("Authorization"), tc.cookie, tc.auth)
			}
		})
	}
	if got := ag.Calls(); got != len(tests) {
		t.Errorf("Calls = %d, want %d", got, len(tests))
	}
}

func TestAuthgearCookieName(t *testing.T) {
	ag := NewAuthgear(AuthgearConfig{CookieName: "ag_session"})
	t.Cleanup(ag.Close)
	ag.AddSession("v", Session{UserID: "u"})
	c := newClient(t, 5*time.Second)
	for cookie, want := range map[string]string{"ag_session=v": "u", "session=v": ""} {
		req := newRequest(t, http.MethodGet, ag.ResolveURL(), nil)
		req.Header.Set("Cookie", cookie)
		res, _ := do(t, c, req)
		if got := res.Header.Get(HeaderUserID); got != want {
			t.Errorf("Cookie %q: user = %q, want %q", cookie, got, want)
		}
	}
}

func TestJSONContract(t *testing.T) {
	j := NewJSON(JSONConfig{})
	t.Cleanup(j.Close)
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	exp := time.Now().Add(5 * time.Minute).Truncate(time.Second)
	j.AddSession("c-alice", JSONSession{ID: "s1", IdentityID: "alice",
		Traits: map[string]any{"email": "alice@example.com"}, ExpiresAt: expires})
	j.AddSession("c-exp", JSONSession{ID: "s2", IdentityID: "bob", Exp: exp})
	j.AddSession("c-expired", JSONSession{ID: "s3", IdentityID: "carol", ExpiresAt: time.Now().Add(-time.Second)})
	j.AddSession("c-revoked", JSONSession{ID: "s4", IdentityID: "eve"})
	j.Revoke("c-revoked")

	tests := map[string]struct {
		method, path, cookie string
		wantStatus           int
		wantIdentity         string
		wantExp              int64 // 0: no exp
	}{
		"known session":     {cookie: "ory_kratos_session=c-alice", wantStatus: 200, wantIdentity: "alice"},
		"exp when set":      {cookie: "ory_kratos_session=c-exp", wantStatus: 200, wantIdentity: "bob", wantExp: exp.Unix()},
		"POST is whoami":    {method: http.MethodPost, cookie: "ory_kratos_session=c-alice", wantStatus: 200, wantIdentity: "alice"},
		"no cookie":         {wantStatus: 401},
		"unknown cookie":    {cookie: "ory_kratos_session=nope", wantStatus: 401},
		"other cookie name": {cookie: "session=c-alice", wantStatus: 401},
		"expired session":   {cookie: "ory_kratos_session=c-expired", wantStatus: 401},
		"revoked session":   {cookie: "ory_kratos_session=c-revoked", wantStatus: 401},
		"DELETE":            {method: http.MethodDelete, cookie: "ory_kratos_session=c-alice", wantStatus: 405},
		"other path":        {path: "/sessions", cookie: "ory_kratos_session=c-alice", wantStatus: 404},
	}
	c := newClient(t, 5*time.Second)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = WhoamiPath
			}
			req := newRequest(t, method, j.URL()+path, nil)
			if tc.cookie != "" {
				req.Header.Set("Cookie", tc.cookie)
			}
			res, body := do(t, c, req)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tc.wantStatus, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.wantStatus != http.StatusOK {
				var e struct {
					Error struct {
						Code int `json:"code"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tc.wantStatus {
					t.Errorf("error body %s: code %d, err %v", body, e.Error.Code, err)
				}
				return
			}
			var s struct {
				ID              string    `json:"id"`
				Active          bool      `json:"active"`
				ExpiresAt       time.Time `json:"expires_at"`
				AuthenticatedAt time.Time `json:"authenticated_at"`
				Identity        struct {
					ID     string         `json:"id"`
					Traits map[string]any `json:"traits"`
				} `json:"identity"`
				Exp *int64 `json:"exp"`
			}
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if !s.Active || s.Identity.ID != tc.wantIdentity || s.ID == "" || s.ExpiresAt.IsZero() || s.AuthenticatedAt.IsZero() {
				t.Errorf("session = %+v, want active session of %s", s, tc.wantIdentity)
			}
			if s.Identity.Traits == nil {
				t.Errorf("identity.traits missing in %s", body)
			}
			if got := res.Header.Get(HeaderKratosIdentityID); got != tc.wantIdentity {
				t.Errorf("%s = %q, want %q", HeaderKratosIdentityID, got, tc.wantIdentity)
			}
			switch {
			case tc.wantExp == 0 && s.Exp != nil:
				t.Errorf("exp = %d, want none", *s.Exp)
			case tc.wantExp != 0 && (s.Exp == nil || *s.Exp != tc.wantExp):
				t.Errorf("exp = %v, want %d", s.Exp, tc.wantExp)
			}
			if tc.wantIdentity == "alice" && (!s.ExpiresAt.Equal(expires) || s.Identity.Traits["email"] != "alice@example.com") {
				t.Errorf("expires_at %v traits %v, want %v and alice's email", s.ExpiresAt, s.Identity.Traits, expires)
			}
		})
	}
}

func TestIntrospectionContract(t *testing.T) {
	// An id and secret with characters form-urlencoding changes, so only a
	// client that encodes them as RFC 6749 section 2.3.1 says gets in.
	const id, secret = "gate:1", "p+ss w/rd%"
	in := NewIntrospection(IntrospectionConfig{ClientID: id, ClientSecret: secret})
	t.Cleanup(in.Close)
	exp := time.Now().Add(time.Hour).Unix()
	in.AddToken("t-live", map[string]any{"sub": "alice", "exp": exp, "scope": "read write",
		"client_id": "app", "aud": []string{"api"}, "iss": "https://idp.example", "active": "ignored"})
	later := time.Now().Add(time.Hour)
	in.AddToken("t-time", map[string]any{"sub": "bob", "exp": later})
	in.AddToken("t-expired", map[string]any{"sub": "carol", "exp": time.Now().Add(-time.Minute).Unix()})
	in.AddToken("t-early", map[string]any{"sub": "dave", "nbf": time.Now().Add(time.Hour)})
	in.AddToken("t-revoked", map[string]any{"sub": "eve"})
	in.Revoke("t-revoked")

	encoded := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	raw := base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
	wrong := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":nope"))

	tests := map[string]struct {
		method, auth, contentType, body string
		wantStatus                      int
		want                            map[string]any // whole body
		wantChallenge                   bool
	}{
		"active token": {body: "token=t-live&token_type_hint=access_token", wantStatus: 200, want: map[string]any{
			"active": true, "sub": "alice", "exp": float64(exp), "scope": "read write",
			"client_id": "app", "aud": []any{"api"}, "iss": "https://idp.example"}},
		"time exp as unix": {body: "token=t-time", wantStatus: 200, want: map[string]any{
			"active": true, "sub": "bob", "exp": float64(later.Unix())}},
		"unknown token":            {body: "token=nope", wantStatus: 200, want: map[string]any{"active": false}},
		"expired token":            {body: "token=t-expired", wantStatus: 200, want: map[string]any{"active": false}},
		"not yet valid token":      {body: "token=t-early", wantStatus: 200, want: map[string]any{"active": false}},
		"revoked token":            {body: "token=t-revoked", wantStatus: 200, want: map[string]any{"active": false}},
		"no client auth":           {auth: "-", body: "token=t-live", wantStatus: 401, wantChallenge: true},
		"wrong secret":             {auth: "Basic " + wrong, body: "token=t-live", wantStatus: 401, wantChallenge: true},
		"credentials not encoded":  {auth: "Basic " + raw, body: "token=t-live", wantStatus: 401, wantChallenge: true},
		"credentials in body only": {auth: "-", body: "token=t-live&client_id=gate%3A1&client_secret=p%2Bss+w%2Frd%25", wantStatus: 401, wantChallenge: true},
		"missing token":            {body: "token_type_hint=access_token", wantStatus: 400},
		"JSON body":                {contentType: "application/json", body: `{"token":"t-live"}`, wantStatus: 400},
		"GET":                      {method: http.MethodGet, wantStatus: 405},
	}
	c := newClient(t, 5*time.Second)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method, auth, ct := tc.method, tc.auth, tc.contentType
			if method == "" {
				method = http.MethodPost
			}
			if auth == "" {
				auth = "Basic " + encoded
			}
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req := newRequest(t, method, in.IntrospectURL(), strings.NewReader(tc.body))
			req.Header.Set("Content-Type", ct)
			if auth != "-" {
				req.Header.Set("Authorization", auth)
			}
			res, body := do(t, c, req)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tc.wantStatus, body)
			}
			if got := res.Header.Get("WWW-Authenticate") != ""; got != tc.wantChallenge {
				t.Errorf("WWW-Authenticate set = %v, want %v", got, tc.wantChallenge)
			}
			if tc.want == nil {
				return
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("body = %s, want %s", g, w)
			}
			if f := in.LastRequest().Form; f.Get("token") == "" || f.Get("token") != mustForm(t, tc.body).Get("token") {
				t.Errorf("recorded form %v, sent %q", f, tc.body)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v) // map keys come out sorted, so equal maps compare equal
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustForm(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
