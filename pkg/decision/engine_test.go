package decision

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
		badRequest             bool // the adapter refuses it before Check (Engine.Record)
	}
	const (
		shopAllowGRPC = "allow allowed shop shop grpc"
		shopAllowHTTP = "allow allowed shop shop http"
		shopInvalid   = "deny invalid_token shop shop http"
		shopNoCred    = "deny no_credential shop shop http"
		shopDryRun    = "allow dry_run_deny shop shop http"
		noPolicy      = "deny unknown_host   grpc"
		badRequest    = "deny bad_request   http"
	)
	tests := map[string]struct {
		dryRun bool
		calls  []call
		want   map[string]int // "decision reason policy_namespace policy transport": count
	}{
		"one outcome": {
			calls: []call{{transport: "grpc", host: "shop.example.com", authz: "bearer alice"}, {transport: "grpc", host: "shop.example.com", authz: "bearer alice"}},
			want:  map[string]int{shopAllowGRPC: 2},
		},
		"per transport and outcome": {
			calls: []call{
				{transport: "grpc", host: "shop.example.com", authz: "bearer alice"},
				{transport: "http", host: "shop.example.com", authz: "bearer alice"},
				{transport: "http", host: "shop.example.com"},
				{transport: "http", host: "shop.example.com", authz: "bearer bad"},
				{transport: "http", host: "shop.example.com"},
			},
			want: map[string]int{shopAllowGRPC: 1, shopAllowHTTP: 1, shopInvalid: 1, shopNoCred: 2},
		},
		"across snapshots": {
			calls: []call{
				{transport: "grpc", host: "shop.example.com", authz: "bearer alice"},
				{transport: "grpc", host: "shop.example.com", authz: "bearer alice", rebuild: true},
				{transport: "grpc", host: "shop.example.com", authz: "bearer alice", rebuild: true},
			},
			want: map[string]int{shopAllowGRPC: 3},
		},
		"DryRun counts the would-be denial as an allow": {
			dryRun: true,
			calls:  []call{{transport: "http", host: "shop.example.com"}, {transport: "http", host: "shop.example.com", authz: "bearer alice"}},
			want:   map[string]int{shopDryRun: 1, shopAllowHTTP: 1},
		},
		"no policy": {
			calls: []call{
				{transport: "grpc", host: "nowhere.example.com", authz: "bearer alice"},
				{transport: "grpc", host: "shop.example.com", authz: "bearer alice"},
				{transport: "http", host: "shop.example.com", badRequest: true},
			},
			want: map[string]int{shopAllowGRPC: 1, noPolicy: 1, badRequest: 1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var s store.Store
			s.Apply(snapshot(t, shop(tc.dryRun)))
			// Two engines on one store, each with its own metrics: the
			// second decides everything twice, the first once.
			regs := [2]*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
			engines := [2]*Engine{
				{Store: &s, Metrics: observability.NewMetrics(regs[0])},
				{Store: &s, Metrics: observability.NewMetrics(regs[1])},
			}
			for _, c := range tc.calls {
				if c.rebuild {
					s.Apply(snapshot(t, shop(tc.dryRun)))
				}
				r := req(c.host, "GET", "/api/x", c.authz)
				r.Transport = c.transport
				for i, e := range [...]*Engine{engines[0], engines[1], engines[1]} {
					if c.badRequest {
						e.Record(r, BadRequest("malformed"), time.Millisecond)
						continue
					}
					if d := e.Check(context.Background(), r); i == 0 && d.compiled == nil && d.Policy != "" {
						t.Fatalf("a decision under %s does not hold its compiled policy", d.Policy)
					}
				}
			}
			for i, reg := range regs {
				want := map[string]int{}
				for k, n := range tc.want {
					want[k] = n * (i + 1)
				}
				if got := decisionCounts(t, reg); !maps.Equal(got, want) {
					t.Errorf("engine %d counted %v, want %v", i, got, want)
				}
			}
		})
	}
}

// decisionCounts reads authgate_decisions_total from reg, by label values
// ("decision reason policy_namespace policy transport").
func decisionCounts(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "authgate_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := strings.Join([]string{labels["decision"], labels["reason"], labels["policy_namespace"], labels["policy"], labels["transport"]}, " ")
			got[key] = int(m.GetCounter().GetValue())
		}
	}
	return got
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
