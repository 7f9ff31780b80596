package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"

	"github.com/authgate/authgate/pkg/observability/tracing/otlp"
	"github.com/authgate/authgate/pkg/server"
)

// traceFlushTimeout bounds how long shutdown waits to send the spans still
// queued.
const traceFlushTimeout = 5 * time.Second

// tracingFlags are serve's OpenTelemetry flags.
type tracingFlags struct {
	endpoint string
	insecure bool
	ratio    float64
}

func (t *tracingFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.endpoint, "otlp-endpoint", "", "host:port of an OTLP/gRPC collector to send traces to (default: tracing off)")
	fs.BoolVar(&t.insecure, "otlp-insecure", false, "send traces to the OTLP collector without TLS")
	fs.Float64Var(&t.ratio, "trace-sample-ratio", 1, "share (0-1) of the traces authgate starts itself that are sampled; a request with a traceparent follows its caller's sampling decision")
}

// start sets cfg.TracerProvider when an endpoint is given and returns the
// function that flushes queued spans and stops the exporter, to run after
// the server has stopped.
func (t *tracingFlags) start(ctx context.Context, cfg *server.Config, log logr.Logger) (func(), error) {
	if t.ratio < 0 || t.ratio > 1 {
		return nil, fmt.Errorf("--trace-sample-ratio %v: must be between 0 and 1", t.ratio)
	}
	if t.endpoint == "" {
		return func() {}, nil
	}
	tp, err := otlp.New(ctx, otlp.Config{Endpoint: t.endpoint, Insecure: t.insecure, SampleRatio: t.ratio, ServiceVersion: version})
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	tlog := log.WithName("tracing")
	// The SDK reports export failures to one process-wide handler; this is
	// the process, so route them to the log. They cost spans, never a
	// decision.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		tlog.Error(err, "OpenTelemetry export failed; spans may be lost, decisions are unaffected")
	}))
	cfg.TracerProvider = tp
	log.Info("tracing enabled", "otlpEndpoint", t.endpoint, "insecure", t.insecure, "sampleRatio", t.ratio)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceFlushTimeout)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			tlog.Error(err, "failed to flush traces on shutdown")
		}
	}, nil
}
