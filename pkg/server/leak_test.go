package server

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started is still
// running at the end: a leak per request or per reload is what a long-running
// auth gateway cannot afford. httprc's fetch loop is let go, as in
// pkg/authn/jwt's TestMain (an upstream lost wake-up at shutdown, once per
// JWKS cache, which the server's tests close; a cache left open still shows
// through its refresh loop).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/lestrrat-go/httprc.(*queue).fetchLoop"))
}
