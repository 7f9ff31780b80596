package store

// CounterKey names one outcome of a compiled policy's decisions, as the
// decision engine counts them (Compiled.Counter).
type CounterKey struct {
	// Owner is the engine's metrics: engines may share a store, not their
	// metrics. It must be comparable (a pointer).
	Owner             any
	Transport, Reason string
	Allow             bool
}

// Counter returns what the decision engine counts this policy's decisions
// of one outcome on (its metric series): the value derive made the first
// time key was asked for.
//
// It is read on every request, which is why it is kept here: the decision
// holds the compiled policy already, and the block of its outcomes
// (memo.Table) is one more read, whatever the number of policies and
// whatever the mix of outcomes. A map of every policy's series, keyed by
// the policy's name, costs several cache misses per request with thousands
// of policies (BenchmarkDecisionSpread in test/bench); a list walked entry
// by entry costs one per entry. A policy sees a few outcomes (transports
// times reasons), so the block stays small and is copied rarely.
func (c *Compiled) Counter(key CounterKey, derive func() any) any {
	return c.counters.Get(key, derive)
}
