package observability

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxLevelBody bounds what the level endpoint reads: a level is a few bytes.
const maxLevelBody = 1 << 10

// levelDoc is the JSON the level endpoint reads and writes.
type levelDoc struct {
	Level string `json:"level"`
}

// FormatLevel is the inverse of the --log-level syntax: "debug" for V(1),
// "info", "error", or the verbosity as a number from V(2) on.
func FormatLevel(l zapcore.Level) string {
	if l < zapcore.DebugLevel {
		return strconv.Itoa(-int(l))
	}
	return l.String()
}

// LevelHandler serves a logger's level at run time, for the ops port's
// /debug/loglevel: GET answers {"level":"info"}; PUT sets it from a JSON body
// ({"level":"2"}) or a form (level=debug), in the --log-level syntax.
// Setting needs PUT, not POST: a browser lured to a hostile page can send a
// cross-origin form POST without asking, but not a PUT. Every change is
// logged with the caller's address. The ops port has no authentication: it
// must never be reachable from outside the cluster (see docs/operations.md).
func LevelHandler(level zap.AtomicLevel, log logr.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPut:
			want, err := readLevel(r)
			if err != nil {
				writeLevelError(w, http.StatusBadRequest, err)
				return
			}
			lvl, err := parseLevel(want)
			if err != nil {
				writeLevelError(w, http.StatusBadRequest, err)
				return
			}
			old := level.Level()
			announce := func() {
				log.Info("log level changed", "from", FormatLevel(old), "to", FormatLevel(lvl), "remoteAddr", r.RemoteAddr)
			}
			// Announce under whichever of the two levels is more verbose,
			// so the line is written whichever way the level moves.
			if lvl > old {
				announce()
				level.SetLevel(lvl)
			} else {
				level.SetLevel(lvl)
				announce()
			}
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			writeLevelError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: GET shows the level, PUT sets it", r.Method))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(levelDoc{Level: FormatLevel(level.Level())})
	})
}

func readLevel(r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxLevelBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return "", fmt.Errorf("failed to read form: %w", err)
		}
		return r.PostForm.Get("level"), nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", fmt.Errorf("failed to read body: %w", err)
	}
	var doc levelDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf(`want {"level":"debug|info|error|0-10"} or the form level=...: %w`, err)
	}
	return doc.Level, nil
}

func writeLevelError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
