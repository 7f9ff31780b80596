package extauthz

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started is still
// running at the end: a leak per request or per reload is what a long-running
// auth gateway cannot afford.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
