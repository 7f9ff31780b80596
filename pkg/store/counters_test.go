package store

import (
	"strconv"
	"testing"

	"github.com/authgate/authgate/pkg/policy"
)

// TestCounter: each (owner, transport, reason, verdict) gets the value its
// first derive made, every later call returns it without deriving again,
// and outcomes never see each other's values, however many a policy sees.
func TestCounter(t *testing.T) {
	type outcome struct {
		owner             *int
		transport, reason string
		allow             bool
	}
	a, b := new(int), new(int)
	tests := map[string][]outcome{
		"one":           {{a, "grpc", "allowed", true}},
		"per transport": {{a, "grpc", "allowed", true}, {a, "http", "allowed", true}},
		"per reason":    {{a, "http", "no_credential", false}, {a, "http", "invalid_token", false}},
		"per verdict":   {{a, "grpc", "dry_run_deny", true}, {a, "grpc", "dry_run_deny", false}},
		"per owner":     {{a, "grpc", "allowed", true}, {b, "grpc", "allowed", true}},
		"many": func() []outcome {
			var os []outcome
			for i := range 40 {
				os = append(os, outcome{a, "t" + strconv.Itoa(i%3), "r" + strconv.Itoa(i), i%2 == 0})
			}
			return os
		}(),
	}
	for name, outcomes := range tests {
		t.Run(name, func(t *testing.T) {
			c := Build([]*policy.Policy{pol("a", "p", 1, "a.com")}, factory{}).Lookup("a.com")
			derived := 0
			for round := range 2 {
				for i, o := range outcomes {
					key := CounterKey{Owner: o.owner, Transport: o.transport, Reason: o.reason, Allow: o.allow}
					got := c.Counter(key, func() any { derived++; return i })
					if got != i {
						t.Fatalf("round %d: %+v = %v, want %d", round, o, got, i)
					}
				}
			}
			if derived != len(outcomes) {
				t.Fatalf("derived %d times for %d outcomes", derived, len(outcomes))
			}
		})
	}
	var zero Compiled
	if got := zero.Counter(CounterKey{Owner: a, Transport: "grpc", Reason: "allowed", Allow: true}, func() any { return "made" }); got != "made" {
		t.Fatalf("a Compiled not made by Build: %v", got)
	}
}
