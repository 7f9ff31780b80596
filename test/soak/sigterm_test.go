package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/test/resolver"
)

// slowResolve is how long the resolver takes to answer during the SIGTERM
// test: the window in which the cookie checks are in flight and authgate
// must be draining, not serving new connections.
const slowResolve = 3 * time.Second

// TestSIGTERMUnderLoad sends SIGTERM to the built binary while fast checks
// stream in over both transports and slow ones (a resolver answering after
// slowResolve) are in flight. Readiness must turn false while the listeners
// are closed to new connections, every check that had arrived must still
// get its right answer, no answer may be a wrong allow, and the process
// must exit 0 within its grace period.
func TestSIGTERMUnderLoad(t *testing.T) {
	const grace = 20 * time.Second
	s := startStack(t, stackConfig{resolverTimeout: 10 * time.Second, shutdownGrace: grace})
	kinds := newKinds(t, s, 16)
	c := newClient(t, s, inFlight)
	var fast, cookies []*kind
	for _, k := range kinds {
		if k.resolved {
			if k.name == "cookie valid" {
				cookies = append(cookies, k)
			}
			continue
		}
		fast = append(fast, k)
	}
	s.resolver.SetDelay(slowResolve)
	s.resolver.SetFault(resolver.Slow)

	// Fast checks from a few workers until authgate stops answering.
	var (
		mu      sync.Mutex
		results []*result
		sigAt   atomic.Pointer[time.Time]
	)
	record := func(r *result) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	loadCtx, stopLoad := context.WithCancel(t.Context())
	defer stopLoad()
	var load sync.WaitGroup
	var seq atomic.Uint64
	for w := range 8 {
		load.Add(1)
		go func() {
			defer load.Done()
			tr := transports[w%2]
			for loadCtx.Err() == nil {
				p := pick(fast, seq.Add(1))
				r := &result{kind: p.kind, want: p.v.want, transport: tr, start: time.Now()}
				rctx, cancel := context.WithTimeout(loadCtx, 30*time.Second)
				r.got, r.err = c.send(rctx, tr, p)
				cancel()
				r.end = time.Now()
				record(r)
				if r.err != nil && sigAt.Load() != nil {
					return // authgate is gone, as it should be
				}
			}
		}()
	}
	time.Sleep(time.Second)

	// Slow checks: wait until each has reached the resolver, so that each is
	// certainly in flight inside authgate when the signal comes.
	before := s.resolver.Calls()
	var slow sync.WaitGroup
	slowResults := make([]*result, 8)
	for i := range slowResults {
		p := probe{kind: cookies[0], v: cookies[0].variants[i]}
		r := &result{kind: p.kind, want: p.v.want, transport: transports[i%2], start: time.Now()}
		slowResults[i] = r
		slow.Add(1)
		go func() {
			defer slow.Done()
			rctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			r.got, r.err = c.send(rctx, r.transport, p)
			cancel()
			r.end = time.Now()
		}()
	}
	deadline := time.Now().Add(waitTimeout)
	for s.resolver.Calls()-before < len(slowResults) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d slow checks reached the resolver within %s", s.resolver.Calls()-before, len(slowResults), waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// SIGTERM, then watch readiness and the listeners while the slow
	// checks drain.
	now := time.Now()
	sigAt.Store(&now)
	exited := make(chan error, 1)
	var took time.Duration
	go func() {
		var err error
		took, err = s.terminate(t, grace+10*time.Second)
		exited <- err
	}()
	slowDone := make(chan struct{})
	go func() { slow.Wait(); close(slowDone) }()
	var notReadyAt, grpcRefusedAt, httpRefusedAt time.Time
	drained := false
	for !drained {
		select {
		case <-slowDone:
			drained = true
			continue
		default:
		}
		if notReadyAt.IsZero() {
			if code, err := s.readyz(); err == nil && code == http.StatusServiceUnavailable {
				notReadyAt = time.Now()
			}
		}
		if httpRefusedAt.IsZero() && refused(s.httpAddr) {
			httpRefusedAt = time.Now()
		}
		if grpcRefusedAt.IsZero() && refused(s.grpcAddr) {
			grpcRefusedAt = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	drainedAt := time.Now()
	exitErr := <-exited
	stopLoad()
	load.Wait()

	sig := *sigAt.Load()
	t.Logf("SIGTERM at +0s; not ready at +%s, HTTP refusing at +%s, gRPC refusing at +%s, slow checks answered by +%s, exit after %s",
		since(sig, notReadyAt), since(sig, httpRefusedAt), since(sig, grpcRefusedAt), drainedAt.Sub(sig).Round(time.Millisecond), took.Round(time.Millisecond))

	for i, r := range slowResults {
		switch {
		case r.err != nil:
			t.Errorf("slow check %d over %s, in flight at SIGTERM, was cut: %v", i, r.transport, r.err)
		case r.got != r.want:
			t.Errorf("slow check %d over %s: got %v, want %v", i, r.transport, r.got, r.want)
		case !r.end.After(sig):
			t.Errorf("slow check %d over %s was answered before SIGTERM: the test did not hold it in flight", i, r.transport)
		}
	}
	if notReadyAt.IsZero() {
		t.Error("/readyz never answered 503 while checks drained")
	}
	if httpRefusedAt.IsZero() || grpcRefusedAt.IsZero() {
		t.Errorf("new connections still accepted while draining (HTTP refused: %t, gRPC refused: %t)", !httpRefusedAt.IsZero(), !grpcRefusedAt.IsZero())
	}
	if exitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0 within the %s grace period", exitErr, grace)
	}

	var answeredAfter, cut int
	for _, r := range results {
		switch {
		case r.err != nil && r.end.After(sig):
			cut++ // a new check after SIGTERM may find no listener: no answer is not an allow
		case r.err != nil:
			t.Errorf("%s over %s failed before SIGTERM: %v", r.kind.name, r.transport, r.err)
		case r.got != r.want:
			t.Errorf("%s over %s: got %v, want %v", r.kind.name, r.transport, r.got, r.want)
		case r.end.After(sig):
			answeredAfter++
		}
	}
	t.Logf("fast checks: %d in all, %d answered (rightly) after SIGTERM, %d found authgate gone", len(results), answeredAfter, cut)
}

// refused says whether a new TCP connection to addr is refused.
func refused(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func since(from, at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return fmt.Sprint(at.Sub(from).Round(time.Millisecond))
}
