// Package decisiontest has what the transports' tests share to exercise a
// decision engine without credentials or I/O.
package decisiontest

import (
	"context"
	"errors"
	"testing"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/decision"
	"github.com/authgate/authgate/pkg/policy"
	"github.com/authgate/authgate/pkg/request"
	"github.com/authgate/authgate/pkg/store"
)

// Traceparent is a sampled W3C trace context (the specification's example).
const Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// absent is an authenticator whose credential is never in the request, so
// the anonymous rule decides without I/O.
type absent struct{}

func (absent) Name() string                  { return "bearer" }
func (absent) Present(*request.Request) bool { return false }
func (absent) Authenticate(context.Context, *request.Request) (*authn.Identity, error) {
	return nil, errors.New("never called")
}

type absentFactory struct{}

func (absentFactory) New(*policy.Authenticator) (authn.Authenticator, error) { return absent{}, nil }

// AnonymousEngine allows every request to shop.example.com anonymously: the
// cheapest full decision, so that what an adapter adds stands out.
func AnonymousEngine(t testing.TB) *decision.Engine {
	t.Helper()
	snap := store.Build([]*policy.Policy{{
		Namespace: "shop", Name: "shop", Hosts: []string{"shop.example.com"},
		Authenticators: []policy.Authenticator{{Name: "bearer", JWT: &policy.JWT{Issuer: "https://auth.example.com", Audiences: []string{"shop"}}}},
		Rules:          []policy.Rule{{Name: "public", PathPrefix: "/", AllowAnonymous: true}},
	}}, absentFactory{})
	if len(snap.Problems()) > 0 {
		t.Fatalf("policy problems: %+v", snap.Problems())
	}
	st := &store.Store{}
	st.Apply(snap)
	return &decision.Engine{Store: st, Log: logr.Discard()}
}

// NoExtraAllocs fails t when run allocates more than baseline does: what a
// transport adds around deciding (tracing switched off, say) must cost no
// allocation. Allocation counts are exact only without the race detector,
// so under it the test is skipped; make test runs these tests again without
// it.
func NoExtraAllocs(t *testing.T, what string, baseline, run func()) {
	t.Helper()
	if RaceEnabled {
		t.Skip("allocation counts are noisy under the race detector; make test runs this without it")
	}
	want := testing.AllocsPerRun(200, baseline)
	if got := testing.AllocsPerRun(200, run); got > want {
		t.Errorf("%s allocates %v times, deciding alone %v: it must cost nothing", what, got, want)
	}
}
