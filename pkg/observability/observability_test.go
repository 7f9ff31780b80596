package observability

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseLevel(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    int8
		wantErr bool
	}{
		"default": {in: "", want: 0},
		"info":    {in: "info", want: 0},
		"debug":   {in: "debug", want: -1},
		"error":   {in: "error", want: 2},
		"v2":      {in: "2", want: -2},
		"bad":     {in: "loud", wantErr: true},
		"too big": {in: "11", wantErr: true},
		"neg":     {in: "-1", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseLevel(tc.in)
			if (err != nil) != tc.wantErr || (!tc.wantErr && int8(got) != tc.want) {
				t.Fatalf("parseLevel(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func TestLoggerWritesJSONAndHonoursVerbosity(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(LogConfig{Level: "info", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("shown", KeyHost, "a.com")
	log.V(1).Info("hidden")
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["msg"] != "shown" || line[KeyHost] != "a.com" {
		t.Fatalf("line = %v", line)
	}
}

// TestMetricsUseTheirOwnRegistry: two instances never collide, because
// nothing is registered on the global registry.
func TestMetricsUseTheirOwnRegistry(t *testing.T) {
	a, b := prometheus.NewRegistry(), prometheus.NewRegistry()
	ma := NewMetrics(a)
	NewMetrics(b)
	ma.ObserveDecision("grpc", true, "allowed", "ns/p", time.Millisecond)
	if got := decisions(t, a, "grpc", "allow", "allowed", "ns", "p"); got != 1 {
		t.Fatalf("decisions = %v", got)
	}
	if got := decisions(t, b, "grpc", "allow", "allowed", "ns", "p"); got != 0 {
		t.Fatalf("the second instance counted the first's decision")
	}
	if n, err := testutil.GatherAndCount(a, "authgate_decision_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("histogram series = %d, %v", n, err)
	}
}
