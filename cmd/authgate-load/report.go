package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// Result is one scenario on one transport.
type Result struct {
	Scenario  string  `json:"scenario"`
	Transport string  `json:"transport"`
	Requests  int     `json:"requests"`
	RPS       float64 `json:"rps"`
	P50       Millis  `json:"p50Ms"`
	P90       Millis  `json:"p90Ms"`
	P99       Millis  `json:"p99Ms"`
	P999      Millis  `json:"p999Ms"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"firstError,omitempty"`
	// RPSRatio is RPS over the floor's RPS; P99Ratio is p99 over the
	// floor's p99. Zero for the floors themselves.
	RPSRatio float64 `json:"rpsOverFloor,omitempty"`
	P99Ratio float64 `json:"p99OverFloor,omitempty"`
}

// Millis is a duration that prints and marshals as milliseconds.
type Millis time.Duration

// MarshalJSON writes milliseconds with microsecond precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(m)/float64(time.Millisecond))), nil
}

func (m Millis) String() string { return fmt.Sprintf("%.2f", float64(m)/float64(time.Millisecond)) }

// Report is one run: its settings and a result per scenario and transport,
// floors first.
type Report struct {
	Workers  int    `json:"workers"`
	Conns    int    `json:"conns"`
	Duration string `json:"duration"`
	Warmup   string `json:"warmup"`
	Rounds   int    `json:"rounds"`
	// GRPCMetadata is authgate's --grpc-metadata in the run.
	GRPCMetadata string   `json:"grpcMetadata"`
	CPUs         int      `json:"cpus"`
	Results      []Result `json:"results"`
}

func summarize(scenario, transport string, s sample) Result {
	r := Result{Scenario: scenario, Transport: transport, Requests: s.n, Errors: s.errors}
	if s.firstErr != nil {
		r.FirstErr = s.firstErr.Error()
	}
	if s.elapsed > 0 {
		r.RPS = float64(s.n) / s.elapsed.Seconds()
	}
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	r.P50, r.P90, r.P99, r.P999 = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), pct(lat, 0.999)
	return r
}

// pct is the nearest-rank percentile of sorted latencies.
func pct(sorted []time.Duration, p float64) Millis {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return Millis(sorted[i])
}

func (r *Result) against(floor Result) {
	if floor.RPS > 0 {
		r.RPSRatio = r.RPS / floor.RPS
	}
	if floor.P99 > 0 {
		r.P99Ratio = float64(r.P99) / float64(floor.P99)
	}
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as an aligned text table.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "workers=%d conns=%d duration=%s warmup=%s rounds=%d grpc-metadata=%s cpus=%d; latencies in ms\n\n",
		rep.Workers, rep.Conns, rep.Duration, rep.Warmup, rep.Rounds, rep.GRPCMetadata, rep.CPUs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttransport\treq/s\tp50\tp90\tp99\tp99.9\terrors\treq/s/floor\tp99/floor\t")
	for _, r := range rep.Results {
		ratio, p99 := "-", "-"
		if r.Scenario != floorName {
			ratio, p99 = fmt.Sprintf("%.2f", r.RPSRatio), fmt.Sprintf("%.1f", r.P99Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n",
			r.Scenario, r.Transport, r.RPS, r.P50, r.P90, r.P99, r.P999, r.Errors, ratio, p99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.FirstErr != "" {
			fmt.Fprintf(w, "\n%s/%s first error: %s", r.Scenario, r.Transport, r.FirstErr)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
