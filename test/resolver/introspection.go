package resolver

import (
	"crypto/subtle"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The token introspection contract, RFC 7662:
//
//   - Section 2.1: the request is a POST with an
//     application/x-www-form-urlencoded body carrying token (required) and
//     token_type_hint (optional, and the server MAY ignore it; this one
//     does); the endpoint MUST require authorization, here the client's
//     credentials.
//   - Section 2.2: the answer is JSON with a required "active"; an unknown,
//     expired or revoked token is a 200 with "active": false and, as the
//     RFC advises, nothing else.
//   - Section 2.3: invalid client credentials are a 401 as in RFC 6749
//     section 5.2 (error "invalid_client", and a WWW-Authenticate challenge
//     since the client used the Authorization header); a malformed request is
//     a 400 "invalid_request".
//
// Client authentication is client_secret_basic, RFC 6749 section 2.3.1: the
// client id and secret are each application/x-www-form-urlencoded before
// being joined with ':' and base64-encoded, so a secret with '+', '%' or ':'
// only matches when the client encodes it. Credentials in the body (which
// 2.3.1 calls NOT RECOMMENDED) are not accepted, so a client that sends them
// there is caught. RFC 7662 leaves the path to the server; /oauth2/introspect
// is the one authgate's tests ask for.

// IntrospectPath is the path of the introspection endpoint.
const IntrospectPath = "/oauth2/introspect"

// Default client credentials of an Introspection server.
const (
	DefaultClientID     = "authgate"
	DefaultClientSecret = "authgate-secret"
)

// IntrospectionConfig configures an introspection server.
type IntrospectionConfig struct {
	// ClientID and ClientSecret are the only credentials accepted
	// (defaults DefaultClientID and DefaultClientSecret).
	ClientID     string
	ClientSecret string
}

// Introspection is a loopback RFC 7662 token introspection endpoint.
type Introspection struct {
	server
	clientID     string
	clientSecret string

	storeMu sync.Mutex // guards tokens
	tokens  map[string]map[string]any
}

// NewIntrospection starts an introspection server on 127.0.0.1:0. Close it
// when done.
func NewIntrospection(cfg IntrospectionConfig) *Introspection {
	in := &Introspection{
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		tokens:       map[string]map[string]any{},
	}
	if in.clientID == "" {
		in.clientID = DefaultClientID
	}
	if in.clientSecret == "" {
		in.clientSecret = DefaultClientSecret
	}
	in.serve = in.introspect
	in.fail = func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusInternalServerError, oauthError("server_error"))
	}
	in.garbage = garbageJSON
	in.start()
	return in
}

// IntrospectURL is the full URL of the introspection endpoint.
func (in *Introspection) IntrospectURL() string { return in.URL() + IntrospectPath }

// ClientID is the client id the server accepts.
func (in *Introspection) ClientID() string { return in.clientID }

// ClientSecret is the client secret the server accepts.
func (in *Introspection) ClientSecret() string { return in.clientSecret }

// AddToken registers an active token and the claims its introspection
// returns (sub, exp, scope, client_id, aud, iss, ...). exp, iat and nbf may be
// numbers of unix seconds or time.Time, which is sent as unix seconds, the
// NumericDate RFC 7662 section 2.2 requires. The token turns inactive once
// exp has passed or while nbf is in the future. "active" in claims is ignored:
// the server decides it.
func (in *Introspection) AddToken(token string, claims map[string]any) {
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		if t, ok := v.(time.Time); ok && (k == "exp" || k == "iat" || k == "nbf") {
			v = t.Unix()
		}
		c[k] = v
	}
	delete(c, "active")
	in.storeMu.Lock()
	in.tokens[token] = c
	in.storeMu.Unlock()
}

// Revoke makes a token inactive.
func (in *Introspection) Revoke(token string) {
	in.storeMu.Lock()
	delete(in.tokens, token)
	in.storeMu.Unlock()
}

func (in *Introspection) introspect(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != IntrospectPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, oauthError("invalid_request"))
		return
	}
	if !in.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		writeJSON(w, http.StatusUnauthorized, oauthError("invalid_client"))
		return
	}
	// PostForm is filled only for a form body, so a token in the query
	// string or a JSON body is the client's mistake, not a lookup miss.
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request"))
		return
	}

	in.storeMu.Lock()
	claims, found := in.tokens[r.PostForm.Get("token")]
	in.storeMu.Unlock()

	now := time.Now()
	if !found || expired(claims, now) {
		writeJSON(w, http.StatusOK, []byte(`{"active":false}`))
		return
	}
	out := make(map[string]any, len(claims)+1)
	for k, v := range claims {
		out[k] = v
	}
	out["active"] = true
	b, err := json.Marshal(out)
	if err != nil {
		// Only claims the test put in that JSON cannot encode get here.
		writeJSON(w, http.StatusInternalServerError, oauthError("server_error"))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// authenticated checks client_secret_basic credentials, undoing the
// form-urlencoding RFC 6749 section 2.3.1 requires of the client.
func (in *Introspection) authenticated(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return false
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(in.clientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(in.clientSecret)) == 1
	return idOK && secretOK
}

// expired says whether exp has passed or nbf is still ahead.
func expired(claims map[string]any, now time.Time) bool {
	if exp, ok := unixSeconds(claims["exp"]); ok && !now.Before(time.Unix(exp, 0)) {
		return true
	}
	if nbf, ok := unixSeconds(claims["nbf"]); ok && now.Before(time.Unix(nbf, 0)) {
		return true
	}
	return false
}

func unixSeconds(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(math.Floor(n)), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// oauthError is the RFC 6749 section 5.2 error body.
func oauthError(code string) []byte {
	b, _ := json.Marshal(map[string]string{"error": code})
	return b
}
