package resolver

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Authgear resolver contract, as read in authgear/authgear-server:
//
//   - docs/specs/api-resolver.md: the endpoint writes no body and answers
//     with x-authgear-* headers; x-authgear-session-valid is absent when the
//     request carries no session, "false" for an invalid one and "true" for a
//     valid one, which then carries the user headers; x-authgear-user-roles is
//     comma-separated and absent when the user has no roles.
//   - pkg/resolver/handler/resolve.go: routes GET and HEAD on both /resolve
//     and /_resolver/resolve; the only non-200 is a 500 on internal errors.
//   - pkg/api/model/session_info.go (PopulateHeaders): the user headers are
//     set only when valid; the AMR header is always set when valid, even
//     empty, and joined with a space; authenticated-at is unix seconds and
//     omitted when unknown.
//   - pkg/lib/session/middleware.go: the access token in Authorization is
//     tried before the session cookie, an invalid credential does not stop
//     the next one from being tried, and an invalid session cookie is
//     cleared with Set-Cookie.
//
// Two places where Authgear's own sources disagree, and which one this
// follows: the spec says the AMR header is comma-separated, the code (and
// authgate's issue) joins it with a space, so this joins with a space; the
// spec says the cookie takes precedence, the middleware tries the bearer
// token first, so this tries the bearer token first. The docs page
// get-started/backend-api/nginx.md (authgear/docs) gives the public path
// /_resolver/resolve and the default cookie name "session".

// ResolvePath is the path of Authgear's resolver endpoint.
const ResolvePath = "/_resolver/resolve"

// resolveAlias is the resolver's other route; Authgear serves both.
const resolveAlias = "/resolve"

// DefaultAuthgearCookie is the name of Authgear's session cookie.
const DefaultAuthgearCookie = "session"

// The headers of the Authgear resolver contract.
const (
	HeaderSessionValid          = "X-Authgear-Session-Valid"
	HeaderUserID                = "X-Authgear-User-Id"
	HeaderUserAnonymous         = "X-Authgear-User-Anonymous"
	HeaderUserVerified          = "X-Authgear-User-Verified"
	HeaderUserCanReauthenticate = "X-Authgear-User-Can-Reauthenticate"
	HeaderUserRoles             = "X-Authgear-User-Roles"
	HeaderSessionAMR            = "X-Authgear-Session-Amr"
	HeaderSessionAuthenticated  = "X-Authgear-Session-Authenticated-At"
)

// Session is what the Authgear resolver says about a valid session.
type Session struct {
	UserID            string
	Anonymous         bool
	Verified          bool
	CanReauthenticate bool
	Roles             []string  // comma-joined; header absent when empty
	AMR               []string  // space-joined
	AuthenticatedAt   time.Time // unix seconds; header absent when zero
}

// AuthgearConfig configures an Authgear resolver.
type AuthgearConfig struct {
	// CookieName is the session cookie (default "session").
	CookieName string
}

// Authgear is a loopback Authgear resolver endpoint.
type Authgear struct {
	server
	cookieName string

	storeMu sync.Mutex // guards cookies and tokens
	cookies map[string]Session
	tokens  map[string]Session
}

// NewAuthgear starts an Authgear resolver on 127.0.0.1:0. Close it when done.
func NewAuthgear(cfg AuthgearConfig) *Authgear {
	a := &Authgear{
		cookieName: cfg.CookieName,
		cookies:    map[string]Session{},
		tokens:     map[string]Session{},
	}
	if a.cookieName == "" {
		a.cookieName = DefaultAuthgearCookie
	}
	a.serve = a.resolve
	a.fail = func(w http.ResponseWriter, _ *http.Request) {
		// What Authgear's handler writes when resolving fails.
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
	a.garbage = authgearGarbage
	a.start()
	return a
}

// ResolveURL is the full URL of the resolver endpoint.
func (a *Authgear) ResolveURL() string { return a.URL() + ResolvePath }

// CookieName is the session cookie the resolver reads.
func (a *Authgear) CookieName() string { return a.cookieName }

// AddSession makes a session cookie value valid.
func (a *Authgear) AddSession(cookieValue string, s Session) {
	a.storeMu.Lock()
	a.cookies[cookieValue] = cloneSession(s)
	a.storeMu.Unlock()
}

// AddToken makes an access token, sent as Authorization: Bearer, valid.
func (a *Authgear) AddToken(accessToken string, s Session) {
	a.storeMu.Lock()
	a.tokens[accessToken] = cloneSession(s)
	a.storeMu.Unlock()
}

// Revoke makes a cookie value or access token invalid; the resolver then
// answers for it exactly as for one it never knew.
func (a *Authgear) Revoke(cookieOrToken string) {
	a.storeMu.Lock()
	delete(a.cookies, cookieOrToken)
	delete(a.tokens, cookieOrToken)
	a.storeMu.Unlock()
}

func cloneSession(s Session) Session {
	s.Roles = append([]string(nil), s.Roles...)
	s.AMR = append([]string(nil), s.AMR...)
	return s
}

func (a *Authgear) resolve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ResolvePath && r.URL.Path != resolveAlias {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	token, hasToken := bearer(r)
	cookie, err := r.Cookie(a.cookieName)
	hasCookie := err == nil
	if !hasToken && !hasCookie {
		// No session credentials: no x-authgear-session-valid at all.
		w.WriteHeader(http.StatusOK)
		return
	}

	a.storeMu.Lock()
	var s Session
	found := false
	if hasToken {
		s, found = a.tokens[token]
	}
	if !found && hasCookie {
		s, found = a.cookies[cookie.Value]
	}
	a.storeMu.Unlock()

	h := w.Header()
	if !found {
		h.Set(HeaderSessionValid, "false")
		if hasCookie {
			http.SetCookie(w, &http.Cookie{Name: a.cookieName, Path: "/", MaxAge: -1, HttpOnly: true})
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set(HeaderSessionValid, "true")
	h.Set(HeaderUserID, s.UserID)
	h.Set(HeaderUserAnonymous, strconv.FormatBool(s.Anonymous))
	h.Set(HeaderUserVerified, strconv.FormatBool(s.Verified))
	h.Set(HeaderUserCanReauthenticate, strconv.FormatBool(s.CanReauthenticate))
	if len(s.Roles) > 0 {
		h.Set(HeaderUserRoles, strings.Join(s.Roles, ","))
	}
	h.Set(HeaderSessionAMR, strings.Join(s.AMR, " "))
	if !s.AuthenticatedAt.IsZero() {
		h.Set(HeaderSessionAuthenticated, strconv.FormatInt(s.AuthenticatedAt.Unix(), 10))
	}
	w.WriteHeader(http.StatusOK)
}

// bearer returns the token of an "Authorization: Bearer <token>" header; the
// scheme is case-insensitive (RFC 9110 section 11.1).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authgearGarbage is a 200 no client can take as an answer: the validity
// header says both yes and no (a reader that takes the first value would see
// a valid session), the booleans and the timestamp are not parsable, and the
// body, which the contract says is empty, claims to be JSON and is not.
func authgearGarbage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Add(HeaderSessionValid, "true")
	h.Add(HeaderSessionValid, "false")
	h.Set(HeaderUserAnonymous, "maybe")
	h.Set(HeaderUserVerified, "sometimes")
	h.Set(HeaderUserCanReauthenticate, "perhaps")
	h.Set(HeaderSessionAuthenticated, "yesterday")
	garbageJSON(w, nil)
}
