package authrequest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
)

// discard is a ResponseWriter that keeps the headers and drops the body,
// reset between iterations as net/http does between requests.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkWrite is the cost of writing an allowed decision's headers as
// the answer to nginx (and, with envoy, the HTTP ext_authz service).
func BenchmarkWrite(b *testing.B) {
	d := &decision.Decision{
		Allow: true, Status: 200, Reason: decision.ReasonAllowed,
		Identity: &authn.Identity{Subject: "alice"},
		Set: []decision.Header{
			{Name: "X-Authgear-Session-Valid", Value: "true"},
			{Name: "X-Authgear-User-Id", Value: "alice"},
			{Name: "X-Authgear-User-Verified", Value: "true"},
			{Name: "X-Authgear-User-Roles", Value: "viewer,editor"},
			{Name: "X-User-Id", Value: "alice"},
		},
		Remove: []string{"x-auth-request-user", "x_auth_request_user", "x-authgear-session-amr", "x_authgear_session_amr"},
		MaxAge: time.Hour,
	}
	d.RemoveJoined = strings.Join(d.Remove, ",") // as the decision makes it, once per list
	for _, envoy := range []bool{false, true} {
		name := "nginx"
		if envoy {
			name = "envoy"
		}
		b.Run(name, func(b *testing.B) {
			w := &discard{h: make(http.Header, 16)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				write(w, d, envoy)
			}
		})
	}
}
