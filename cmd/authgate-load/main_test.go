package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunShort runs the tool briefly on both transports and checks the
// report's shape, never its speed.
func TestRunShort(t *testing.T) {
	tests := map[string]struct {
		scenario  string
		transport string
		rounds    int
	}{
		"token-hit over gRPC":             {scenario: "token-hit", transport: "grpc"},
		"cookie-cold over HTTP":           {scenario: "cookie-cold", transport: "http"},
		"token-hit over HTTP in 3 rounds": {scenario: "token-hit", transport: "http", rounds: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var log bytes.Buffer
			rep, err := Run(ctx, Config{
				Workers: 2, Conns: 1, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
				Scenarios: []string{tc.scenario}, Transports: []string{tc.transport}, Pool: 2000, Rounds: tc.rounds,
			}, &log)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 2 {
				t.Fatalf("got %d results, want the floor and %s: %+v", len(rep.Results), tc.scenario, rep.Results)
			}
			floor, r := rep.Results[0], rep.Results[1]
			if floor.Scenario != floorName || r.Scenario != tc.scenario || r.Transport != tc.transport {
				t.Fatalf("results = %+v", rep.Results)
			}
			for _, x := range rep.Results {
				if x.RPS <= 0 || x.Requests == 0 || x.P99 <= 0 {
					t.Errorf("%s: no throughput or latency: %+v", x.Scenario, x)
				}
				if x.Errors != 0 {
					t.Errorf("%s: %d errors, first: %s", x.Scenario, x.Errors, x.FirstErr)
				}
			}
			if r.RPSRatio <= 0 || r.P99Ratio <= 0 {
				t.Errorf("ratios not computed: %+v", r)
			}
			var table, js bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(table.String(), tc.scenario) {
				t.Errorf("table lacks %s:\n%s", tc.scenario, table.String())
			}
			if err := rep.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"rpsOverFloor"`) {
				t.Errorf("JSON (%v):\n%s", err, js.String())
			}
		})
	}
}

// TestInvalidTokensDenied checks the scenario that expects denials: a 10%
// share of invalid tokens must be answered 401 on both transports, so a
// deny that is counted as success is a real deny.
func TestInvalidTokensDenied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		Workers: 2, Conns: 1, Duration: 200 * time.Millisecond, Warmup: 0,
		Scenarios: []string{"token-invalid10"}, Pool: 100,
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Errors != 0 || r.Requests == 0 {
			t.Errorf("%s/%s: %d requests, %d errors, first: %s", r.Scenario, r.Transport, r.Requests, r.Errors, r.FirstErr)
		}
	}
}

func TestSelectScenarios(t *testing.T) {
	got, err := selectScenarios([]string{"cookie-cold", "token-hit", "token-hit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "token-hit" || got[1].name != "cookie-cold" {
		t.Errorf("got %v", got)
	}
	if _, err := selectScenarios([]string{"nope"}); err == nil {
		t.Error("an unknown scenario must be an error")
	}
}
