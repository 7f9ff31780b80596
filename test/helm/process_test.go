package helm

// Child-process helpers, adapted from test/integration's (a test package
// too, so they cannot be imported).

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

// waitTimeout bounds every wait on a child process or on what it serves.
const waitTimeout = 30 * time.Second

// buildAuthgate builds cmd/authgate into a temporary folder of t. `go test`
// puts its own go first on PATH, so this is the same toolchain.
func buildAuthgate(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/authgate/authgate/cmd/authgate").CombinedOutput()
	if err != nil {
		t.Fatalf("failed to build cmd/authgate: %v\n%s", err, out)
	}
	return path
}

// freeAddr returns a loopback address nothing listens on right now. authgate
// takes its addresses as flags, so the port is picked here and released;
// should another process take it first, the child fails to start and
// waitUntil reports the child's message.
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

// startProcess starts bin with extra environment variables and kills it
// when the test ends; on failure the test log gets the process's output.
func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
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

// stop kills the process and waits, bounded, for it to be gone.
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

// waitUntil polls check until it returns nil, for at most waitTimeout. It
// fails at once if p exits, with the child's output rather than a timeout.
func waitUntil(t *testing.T, p *process, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if gone := p.exited(); gone != nil {
			t.Fatalf("waiting for %s: %v", what, gone)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %s: %v", what, waitTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
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
