package store

import "unsafe"

// counter is one entry of a compiled policy's counters. Entries live in
// one block, copied whole when an entry is added, so that finding one reads
// a single run of memory hanging off the policy.
type counter struct {
	// n is the number of entries in the block; every entry holds it, so
	// that a pointer to the first one is the whole block.
	n                 int
	owner             any
	transport, reason string
	allow             bool
	value             any
}

// Counter returns what the decision engine counts this policy's decisions
// of one outcome on (its metric series): the value made by derive the first
// time owner (the engine's metrics: engines may share a store, not their
// metrics) asked for that transport, reason and verdict. owner must be
// comparable, a pointer.
//
// It is read on every request, which is why it is here: the decision holds
// the compiled policy already, and the block of its outcomes is one more
// read, whatever the number of policies and whatever the mix of outcomes.
// A map of every policy's series, keyed by the policy's name, costs several
// cache misses per request with thousands of policies (BenchmarkDecisionSpread
// in test/bench); a list walked entry by entry costs one per entry. A
// policy sees a few outcomes (transports times reasons), so the block stays
// small and is copied rarely. Values are shared by every request after and
// must not be modified.
func (c *Compiled) Counter(owner any, transport, reason string, allow bool, derive func() any) any {
	head := c.counters.Load()
	if v, ok := findCounter(head, owner, transport, reason, allow); ok {
		return v
	}
	v := derive()
	for {
		n := 0
		if head != nil {
			n = head.n
		}
		block := make([]counter, n+1)
		if head != nil {
			copy(block, unsafe.Slice(head, n))
		}
		block[n] = counter{owner: owner, transport: transport, reason: reason, allow: allow, value: v}
		for i := range block {
			block[i].n = n + 1
		}
		if c.counters.CompareAndSwap(head, &block[0]) {
			return v
		}
		// Another outcome (or this one) was added meanwhile.
		head = c.counters.Load()
		if found, ok := findCounter(head, owner, transport, reason, allow); ok {
			return found
		}
	}
}

func findCounter(head *counter, owner any, transport, reason string, allow bool) (any, bool) {
	if head == nil {
		return nil, false
	}
	es := unsafe.Slice(head, head.n)
	for i := range es {
		if e := &es[i]; e.owner == owner && e.transport == transport && e.reason == reason && e.allow == allow {
			return e.value, true
		}
	}
	return nil, false
}
