// Package soak holds the long-running reliability tests of the built
// authgate binary: a soak at a fixed rate of mixed traffic over gRPC ext_authz
// and HTTP with a resolver outage injected part-way (every answer checked,
// memory and goroutines sampled), and SIGTERM in the middle of load (in-flight
// checks drained, readiness false first, exit 0). docs/reliability.md
// describes the method and the figures of a real run.
//
// The soak's length comes from -soak.duration or AUTHGATE_SOAK_DURATION
// (default 15s, what make test runs); make soak runs it for 60s.
package soak
