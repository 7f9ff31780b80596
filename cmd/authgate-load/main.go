// Package main is authgate-load, a closed-loop load generator that measures
// authgate against "floors": trivial servers speaking the same protocols
// (an always-OK ext_authz gRPC server and an always-200 HTTP handler), run
// in the same process on the same machine in the same run. The ratios to the
// floors say how much of the cost is authgate's own, independent of how fast
// the machine is.
//
// Everything listens on loopback and every phase is bounded by -warmup and
// -duration, so a run stops by itself:
//
//	go run ./cmd/authgate-load -duration 5s -workers 64 -conns 8
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/authgate/authgate/pkg/server/extauthz"
)

func main() {
	cfg := Config{}
	flag.IntVar(&cfg.Workers, "workers", 64, "concurrent closed-loop workers per measurement")
	flag.IntVar(&cfg.Conns, "conns", 8, "connections: gRPC ClientConns (round-robin) or HTTP MaxConnsPerHost")
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured time per scenario and transport")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured time before each measurement")
	scenarios := flag.String("scenarios", "all", "comma-separated scenarios, or all: "+strings.Join(scenarioNames(), ","))
	transports := flag.String("transports", "grpc,http", "comma-separated transports: grpc,http")
	grpcMeta := flag.String("grpc-metadata", "none", "authgate's --grpc-metadata: none, identity or claims")
	flag.IntVar(&cfg.Rounds, "rounds", 5, "slices each measurement is taken in, in turn with the floor's, so that drift in the machine's speed cancels out of the ratios")
	flag.IntVar(&cfg.Pool, "pool", 60000, "credentials pre-made for token-new and cookie-cold (reused round-robin if a run needs more)")
	jsonOut := flag.Bool("json", false, "print the report as JSON instead of a table")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (client, authgate and floors share the process) to this file")
	flag.Parse()
	if *scenarios != "all" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	cfg.Transports = strings.Split(*transports, ",")
	meta, err := extauthz.ParseMetadata(*grpcMeta)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authgate-load: -grpc-metadata:", err)
		os.Exit(2)
	}
	cfg.GRPCMetadata = meta

	if err := run(cfg, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "authgate-load:", err)
		os.Exit(1)
	}
}

// cpuProfile is the -cpuprofile file, "" for none.
var cpuProfile string

// run measures and prints the report; main only exits, so deferred
// clean-ups here always run.
func run(cfg Config, jsonOut bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := Run(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	if jsonOut {
		return rep.WriteJSON(os.Stdout)
	}
	return rep.WriteTable(os.Stdout)
}
