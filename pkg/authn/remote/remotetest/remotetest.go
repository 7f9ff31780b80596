// Package remotetest has what the tests of resolver-backed authenticators
// (sessions, introspection) share: the three classes of result the decision
// engine tells apart.
package remotetest

import (
	"errors"
	"testing"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/authn/remote"
)

// Outcome is what the decision engine would make of Authenticate's result.
type Outcome int

// The outcomes.
const (
	Accepted Outcome = iota
	Rejected         // ErrInvalid: 401
	Failed           // ErrUpstream and not ErrInvalid: 503
)

func (o Outcome) String() string {
	return [...]string{"accepted", "rejected (401)", "failed (503)"}[o]
}

// Want checks the exact class of the result: an identity and no error, an
// invalid credential that is not an upstream failure, or an upstream
// failure that is not an invalid credential, never with an identity.
func Want(t testing.TB, id *authn.Identity, err error, want Outcome) {
	t.Helper()
	switch want {
	case Accepted:
		if err != nil || id == nil {
			t.Fatalf("want %v, got identity %v, error %v", want, id, err)
		}
	case Rejected:
		if !errors.Is(err, authn.ErrInvalid) || errors.Is(err, remote.ErrUpstream) || id != nil {
			t.Fatalf("want %v, got identity %v, error %v", want, id, err)
		}
	case Failed:
		if !errors.Is(err, remote.ErrUpstream) || errors.Is(err, authn.ErrInvalid) || id != nil {
			t.Fatalf("want %v, got identity %v, error %v", want, id, err)
		}
	}
}
