package hostile

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/pkg/devissuer"
)

// forged are identity headers a client makes up, in the spellings that slip
// past naive filters.
var forged = [][2]string{
	{"X-User-Id", "mallory"}, {"x-user-id", "mallory"}, {"X_User_Id", "mallory"}, {"x_user_id", "mallory"},
	{"X-Authgear-User-Id", "mallory"}, {"X_Authgear_User_Id", "mallory"}, {"X-Auth-Request-User", "mallory"},
}

// TestSpoofedIdentityHeaders sends forged identity headers with no
// credential, with another user's token, and with a rejected token: the
// forged values never reach the upstream behind the Envoy-faithful proxy,
// and neither transport's answer carries them (nginx and Traefik copy the
// answer's identity headers onto the upstream request).
func TestSpoofedIdentityHeaders(t *testing.T) {
	s := newStack(t)
	bob := s.mint(t, devissuer.Token{Subject: "bob", Audience: []string{"shop"}})
	tests := map[string]struct {
		r       req
		status  int
		subject string // X-User-Id the upstream must see; "" for none
	}{
		"no credential, public page": {r: req{target: "/public/x", header: forged}, status: http.StatusOK},
		"another user's token":       {r: req{target: "/api", header: append(bearer(bob), forged...)}, status: http.StatusOK, subject: "bob"},
		"a rejected token":           {r: req{target: "/api", header: append(bearer("a.b.c"), forged...)}, status: http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for transport, a := range map[string]answer{"grpc": s.viaGRPC(t, tc.r), "nginx": s.viaNginx(t, tc.r), "traefik": s.viaTraefik(t, tc.r)} {
				if a.status != tc.status {
					t.Errorf("%s: status %d, want %d", transport, a.status, tc.status)
				}
				for k, v := range a.set {
					if strings.Contains(v, "mallory") {
						t.Errorf("%s: answer sets %s: %s", transport, k, v)
					}
				}
				if tc.status == http.StatusOK && a.set["x-user-id"] != tc.subject && (transport != "grpc" || tc.subject != "") {
					t.Errorf("%s: X-User-Id %q, want %q", transport, a.set["x-user-id"], tc.subject)
				}
			}

			s.up.Reset()
			hr, err := http.NewRequest(http.MethodGet, s.proxyURL+tc.r.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			hr.Host = "shop.example.com"
			for _, kv := range tc.r.header {
				hr.Header[kv[0]] = append(hr.Header[kv[0]], kv[1]) // spelling kept as sent
			}
			res, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("through Envoy: status %d, want %d", res.StatusCode, tc.status)
			}
			seen, reached := s.up.Last()
			if reached != (tc.status == http.StatusOK) {
				t.Fatalf("upstream reached = %v", reached)
			}
			if !reached {
				return
			}
			for name, vs := range seen.Header {
				for _, v := range vs {
					if strings.Contains(v, "mallory") {
						t.Errorf("upstream got %s: %s", name, v)
					}
				}
				if strings.Contains(name, "_") {
					t.Errorf("upstream got the underscore header %s", name)
				}
			}
			if got := strings.Join(seen.Header.Values("X-User-Id"), ","); got != tc.subject {
				t.Errorf("upstream X-User-Id = %q, want %q", got, tc.subject)
			}
		})
	}
}
