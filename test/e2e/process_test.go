package e2e

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/test/testproc"
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
		buildPath, buildErr = testproc.BuildAuthgate(binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// process is a child process (see package testproc).
type process = testproc.Process

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string { return testproc.FreeAddr(t) }

// waitUntil polls check, bounded by waitTimeout; it fails at once if p exits.
func waitUntil(t *testing.T, p *process, what string, check func() error) {
	t.Helper()
	testproc.WaitUntil(t, p, what, check)
}

// startProcess starts bin and kills it when the test ends.
func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	return testproc.Start(t, waitTimeout, name, nil, bin, args...)
}
