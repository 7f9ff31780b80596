package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests: readiness polls, process
// exits. Nothing here waits without a limit.
const waitTimeout = 10 * time.Second

// binDir holds the authgate binary for the whole run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authgate-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: failed to create a temp dir: %v\n", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// authgateBinary builds cmd/authgate once per run, on first use so a skipped
// run builds nothing. The tests start the binary users run, flags and all,
// rather than the server package in-process. `go test` puts its own go first
// on PATH, so this is the same toolchain.
func authgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		path := filepath.Join(binDir, "authgate")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/authgate/authgate/cmd/authgate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("failed to build cmd/authgate: %w\n%s", err, out)
			return
		}
		buildPath = path
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// freeAddr returns a loopback address nothing listens on right now. authgate
// and nginx need their ports on the command line, so the port is picked here
// and released; should another process take it first, the child fails to
// start and the test says so.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("failed to find a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("failed to release %s: %v", addr, err)
	}
	return addr
}

// process is a child process whose output is kept for the failure report.
type process struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{} // closed once the process has exited
	err  error         // Wait's result; read only after done
}

// startProcess starts bin and kills it when the test ends. On failure the
// test log gets the process's output, which is where nginx's and authgate's
// own reasons are.
func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// Wait also waits for the output to be copied; bound it in case a
	// grandchild kept the pipe open.
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("failed to start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// exited reports why the process is gone, or nil while it runs.
func (p *process) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return nil
	}
}

// stop kills the process (SIGKILL: nothing graceful is under test here) and
// waits for it to be gone. It is safe to call more than once.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if p.exited() != nil {
		return
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("failed to kill %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		t.Errorf("%s still running %s after SIGKILL", p.name, waitTimeout)
	}
}

// waitUntil polls check until it returns nil. It fails at once if p exits,
// so a child that rejects its configuration fails the test with the child's
// message instead of a timeout.
func waitUntil(t *testing.T, p *process, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if gone := p.exited(); gone != nil {
			t.Fatalf("waiting for %s: %v\n%s", what, gone, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: still not ready after %s: %v", what, waitTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that exec's copying goroutines and the test
// can use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
