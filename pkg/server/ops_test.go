package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func opsRequest(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	tests := map[string]struct {
		enable bool
		want   int
	}{
		"off by default": {enable: false, want: http.StatusNotFound},
		"enabled":        {enable: true, want: http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, cancel, done := newTestServer(t, Config{MetricsAddr: "127.0.0.1:0", EnablePprof: tc.enable})
			defer stop(t, cancel, done)
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
				code, body := opsRequest(t, http.MethodGet, "http://"+s.MetricsAddr()+path, "")
				if code != tc.want {
					t.Errorf("GET %s = %d, want %d", path, code, tc.want)
				}
				if tc.enable && path == "/debug/pprof/goroutine?debug=1" && !strings.Contains(body, "goroutine profile") {
					t.Errorf("GET %s is not a goroutine profile: %.80q", path, body)
				}
			}
		})
	}
}

func TestLogLevelEndpoint(t *testing.T) {
	t.Run("absent without a level", func(t *testing.T) {
		s, cancel, done := newTestServer(t, Config{MetricsAddr: "127.0.0.1:0"})
		defer stop(t, cancel, done)
		if code, _ := opsRequest(t, http.MethodGet, "http://"+s.MetricsAddr()+"/debug/loglevel", ""); code != http.StatusNotFound {
			t.Fatalf("GET /debug/loglevel = %d, want 404", code)
		}
	})

	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	s, cancel, done := newTestServer(t, Config{MetricsAddr: "127.0.0.1:0", LogLevel: &level})
	defer stop(t, cancel, done)
	url := "http://" + s.MetricsAddr() + "/debug/loglevel"
	steps := []struct {
		name, method, body string
		wantCode           int
		wantBody           string
		wantLevel          zapcore.Level
	}{
		{name: "show", method: http.MethodGet, wantCode: 200, wantBody: `{"level":"info"}`, wantLevel: zapcore.InfoLevel},
		{name: "set a verbosity", method: http.MethodPut, body: `{"level":"2"}`, wantCode: 200, wantBody: `{"level":"2"}`, wantLevel: -2},
		{name: "POST is refused", method: http.MethodPost, body: `{"level":"error"}`, wantCode: 405, wantLevel: -2},
		{name: "nonsense is refused", method: http.MethodPut, body: `{"level":"loud"}`, wantCode: 400, wantLevel: -2},
		{name: "set a name", method: http.MethodPut, body: `{"level":"error"}`, wantCode: 200, wantBody: `{"level":"error"}`, wantLevel: zapcore.ErrorLevel},
	}
	for _, st := range steps {
		code, body := opsRequest(t, st.method, url, st.body)
		if code != st.wantCode {
			t.Errorf("%s: %s = %d (%s), want %d", st.name, st.method, code, body, st.wantCode)
		}
		if st.wantBody != "" && strings.TrimSpace(body) != st.wantBody {
			t.Errorf("%s: body = %s, want %s", st.name, body, st.wantBody)
		}
		if got := level.Level(); got != st.wantLevel {
			t.Errorf("%s: level = %v, want %v", st.name, got, st.wantLevel)
		}
	}
}
