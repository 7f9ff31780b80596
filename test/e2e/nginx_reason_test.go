package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/devissuer"
)

// TestNginxReasonCode checks that the sample's auth_request_set and
// add_header carry authgate's X-Authgate-Reason to the client through real
// nginx: on a 401 (answered by the error_page location), on a 403 and for a
// browser's sign-in redirect, and never on an allow or the app's answers.
func TestNginxReasonCode(t *testing.T) {
	s := startStack(t, stackConfig{})
	alice := s.mint(t, devissuer.Token{Subject: "alice"})
	expired := s.mint(t, devissuer.Token{Subject: "alice", TTL: -time.Hour})

	tests := map[string]struct {
		target string
		header []string
		status int
		reason decision.Reason // "" for none
	}{
		"no token":                {target: "/", status: http.StatusUnauthorized, reason: decision.ReasonNoCredential},
		"expired token":           {target: "/", header: []string{"Authorization", "Bearer " + expired}, status: http.StatusUnauthorized, reason: decision.ReasonExpired},
		"garbage token":           {target: "/", header: []string{"Authorization", "Bearer not.a.jwt"}, status: http.StatusUnauthorized, reason: decision.ReasonInvalidToken},
		"failed condition":        {target: "/admin/users", header: []string{"Authorization", "Bearer " + alice}, status: http.StatusForbidden, reason: decision.ReasonConditionFailed},
		"browser sent to sign in": {target: "/", header: []string{"Accept", "text/html"}, status: http.StatusFound, reason: decision.ReasonNoCredential},
		"allowed":                 {target: "/", header: []string{"Authorization", "Bearer " + alice}, status: http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := s.do(t, http.MethodGet, tc.target, tc.header...)
			if resp.status != tc.status {
				t.Errorf("status = %d, want %d", resp.status, tc.status)
			}
			if got := resp.header.Get(decision.ReasonHeader); got != string(tc.reason) {
				t.Errorf("%s = %q, want %q", decision.ReasonHeader, got, tc.reason)
			}
		})
	}
}
