package decision

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authgate/authgate/pkg/observability"
	"github.com/authgate/authgate/pkg/store"
)

// TestEngineCountsDecisions: the engine counts a decision made under a
// policy on the series the compiled policy keeps (Engine.observe), and the
// counts are those authgate_decisions_total reported when every decision
// went through the map of all series: per transport and outcome, across a
// new snapshot of the same policy, with each engine on its own registry
// even when engines share a store, and for decisions without a policy.
func TestEngineCountsDecisions(t *testing.T) {
	type call struct {
		transport, host, authz string
		rebuild                bool // apply a new snapshot of the same policies first
	}
	const (
		shopAllowGRPC = `decision="allow",policy="shop",policy_namespace="shop",reason="allowed",transport="grpc"`
		shopAllowHTTP = `decision="allow",policy="shop",policy_namespace="shop",reason="allowed",transport="http"`
		shopInvalid   = `decision="deny",policy="shop",policy_namespace="shop",reason="invalid_token",transport="http"`
		shopNoCred    = `decision="deny",policy="shop",policy_namespace="shop",reason="no_credential",transport="http"`
		noPolicy      = `decision="deny",policy="",policy_namespace="",reason="unknown_host",transport="grpc"`
	)
	tests := map[string]struct {
		calls []call
		want  map[string]int // labels of authgate_decisions_total: count
	}{
		"one outcome": {
			calls: []call{{"grpc", "shop.example.com", "bearer alice", false}, {"grpc", "shop.example.com", "bearer alice", false}},
			want:  map[string]int{shopAllowGRPC: 2},
		},
		"per transport and outcome": {
			calls: []call{
				{"grpc", "shop.example.com", "bearer alice", false},
				{"http", "shop.example.com", "bearer alice", false},
				{"http", "shop.example.com", "", false},
				{"http", "shop.example.com", "bearer bad", false},
				{"http", "shop.example.com", "", false},
			},
			want: map[string]int{shopAllowGRPC: 1, shopAllowHTTP: 1, shopInvalid: 1, shopNoCred: 2},
		},
		"across snapshots": {
			calls: []call{
				{"grpc", "shop.example.com", "bearer alice", false},
				{"grpc", "shop.example.com", "bearer alice", true},
				{"grpc", "shop.example.com", "bearer alice", true},
			},
			want: map[string]int{shopAllowGRPC: 3},
		},
		"no policy": {
			calls: []call{{"grpc", "nowhere.example.com", "bearer alice", false}, {"grpc", "shop.example.com", "bearer alice", false}},
			want:  map[string]int{shopAllowGRPC: 1, noPolicy: 1},
		},
	}
	// exposition renders want, each count times k, as /metrics shows it.
	exposition := func(want map[string]int, k int) io.Reader {
		var b strings.Builder
		b.WriteString("# HELP authgate_decisions_total Decisions made, by transport, verdict, reason and policy (namespace and name; empty when no policy claimed the host).\n")
		b.WriteString("# TYPE authgate_decisions_total counter\n")
		for labels, n := range want {
			fmt.Fprintf(&b, "authgate_decisions_total{%s} %d\n", labels, n*k)
		}
		return strings.NewReader(b.String())
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var s store.Store
			s.Apply(snapshot(t, shop(false)))
			// Two engines on one store, each with its own metrics: the
			// second decides everything twice, the first once.
			regs := [2]*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
			engines := [2]*Engine{
				{Store: &s, Metrics: observability.NewMetrics(regs[0])},
				{Store: &s, Metrics: observability.NewMetrics(regs[1])},
			}
			for _, c := range tc.calls {
				if c.rebuild {
					s.Apply(snapshot(t, shop(false)))
				}
				r := req(c.host, "GET", "/api/x", c.authz)
				r.Transport = c.transport
				engines[0].Check(context.Background(), r)
				engines[1].Check(context.Background(), r)
				engines[1].Check(context.Background(), r)
			}
			for i, reg := range regs {
				if err := testutil.GatherAndCompare(reg, exposition(tc.want, i+1), "authgate_decisions_total"); err != nil {
					t.Errorf("engine %d: %v", i, err)
				}
			}
		})
	}
}

// TestEngineObserveDoesNotAllocate: counting a decision on its policy's
// series allocates nothing once the series is known (the key is compared
// without boxing it, memo.Find).
func TestEngineObserveDoesNotAllocate(t *testing.T) {
	var s store.Store
	s.Apply(snapshot(t, shop(false)))
	e := &Engine{Store: &s, Metrics: observability.NewMetrics(prometheus.NewRegistry())}
	r := req("shop.example.com", "GET", "/api/x", "bearer alice")
	d := e.Check(context.Background(), r)
	if !d.Allow {
		t.Fatalf("not allowed: %s", d.Reason)
	}
	if n := testing.AllocsPerRun(100, func() { e.observe(r, d, 1) }); n != 0 {
		t.Fatalf("observe allocates %v times per decision", n)
	}
}
