package store

import (
	"fmt"
	"reflect"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
)

// sharedAuthenticator is one authenticator built during a Build, with the
// entry it was built from.
type sharedAuthenticator struct {
	cfg *policy.Authenticator
	a   authn.Authenticator
}

// authenticator returns the authenticator for cfg, built by f the first
// time an equal entry is seen in this Build and shared by every policy with
// an equal entry after. Thousands of tenants of one identity provider then
// cost one authenticator (and one key warm-up), not one each. This is sound
// because an authenticator depends on its entry alone (a Factory must not
// build different authenticators for equal entries), and the caches behind
// it are keyed by that configuration already.
func (m *buildMemo) authenticator(f Factory, cfg *policy.Authenticator) (authn.Authenticator, error) {
	key := authenticatorKey(cfg)
	if s, ok := m.authenticators[key]; ok && reflect.DeepEqual(s.cfg, cfg) {
		return s.a, nil
	}
	a, err := f.New(cfg)
	if err != nil {
		return nil, err
	}
	if m.authenticators == nil {
		m.authenticators = map[string]sharedAuthenticator{}
	}
	m.authenticators[key] = sharedAuthenticator{cfg: cfg, a: a}
	return a, nil
}

// authenticatorKey renders every field of the entry in Go syntax. %#v
// prints a policy.Secret's value, not its redacted String, so entries that
// differ only in a client secret get different keys; the key lives in this
// map only and is never logged. DeepEqual confirms a hit all the same.
func authenticatorKey(cfg *policy.Authenticator) string {
	key := fmt.Sprintf("%q", cfg.Name)
	if cfg.JWT != nil {
		key += fmt.Sprintf("\x00jwt%#v", *cfg.JWT)
	}
	if cfg.Session != nil {
		key += fmt.Sprintf("\x00session%#v", *cfg.Session)
	}
	if cfg.Introspection != nil {
		key += fmt.Sprintf("\x00introspection%#v", *cfg.Introspection)
	}
	return key
}
