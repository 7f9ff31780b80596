package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/authgate/authgate/pkg/controller"
	"github.com/authgate/authgate/pkg/server"
)

// TestAPIServerOutage stops the kube-apiserver under a running authgate:
// decisions go on from the last snapshot, readiness stays true and the
// controller keeps running. The test has a control plane of its own, so
// stopping it disturbs no other test.
//
// The reconnect half is not tested here: envtest's APIServer.Start can
// listen on the same port again, but it makes a new serving CA (and client
// CA) on every start, so no client configured before the restart can
// verify it; a reconnect would need a restart that keeps the certificates.
func TestAPIServerOutage(t *testing.T) {
	own := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// kube-apiserver drains its watches on SIGTERM; on a loaded machine
		// that takes longer than envtest's default 20s.
		ControlPlaneStopTimeout: 2 * time.Minute,
	}
	rc, err := own.Start()
	if err != nil {
		t.Fatalf("failed to start a second envtest: %v", err)
	}
	t.Cleanup(func() { _ = own.Stop() })
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := "outage"
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), open(ns, "before", []string{"before.example.com"}, "/")); err != nil {
		t.Fatal(err)
	}

	// authgate in Kubernetes mode, as runKubernetes assembles it.
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Log: logr.Discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// With leader election, and timings short enough that the outage below
	// outlasts the renew deadline: the leader loses its Lease, and must
	// keep serving (controller-runtime's own election would have ended the
	// process).
	logs := &lineLog{}
	mgr, err := controller.New(controller.Config{
		RestConfig: rc, Namespaces: []string{ns}, Apply: srv.Apply, Log: logs.logger(),
		LeaderElection: true, LeaderElectionNamespace: ns, LeaderElectionID: "outage",
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-mgrDone:
			_ = err // the manager's error on the way out is not this test's concern
		case <-time.After(10 * time.Second):
			t.Error("the manager did not stop within 10s")
		}
	})
	r := &replica{srv: srv}
	eventually(t, 10*time.Second, "the first snapshot", func() error {
		if d := r.decide("before.example.com", "/x"); !d.Allow {
			return fmt.Errorf("before.example.com: %s", d.Reason)
		}
		return nil
	})
	eventually(t, 20*time.Second, "leading", func() error {
		if !logs.has("leading: this replica writes status") {
			return fmt.Errorf("not leading yet")
		}
		return nil
	})

	// Decisions under load while the API server is down.
	var checks, wrong atomic.Int64
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	for range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				checks.Add(1)
				if d := r.decide("before.example.com", "/x"); !d.Allow {
					wrong.Add(1)
				}
				if d := r.decide("unknown.example.com", "/x"); d.Allow {
					wrong.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}

	if err := own.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatalf("failed to stop the API server: %v", err)
	}
	// Longer than the client-go watch and list retries' first backoffs, so
	// the informers see the outage, not a blip, and longer than the renew
	// deadline, so the leader loses its Lease.
	down := time.Now()
	for time.Since(down) < 8*time.Second {
		if !srv.Ready() {
			t.Fatal("not ready while the API server is down: the last snapshot is still good")
		}
		select {
		case err := <-mgrDone:
			t.Fatalf("the manager stopped while the API server was down: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !logs.has("lost the status-writer Lease") {
		t.Error("the leader did not notice it lost its Lease (the outage should outlast the renew deadline)")
	}
	during := checks.Load()
	close(stopLoad)
	load.Wait()
	if n := wrong.Load(); n != 0 {
		t.Errorf("%d of %d decisions changed while the API server was away", n, checks.Load())
	}
	t.Logf("%d decisions during the 8s outage, none wrong", during)
}

// lineLog keeps every message logged through it, for tests that wait for
// one.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{})
}

func (l *lineLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}
