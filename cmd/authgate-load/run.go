package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
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
	st, err := startStack(ctx)
	if err != nil {
		return nil, err
	}
	defer st.close()

	rep := &Report{Workers: cfg.Workers, Conns: cfg.Conns, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), CPUs: runtime.GOMAXPROCS(0)}
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

// measure runs the floor, then each scenario, on one transport.
func measure(ctx context.Context, cfg Config, st *stack, scs []scenario, transport string, authgate, floor target, log io.Writer) ([]Result, error) {
	hit, err := prepareTokenHit(ctx, st, cfg.Pool)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: floor\n", transport)
	fr := summarize(floorName, transport, drive(ctx, floor, hit, cfg.Workers, cfg.Warmup, cfg.Duration))
	out := []Result{fr}
	for _, sc := range scs {
		fmt.Fprintf(log, "%s: %s (%s)\n", transport, sc.name, sc.about)
		src, err := sc.prepare(ctx, st, cfg.Pool)
		if err != nil {
			return nil, fmt.Errorf("failed to prepare %s: %w", sc.name, err)
		}
		smp := drive(ctx, authgate, src, cfg.Workers, cfg.Warmup, cfg.Duration)
		if (sc.name == "token-new" || sc.name == "cookie-cold") && smp.attempts > uint64(cfg.Pool) {
			fmt.Fprintf(log, "warning: %s sent %d requests with %d credentials: raise -pool\n", sc.name, smp.attempts, cfg.Pool)
		}
		r := summarize(sc.name, transport, smp)
		r.against(fr)
		out = append(out, r)
	}
	return out, ctx.Err()
}
