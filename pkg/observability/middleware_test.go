package observability

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInstrumentHTTP: requests counted by the code the client got and the
// method label promhttp would give, latency by method, nothing left in
// flight; unknown methods fold into "unknown".
func TestInstrumentHTTP(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	inFlight := -1.0
	h := m.InstrumentHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight = testutil.ToFloat64(m.HTTPInFlight)
		switch r.URL.Path {
		case "/allow":
			w.WriteHeader(http.StatusOK)
		case "/deny":
			w.WriteHeader(http.StatusUnauthorized)
			w.WriteHeader(http.StatusTeapot) // superfluous: the client got 401
		case "/body":
			_, _ = w.Write([]byte("ok")) // implicit 200
		case "/down":
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
		// nothing written at all: net/http sends 200
	}))
	requests := []struct{ method, path string }{
		{"GET", "/allow"}, {"GET", "/allow"}, {"GET", "/deny"}, {"HEAD", "/body"},
		{"POST", "/down"}, {"PROPFIND", "/allow"}, {"BREW", "/deny"}, {"GET", "/nothing"},
	}
	for _, r := range requests {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
		if inFlight != 1 {
			t.Fatalf("%s %s: in flight while answering = %v, want 1", r.method, r.path, inFlight)
		}
	}
	for _, tc := range []struct {
		code, method string
		want         float64
	}{
		{"200", "get", 3}, {"401", "get", 1}, {"200", "head", 1}, {"503", "post", 1},
		{"200", "unknown", 1}, {"401", "unknown", 1}, {"418", "get", 0},
	} {
		if got := testutil.ToFloat64(m.HTTPRequests.WithLabelValues(tc.code, tc.method)); got != tc.want {
			t.Errorf("requests{code=%s,method=%s} = %v, want %v", tc.code, tc.method, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.HTTPDuration); n != 4 {
		t.Errorf("%d duration series, want 4 (get, head, post, unknown)", n)
	}
	if got := testutil.ToFloat64(m.HTTPInFlight); got != 0 {
		t.Errorf("in flight after = %v", got)
	}
}
