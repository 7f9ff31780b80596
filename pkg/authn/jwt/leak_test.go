package jwt_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started is still
// running at the end: a leak per request or per reload is what a long-running
// auth gateway cannot afford.
//
// One goroutine is let go: httprc's fetch loop (jwx's JWKS cache, v1.0.6,
// the last v1). When the cache's context ends, its refresh loop signals the
// fetch loop's sync.Cond without holding the lock, so a signal that lands
// between the fetch loop's check of the context and its Wait is lost, and
// that goroutine stays parked. It happens at shutdown only, once per cache
// (authgate makes one per server), and rarely: a test run under load saw it
// once in dozens. A cache that is never closed still fails the check: its
// refresh loop, which ends with the context, is not let go.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(httprcFetchLoop))
}

// httprcFetchLoop is the function of the goroutine described above.
const httprcFetchLoop = "github.com/lestrrat-go/httprc.(*queue).fetchLoop"
