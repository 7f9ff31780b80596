package main

import (
	"context"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/authgate/authgate/pkg/server"
)

// TestTracingFlags: the flags become a tracer provider only with an
// endpoint, bad values fail start-up with the flag's name, and stopping
// returns within the flush timeout even when the collector is down.
func TestTracingFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String() // nothing listens here once closed
	_ = ln.Close()

	tests := map[string]struct {
		args       []string
		wantErr    string
		wantTraced bool
	}{
		"off by default":            {},
		"ratio without an endpoint": {args: []string{"--trace-sample-ratio", "0.5"}},
		"on":                        {args: []string{"--otlp-endpoint", down, "--otlp-insecure", "--trace-sample-ratio", "0.1"}, wantTraced: true},
		"ratio out of range":        {args: []string{"--trace-sample-ratio", "1.5"}, wantErr: "--trace-sample-ratio"},
		"endpoint without a port":   {args: []string{"--otlp-endpoint", "otel-collector"}, wantErr: "--otlp-endpoint"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var tf tracingFlags
			tf.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var cfg server.Config
			stop, err := tf.start(context.Background(), &cfg, logr.Discard())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.TracerProvider != nil) != tc.wantTraced {
				t.Errorf("tracer provider set: %v, want %v", cfg.TracerProvider != nil, tc.wantTraced)
			}
			start := time.Now()
			stop()
			if took := time.Since(start); took > traceFlushTimeout+time.Second {
				t.Errorf("stopping took %v, past the flush timeout", took)
			}
		})
	}
}
