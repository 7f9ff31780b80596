package resolver

import (
	"encoding/json"
	"maps"
	"net/http"
	"sync"
	"time"
)

// The Kratos whoami contract, as read in ory/kratos session/handler.go: the
// whoami route answers the session as JSON (200) when the request's Cookie
// carries a valid session cookie, and 401 with a JSON error when the cookie is
// missing, unknown or no longer active; on success it also sets
// X-Kratos-Authenticated-Identity-Id. The route is registered for every method
// but DELETE (DELETE /sessions/{id} is another endpoint). The 401 body is
// herodot's error envelope, {"error": {"id", "code", "status", "reason",
// "message"}}, as seen in recorded Kratos answers ("No valid session
// credentials found in the request."). The default cookie name is
// "ory_kratos_session" (ibid., the toSession parameters).
//
// Kratos also accepts a session token in X-Session-Token or Authorization:
// Bearer; this double reads only the cookie, which is what authgate's json
// contract forwards.

// WhoamiPath is the path of Kratos's whoami endpoint.
const WhoamiPath = "/sessions/whoami"

// DefaultKratosCookie is the name of Kratos's session cookie.
const DefaultKratosCookie = "ory_kratos_session"

// HeaderKratosIdentityID is set by whoami to the identity id on success.
const HeaderKratosIdentityID = "X-Kratos-Authenticated-Identity-Id"

// DefaultSessionLifetime is the lifetime of a JSONSession added without
// ExpiresAt.
const DefaultSessionLifetime = time.Hour

// JSONSession is a Kratos session as whoami reports it.
type JSONSession struct {
	// ID is the session id ("id").
	ID string
	// IdentityID is the user ("identity.id").
	IdentityID string
	// Traits are the identity's traits ("identity.traits"), e.g. email.
	Traits map[string]any
	// ExpiresAt is "expires_at"; once past, whoami answers 401 as Kratos
	// does for an inactive session. Zero means DefaultSessionLifetime after
	// AddSession.
	ExpiresAt time.Time
	// AuthenticatedAt is "authenticated_at" (and "issued_at"); zero means
	// the time of AddSession.
	AuthenticatedAt time.Time
	// Exp, when set, adds a top-level numeric "exp" (unix seconds). Kratos
	// does not send it; resolvers fronted by a token-minting proxy do, and
	// authgate's json contract may cap its cache by it.
	Exp time.Time
}

// JSONConfig configures a whoami server.
type JSONConfig struct {
	// CookieName is the session cookie (default "ory_kratos_session").
	CookieName string
}

// JSON is a loopback Kratos-style /sessions/whoami endpoint.
type JSON struct {
	server
	cookieName string

	storeMu  sync.Mutex // guards sessions
	sessions map[string]JSONSession
}

// NewJSON starts a whoami server on 127.0.0.1:0. Close it when done.
func NewJSON(cfg JSONConfig) *JSON {
	j := &JSON{
		cookieName: cfg.CookieName,
		sessions:   map[string]JSONSession{},
	}
	if j.cookieName == "" {
		j.cookieName = DefaultKratosCookie
	}
	j.serve = j.whoami
	j.fail = func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusInternalServerError, kratosError(http.StatusInternalServerError, "",
			"Internal Server Error", "", "An internal server error occurred, please contact the system administrator"))
	}
	j.garbage = garbageJSON
	j.start()
	return j
}

// WhoamiURL is the full URL of the whoami endpoint.
func (j *JSON) WhoamiURL() string { return j.URL() + WhoamiPath }

// CookieName is the session cookie the server reads.
func (j *JSON) CookieName() string { return j.cookieName }

// AddSession makes a session cookie value valid.
func (j *JSON) AddSession(cookieValue string, s JSONSession) {
	now := time.Now()
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = now.Add(DefaultSessionLifetime)
	}
	if s.AuthenticatedAt.IsZero() {
		s.AuthenticatedAt = now
	}
	s.Traits = maps.Clone(s.Traits)
	j.storeMu.Lock()
	j.sessions[cookieValue] = s
	j.storeMu.Unlock()
}

// Revoke makes a session cookie value invalid.
func (j *JSON) Revoke(cookieValue string) {
	j.storeMu.Lock()
	delete(j.sessions, cookieValue)
	j.storeMu.Unlock()
}

type whoamiSession struct {
	ID              string         `json:"id"`
	Active          bool           `json:"active"`
	ExpiresAt       time.Time      `json:"expires_at"`
	AuthenticatedAt time.Time      `json:"authenticated_at"`
	IssuedAt        time.Time      `json:"issued_at"`
	AAL             string         `json:"authenticator_assurance_level"`
	Identity        whoamiIdentity `json:"identity"`
	Exp             *int64         `json:"exp,omitempty"`
}

type whoamiIdentity struct {
	ID       string         `json:"id"`
	SchemaID string         `json:"schema_id"`
	State    string         `json:"state"`
	Traits   map[string]any `json:"traits"`
}

func (j *JSON) whoami(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != WhoamiPath {
		writeJSON(w, http.StatusNotFound, kratosError(http.StatusNotFound, "", "Not Found", "", "The requested resource could not be found"))
		return
	}
	if r.Method == http.MethodDelete {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, kratosError(http.StatusMethodNotAllowed, "", "Method Not Allowed", "", "The requested method is not allowed"))
		return
	}

	var s JSONSession
	found := false
	if c, err := r.Cookie(j.cookieName); err == nil {
		j.storeMu.Lock()
		s, found = j.sessions[c.Value]
		j.storeMu.Unlock()
	}
	if !found || !time.Now().Before(s.ExpiresAt) {
		writeJSON(w, http.StatusUnauthorized, kratosError(http.StatusUnauthorized, "session_inactive", "Unauthorized",
			"No valid session credentials found in the request.", "The request could not be authorized"))
		return
	}

	traits := s.Traits
	if traits == nil {
		traits = map[string]any{} // Kratos always sends an object
	}
	body := whoamiSession{
		ID:              s.ID,
		Active:          true,
		ExpiresAt:       s.ExpiresAt.UTC(),
		AuthenticatedAt: s.AuthenticatedAt.UTC(),
		IssuedAt:        s.AuthenticatedAt.UTC(),
		AAL:             "aal1",
		Identity:        whoamiIdentity{ID: s.IdentityID, SchemaID: "default", State: "active", Traits: traits},
	}
	if !s.Exp.IsZero() {
		exp := s.Exp.Unix()
		body.Exp = &exp
	}
	b, err := json.Marshal(body)
	if err != nil {
		// Only traits the test put in that JSON cannot encode get here;
		// say so rather than answer with half a session.
		writeJSON(w, http.StatusInternalServerError, kratosError(http.StatusInternalServerError, "", "Internal Server Error", err.Error(), "traits are not JSON"))
		return
	}
	w.Header().Set(HeaderKratosIdentityID, s.IdentityID)
	writeJSON(w, http.StatusOK, b)
}

// kratosError is herodot's JSON error envelope, which Kratos answers with.
func kratosError(code int, id, status, reason, message string) []byte {
	e := map[string]any{"code": code, "status": status, "message": message}
	if id != "" {
		e["id"] = id
	}
	if reason != "" {
		e["reason"] = reason
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}
