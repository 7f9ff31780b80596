package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/authgate/authgate/pkg/server/extauthz"
)

// floorName is the scenario name of the floor measurements.
const floorName = "floor"

// Config is one run of the tool.
type Config struct {
	Workers    int
	Conns      int
	Duration   time.Duration
	Warmup     time.Duration
	Scenarios  []string // empty: all
	Transports []string // "grpc", "http"; empty: both
	// Pool is how many credentials token-new and cookie-cold make up front.
	Pool int
	// Rounds splits each measurement into this many slices, taken in turn
	// (the floor, then each scenario, then the floor again...), so that a
	// machine whose speed drifts during the run (a shared or throttled VM)
	// slows the floor and authgate alike instead of skewing their ratio.
	Rounds int
	// GRPCMetadata is authgate's --grpc-metadata: what its allowed gRPC
	// answers carry in Envoy's dynamic metadata (none, as by default).
	GRPCMetadata extauthz.Metadata
}

func (c *Config) defaults() error {
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.Conns <= 0 {
		c.Conns = 8
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Warmup < 0 {
		return errors.New("warmup must not be negative")
	}
	if c.Pool <= 0 {
		c.Pool = 60000
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{"grpc", "http"}
	}
	for _, t := range c.Transports {
		if t != "grpc" && t != "http" {
			return fmt.Errorf("unknown transport %q (known: grpc, http)", t)
		}
	}
	return nil
}

// Run starts the stack, measures the floor of each transport and then every
// scenario on it, and returns the report. Progress goes to log.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	scs, err := selectScenarios(cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	st, err := startStack(ctx, cfg.GRPCMetadata)
	if err != nil {
		return nil, err
	}
	defer st.close()

	rep := &Report{Workers: cfg.Workers, Conns: cfg.Conns, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Rounds: cfg.Rounds, GRPCMetadata: cfg.GRPCMetadata.String(), CPUs: runtime.GOMAXPROCS(0)}
	for _, tr := range cfg.Transports {
		authgate, floor, err := targets(st, tr, cfg.Conns)
		if err != nil {
			return nil, err
		}
		results, err := measure(ctx, cfg, st, scs, tr, authgate, floor, log)
		authgate.close()
		floor.close()
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, results...)
	}
	return rep, nil
}

func targets(st *stack, transport string, conns int) (authgate, floor target, err error) {
	if transport == "http" {
		return newHTTPTarget("http://"+st.srv.HTTPAddr()+"/auth", conns), newHTTPTarget("http://"+st.floorHTTP+"/auth", conns), nil
	}
	a, err := newGRPCTarget(st.srv.GRPCAddr(), conns)
	if err != nil {
		return nil, nil, err
	}
	f, err := newGRPCTarget(st.floorGRPC, conns)
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, f, nil
}

// measure runs the floor, then each scenario, on one transport: in
// cfg.Rounds slices of Duration/Rounds each, taken in turn.
func measure(ctx context.Context, cfg Config, st *stack, scs []scenario, transport string, authgate, floor target, log io.Writer) ([]Result, error) {
	hit, err := prepareTokenHit(ctx, st, cfg.Pool)
	if err != nil {
		return nil, err
	}
	feeds := make([]feed, len(scs))
	for i, sc := range scs {
		if feeds[i], err = sc.prepare(ctx, st, cfg.Pool); err != nil {
			return nil, fmt.Errorf("failed to prepare %s: %w", sc.name, err)
		}
	}
	slice, warmup := cfg.Duration/time.Duration(cfg.Rounds), cfg.Warmup
	if cfg.Rounds > 1 {
		// Connections and caches are warm after the first round: later
		// slices only need the closed loop to reach its steady state.
		warmup = max(cfg.Warmup/time.Duration(cfg.Rounds), min(cfg.Warmup, 200*time.Millisecond))
	}
	var floorS sample
	samples := make([]sample, len(scs))
	for round := range cfg.Rounds {
		fmt.Fprintf(log, "%s: round %d/%d: floor\n", transport, round+1, cfg.Rounds)
		floorS.add(drive(ctx, floor, hit, cfg.Workers, warmup, slice))
		for i, sc := range scs {
			fmt.Fprintf(log, "%s: round %d/%d: %s (%s)\n", transport, round+1, cfg.Rounds, sc.name, sc.about)
			samples[i].add(drive(ctx, authgate, feeds[i], cfg.Workers, warmup, slice))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	fr := summarize(floorName, transport, floorS)
	out := []Result{fr}
	for i, sc := range scs {
		if (sc.name == "token-new" || sc.name == "cookie-cold") && samples[i].attempts > uint64(cfg.Pool) {
			fmt.Fprintf(log, "warning: %s sent %d requests with %d credentials: raise -pool\n", sc.name, samples[i].attempts, cfg.Pool)
		}
		r := summarize(sc.name, transport, samples[i])
		r.against(fr)
		out = append(out, r)
	}
	return out, ctx.Err()
}
