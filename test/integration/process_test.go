package integration

// Child-process helpers: thin adapters over package testproc.

import (
	"testing"
	"time"

	"github.com/authgate/authgate/test/testproc"
)

// waitTimeout bounds every wait on a child process or on what it serves.
const waitTimeout = 10 * time.Second

// buildAuthgate builds cmd/authgate into a temporary folder of t.
func buildAuthgate(t *testing.T) string {
	t.Helper()
	path, err := testproc.BuildAuthgate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
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
