// Package store compiles policies into an immutable Snapshot (a host index,
// rule matchers, authenticators and header plans, all built once) and
// publishes it with an atomic pointer swap, so every request reads one
// consistent snapshot without locks and reloads never block decisions.
package store

import (
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/pkg/authn"
	"github.com/authgate/authgate/pkg/policy"
)

// Factory builds the authenticator for one policy entry.
type Factory interface {
	New(a *policy.Authenticator) (authn.Authenticator, error)
}

// Snapshot is an immutable set of compiled policies.
type Snapshot struct {
	exact    map[string]*Compiled
	wildcard map[string]*Compiled // "*.example.com" is stored as "example.com"
	policies []*Compiled
	problems []Problem
	built    time.Time
}

// Problem says why a policy is not in the snapshot (or only partly).
type Problem struct {
	Policy string // namespace/name
	Reason string // "Invalid" or "HostConflict"
	// Holder is the policy that kept the host, for HostConflict.
	Holder  string
	Message string
}

// Lookup returns the policy for a canonical host: an exact host first, then
// the most specific wildcard ("*.a.example.com" before "*.example.com").
func (s *Snapshot) Lookup(host string) *Compiled {
	if s == nil {
		return nil
	}
	if c, ok := s.exact[host]; ok {
		return c
	}
	if len(s.wildcard) == 0 {
		return nil
	}
	// A wildcard matches one or more labels: try each parent domain.
	for i := strings.IndexByte(host, '.'); i >= 0; {
		if c, ok := s.wildcard[host[i+1:]]; ok {
			return c
		}
		j := strings.IndexByte(host[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return nil
}

// Policies returns the compiled policies in precedence order.
func (s *Snapshot) Policies() []*Compiled { return s.policies }

// Problems returns the policies that were rejected or lost a host.
func (s *Snapshot) Problems() []Problem { return s.problems }

// Built is when the snapshot was compiled.
func (s *Snapshot) Built() time.Time { return s.built }

// Build compiles policies into a snapshot. Policies are ordered by creation
// time, then namespace/name; a policy that claims a host an earlier one holds
// loses as a whole (HostConflict), so the outcome never depends on the order
// policies were read in. Invalid policies are left out and reported.
func Build(policies []*policy.Policy, f Factory) *Snapshot {
	sorted := append([]*policy.Policy(nil), policies...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Key() < b.Key()
	})
	s := &Snapshot{
		exact:    map[string]*Compiled{},
		wildcard: map[string]*Compiled{},
		built:    time.Now(),
	}
	var memo buildMemo
	for _, p := range sorted {
		if err := p.Validate(); err != nil {
			s.problems = append(s.problems, Problem{Policy: p.Key(), Reason: "Invalid", Message: err.Error()})
			continue
		}
		if holder, host := s.claimedBy(p); holder != nil {
			s.problems = append(s.problems, Problem{
				Policy: p.Key(), Reason: "HostConflict", Holder: holder.Policy.Key(),
				Message: "host " + host + " is already claimed by " + holder.Policy.Key(),
			})
			continue
		}
		c, err := compile(p, f, &memo)
		if err != nil {
			s.problems = append(s.problems, Problem{Policy: p.Key(), Reason: "Invalid", Message: err.Error()})
			continue
		}
		for _, h := range p.Hosts {
			if rest, ok := strings.CutPrefix(h, "*."); ok {
				s.wildcard[rest] = c
			} else {
				s.exact[h] = c
			}
		}
		s.policies = append(s.policies, c)
	}
	return s
}

func (s *Snapshot) claimedBy(p *policy.Policy) (*Compiled, string) {
	for _, h := range p.Hosts {
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			if c, ok := s.wildcard[rest]; ok {
				return c, h
			}
		} else if c, ok := s.exact[h]; ok {
			return c, h
		}
	}
	return nil, ""
}

// Store publishes the current snapshot.
type Store struct {
	current atomic.Pointer[Snapshot]
}

// Load returns the current snapshot, or nil before the first Apply.
func (s *Store) Load() *Snapshot { return s.current.Load() }

// Apply makes snap the current snapshot.
func (s *Store) Apply(snap *Snapshot) { s.current.Store(snap) }

// Ready reports whether a snapshot has been applied.
func (s *Store) Ready() bool { return s.current.Load() != nil }
