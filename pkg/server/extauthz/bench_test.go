package extauthz

import (
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
)

// allowed is a typical allowed decision of the authgear preset: the
// identity headers to set, the rest of the policy's names to remove.
func allowed() *decision.Decision {
	return &decision.Decision{
		Allow: true, Status: 200, Reason: decision.ReasonAllowed,
		Policy: "shop/shop", Rule: "default", Authenticator: "bearer",
		Identity: &authn.Identity{Subject: "alice", ExpiresAt: time.Now().Add(time.Hour)},
		Set: []decision.Header{
			{Name: "X-Authgear-Session-Valid", Value: "true"},
			{Name: "X-Authgear-User-Id", Value: "alice"},
			{Name: "X-Authgear-User-Verified", Value: "true"},
			{Name: "X-Authgear-User-Roles", Value: "viewer,editor"},
			{Name: "X-User-Id", Value: "alice"},
		},
		Remove: []string{"x-auth-request-user", "x_auth_request_user", "x-authgear-session-amr", "x_authgear_session_amr",
			"x_authgear_session_valid", "x_authgear_user_id", "x_authgear_user_roles", "x_user_id"},
		MaxAge: time.Hour,
	}
}

// BenchmarkResponse is the cost of turning an allowed decision into the
// CheckResponse Envoy receives (before gRPC marshals it).
func BenchmarkResponse(b *testing.B) {
	d := allowed()
	b.ReportAllocs()
	for b.Loop() {
		if Response(d).GetOkResponse() == nil {
			b.Fatal("not OK")
		}
	}
}
