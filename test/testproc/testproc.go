// Package testproc runs the programs end-to-end tests start as child
// processes — the built authgate binary, nginx — with bounded waits, free
// loopback ports, and their output kept for the failure report.
package testproc

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

// BuildAuthgate builds cmd/authgate into dir and returns its path. `go test`
// puts its own go first on PATH, so this is the same toolchain.
func BuildAuthgate(dir string) (string, error) {
	path := filepath.Join(dir, "authgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/authgate/authgate/cmd/authgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("failed to build cmd/authgate: %w\n%s", err, out)
	}
	return path, nil
}

// FreeAddr returns a loopback address nothing listens on right now. The
// programs take their addresses as flags, so the port is picked here and
// released; should another process take it first, the child fails to start
// and WaitUntil reports the child's message.
func FreeAddr(t testing.TB) string {
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

// Process is a child process whose output is kept for the failure report.
type Process struct {
	name    string
	cmd     *exec.Cmd
	out     syncBuffer
	done    chan struct{} // closed once the process has exited
	err     error         // Wait's result; read only after done
	timeout time.Duration
}

// Start starts bin with extra environment variables and kills it when the
// test ends; on failure the test log gets the process's output. timeout
// bounds every wait on the process.
func Start(t testing.TB, timeout time.Duration, name string, env []string, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{name: name, done: make(chan struct{}), timeout: timeout}
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
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// Output is what the process has written so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports why the process is gone, or nil while it runs.
func (p *Process) Exited() error {
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

// Pid is the process's id, for signals and /proc.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the process to exit, or for ctx to end, and returns its
// exit error (nil for exit status 0), or ctx's error if it still runs.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.name, ctx.Err())
	}
}

// Stop kills the process and waits, bounded, for it to be gone.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if p.Exited() != nil {
		return
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("failed to kill %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(p.timeout):
		t.Errorf("%s still running %s after SIGKILL", p.name, p.timeout)
	}
}

// WaitUntil polls check until it returns nil, for at most the process's
// timeout. It fails at once if p exits, with the child's output rather than
// a timeout.
func WaitUntil(t testing.TB, p *Process, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(p.timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if gone := p.Exited(); gone != nil {
			t.Fatalf("waiting for %s: %v", what, gone)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %s: %v", what, p.timeout, err)
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
