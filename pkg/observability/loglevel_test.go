package observability

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
)

// TestLevelHandlerChangesTheLoggerItServes: a PUT to the handler changes
// what the logger built alongside the level writes, both ways.
func TestLevelHandlerChangesTheLoggerItServes(t *testing.T) {
	var buf bytes.Buffer
	log, level, err := NewLoggerWithLevel(LogConfig{Level: "info", Output: &buf})
	if err != nil {
		t.Fatal(err)
	}
	h := LevelHandler(level, log)
	put := func(body, contentType string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPut, "/debug/loglevel", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	log.V(1).Info("decision before")
	if rec := put(url.Values{"level": {"debug"}}.Encode(), "application/x-www-form-urlencoded"); rec.Code != http.StatusOK {
		t.Fatalf("PUT form = %d %s", rec.Code, rec.Body)
	}
	log.V(1).Info("decision after")
	if rec := put(`{"level":"error"}`, "application/json"); rec.Code != http.StatusOK {
		t.Fatalf("PUT json = %d %s", rec.Code, rec.Body)
	}
	log.Info("info after error")

	out := buf.String()
	for _, want := range []string{"decision after", `"to":"debug"`, `"to":"error"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"decision before", "info after error"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log has %q although the level hid it:\n%s", unwanted, out)
		}
	}
}

func TestLevelHandlerRefusals(t *testing.T) {
	_, level, err := NewLoggerWithLevel(LogConfig{Level: "info", Output: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	h := LevelHandler(level, logr.Discard())
	tests := map[string]struct {
		method, body string
		want         int
	}{
		"post":          {method: http.MethodPost, body: `{"level":"debug"}`, want: http.StatusMethodNotAllowed},
		"delete":        {method: http.MethodDelete, want: http.StatusMethodNotAllowed},
		"unknown level": {method: http.MethodPut, body: `{"level":"warn"}`, want: http.StatusBadRequest},
		"not json":      {method: http.MethodPut, body: `debug`, want: http.StatusBadRequest},
		"too loud":      {method: http.MethodPut, body: `{"level":"11"}`, want: http.StatusBadRequest},
		"huge body":     {method: http.MethodPut, body: `{"level":"` + strings.Repeat("1", 4096) + `"}`, want: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, "/debug/loglevel", strings.NewReader(tc.body)))
			if rec.Code != tc.want {
				t.Fatalf("%s = %d %s, want %d", tc.method, rec.Code, rec.Body, tc.want)
			}
			if level.Level() != zapcore.InfoLevel {
				t.Fatalf("a refused request changed the level to %v", level.Level())
			}
		})
	}
}

func TestFormatLevelRoundTrips(t *testing.T) {
	for _, in := range []string{"debug", "info", "error", "2", "10"} {
		l, err := parseLevel(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatLevel(l); got != in {
			t.Errorf("FormatLevel(parseLevel(%q)) = %q", in, got)
		}
	}
}
