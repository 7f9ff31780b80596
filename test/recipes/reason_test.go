package recipes

import (
	"net/http"
	"testing"

	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/test/upstream"
)

// TestEnvoyPassesReasonCode checks through the Envoy-faithful harness that
// a denial's X-Authgate-Reason, set in the DeniedHttpResponse headers,
// reaches the client, and that an allow carries none.
func TestEnvoyPassesReasonCode(t *testing.T) {
	s := loadEnvoyRecipe(t)
	a := startAuthgate(t)
	up := upstream.New()
	t.Cleanup(up.Close)
	proxy := startHarness(t, s.harnessConfig(a.srv.GRPCAddr(), up.URL))
	member := a.mint(t, "bob", map[string]any{userClaim + "roles": []string{"staff"}})

	tests := map[string]struct {
		target, token string
		status        int
		reason        decision.Reason
	}{
		"no token":         {target: "/orders", status: http.StatusUnauthorized, reason: decision.ReasonNoCredential},
		"garbage token":    {target: "/orders", token: "not.a.jwt", status: http.StatusUnauthorized, reason: decision.ReasonInvalidToken},
		"failed condition": {target: "/admin/users", token: member, status: http.StatusForbidden, reason: decision.ReasonConditionFailed},
		"allowed":          {target: "/orders", token: member, status: http.StatusOK},
	}
	c := client(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, proxy+tc.target)
			req.Host = "shop.example.com"
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, _ := do(t, c, req)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get(decision.ReasonHeader); got != string(tc.reason) {
				t.Errorf("%s = %q, want %q", decision.ReasonHeader, got, tc.reason)
			}
		})
	}
}
