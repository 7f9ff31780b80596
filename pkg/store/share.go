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
	// Translated policies share equal entries (translate's share), so the
	// same entry is usually seen again at the same address.
	if a, ok := m.entries[cfg]; ok {
		return a, nil
	}
	key := authenticatorKey(cfg)
	if s, ok := m.authenticators[key]; ok && reflect.DeepEqual(s.cfg, cfg) {
		m.remember(cfg, s.a)
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
	m.remember(cfg, a)
	return a, nil
}

func (m *buildMemo) remember(cfg *policy.Authenticator, a authn.Authenticator) {
	if m.entries == nil {
		m.entries = map[*policy.Authenticator]authn.Authenticator{}
	}
	m.entries[cfg] = a
}

// rulesKey names a policy's rules and authenticator entries by address:
// policies that share both lists (translate shares equal lists) compile to
// the same rules.
type rulesKey struct {
	rules *policy.Rule
	n     int
	auths *policy.Authenticator
	na    int
}

// rules returns the compiled rules for p made by an earlier policy with
// the same lists, or those compile makes, kept for the next.
func (m *buildMemo) rules(p *policy.Policy, compile func() []Rule) []Rule {
	if len(p.Rules) == 0 {
		return compile()
	}
	key := rulesKey{rules: &p.Rules[0], n: len(p.Rules)}
	if len(p.Authenticators) > 0 {
		key.auths, key.na = &p.Authenticators[0], len(p.Authenticators)
	}
	if rs, ok := m.ruleSets[key]; ok {
		return rs
	}
	rs := compile()
	if m.ruleSets == nil {
		m.ruleSets = map[rulesKey][]Rule{}
	}
	m.ruleSets[key] = rs
	return rs
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
